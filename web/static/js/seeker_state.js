// The seeker's chat as data: what the server's frames do to it, with no DOM, socket or storage.
//
// A chat is a plain object, kept whole in sessionStorage (seeker_store.js), so a reload, a lost
// network or a resumed socket starts from exactly what this tab had. Messages are keyed by their
// sequence number, so one delivered twice (a resend, a resume that overlaps) is kept once; the
// seeker's own messages wait in `pending` under their client id until the server's copy comes
// back in the message stream.

export const PHASES = Object.freeze({ WAITING: "waiting", CHATTING: "chatting", ENDED: "ended" });

// The record's states (the `welcome` frame) as the seeker sees them.
const PHASE_OF_STATE = {
  waiting: PHASES.WAITING,
  offered: PHASES.WAITING,
  active: PHASES.CHATTING,
  ended: PHASES.ENDED,
  abandoned: PHASES.ENDED,
};

// Refusals of a message that a later try may get through; anything else fails the message.
const TRANSIENT_ERRORS = new Set(["rate_limited", "internal"]);

export function newChat(chatId, token, choices = {}) {
  return {
    chat_id: chatId,
    token,
    last_seq: 0,
    phase: PHASES.WAITING,
    messages: [],
    pending: [],
    delivered: 0,
    read: 0,
    read_sent: 0,
    counsellor: null,
    answered: false,
    overflowed: false,
    overflow_noted: false,
    queue: null,
    notes: [], // what the seeker is told about the wait: {kind: "overflowed" | "requeued", reason}
    ended: null,
    survey: "open",
    county: choices.county ?? null,
    language: choices.language ?? null,
  };
}

export function addPending(chat, clientId, text, at) {
  chat.pending.push({ client_id: clientId, text, at, seq: null, failed: null });
}

function storeMessage(chat, frame) {
  const known = chat.messages.some((m) => m.seq === frame.seq);
  if (known) return false;
  const message = {
    seq: frame.seq,
    sender: frame.sender,
    name: frame.name ?? null,
    text: frame.text ?? null,
    at: frame.at,
    client_id: frame.client_id ?? null,
  };
  chat.messages.push(message);
  chat.messages.sort((a, b) => a.seq - b.seq);
  if (message.sender === "seeker" && message.client_id) {
    chat.pending = chat.pending.filter((p) => p.client_id !== message.client_id);
  }
  chat.last_seq = Math.max(chat.last_seq, message.seq);
  return true;
}

// Apply one server frame; returns what happened that the page should tell the seeker, as a
// list of notices ({kind, ...}); an empty list when the frame changed nothing worth saying.
export function applyFrame(chat, frame) {
  const notices = [];
  switch (frame.type) {
    case "welcome": {
      if (typeof frame.last_seq === "number" && frame.last_seq < chat.last_seq) {
        // This tab holds messages the chat does not have: its copy belongs to something else.
        chat.messages = [];
        chat.last_seq = 0;
        notices.push({ kind: "stale" });
      }
      const phase = PHASE_OF_STATE[frame.state];
      if (phase === PHASES.ENDED && chat.phase !== PHASES.ENDED) {
        chat.phase = PHASES.ENDED;
        chat.ended = chat.ended || { by: "unknown", reason: frame.state };
        if (frame.state === "abandoned" && !chat.answered) chat.survey = "none";
        notices.push({ kind: "ended" });
      } else if (phase === PHASES.WAITING && chat.phase === PHASES.CHATTING) {
        // The chat went back to a queue while this tab was away.
        chat.phase = PHASES.WAITING;
        chat.counsellor = null;
        notices.push({ kind: "phase" });
      }
      break;
    }
    case "queue":
      chat.queue = {
        position: frame.position,
        national: Boolean(frame.national),
        expected_wait: frame.expected_wait ?? null,
      };
      if (frame.national) chat.overflowed = true;
      notices.push({ kind: "queue" });
      break;
    case "overflowed":
      // Said again after every reconnect while waiting; told to the seeker once.
      chat.overflowed = true;
      if (!chat.overflow_noted && chat.phase === PHASES.WAITING) {
        chat.overflow_noted = true;
        chat.notes = [...chat.notes.filter((n) => n.kind !== "overflowed"), { kind: "overflowed" }];
        notices.push({ kind: "overflowed" });
      }
      break;
    case "assigned": {
      const changed = chat.phase !== PHASES.CHATTING || chat.counsellor !== frame.counsellor;
      chat.phase = PHASES.CHATTING;
      chat.counsellor = frame.counsellor || null;
      chat.answered = true;
      chat.queue = null;
      chat.notes = [];
      if (changed) notices.push({ kind: "assigned", name: chat.counsellor });
      break;
    }
    case "requeued":
      chat.phase = PHASES.WAITING;
      chat.counsellor = null;
      chat.notes = [{ kind: "requeued", reason: frame.reason }];
      // Back in a queue, a move to the national team is news again.
      chat.overflow_noted = false;
      notices.push({ kind: "requeued", reason: frame.reason });
      break;
    case "message":
      if (storeMessage(chat, frame)) notices.push({ kind: "message", seq: frame.seq });
      break;
    case "ack": {
      const pending = chat.pending.find((p) => p.client_id === frame.client_id);
      if (pending && pending.seq !== frame.seq) {
        pending.seq = frame.seq;
        pending.failed = null;
        notices.push({ kind: "marks" });
      }
      break;
    }
    case "delivered":
      if (frame.seq > chat.delivered) {
        chat.delivered = frame.seq;
        notices.push({ kind: "marks" });
      }
      break;
    case "read":
      if (frame.seq > chat.read) {
        chat.read = frame.seq;
        chat.delivered = Math.max(chat.delivered, frame.seq);
        notices.push({ kind: "marks" });
      }
      break;
    case "typing":
      notices.push({ kind: "typing", active: Boolean(frame.active) });
      break;
    case "synced":
      notices.push({ kind: "synced" });
      break;
    case "chat_deleted":
      // Deleted from another tab: nothing of it may stay on this screen or in this tab.
      notices.push({ kind: "deleted" });
      break;
    case "ended":
      if (chat.phase === PHASES.ENDED && chat.ended && chat.ended.by === "unknown") {
        // Seen closed first (a reconnect's welcome); now it is known who ended it.
        chat.ended = { by: frame.by, reason: frame.reason };
        notices.push({ kind: "marks" });
      } else if (chat.phase !== PHASES.ENDED) {
        chat.phase = PHASES.ENDED;
        chat.ended = { by: frame.by, reason: frame.reason };
        chat.queue = null;
        chat.notes = [];
        if (!chat.answered) chat.survey = "none";
        notices.push({ kind: "ended" });
      }
      break;
    case "error": {
      const pending = frame.ref && chat.pending.find((p) => p.client_id === frame.ref);
      if (frame.code === "chat_closed" && chat.phase !== PHASES.ENDED) {
        // The chat closed while this tab was away and nobody said so: it is over.
        chat.phase = PHASES.ENDED;
        chat.ended = chat.ended || { by: "unknown", reason: "closed" };
        if (!chat.answered) chat.survey = "none";
        notices.push({ kind: "ended" });
      }
      if (pending) {
        if (TRANSIENT_ERRORS.has(frame.code)) {
          notices.push({ kind: "retry", client_id: pending.client_id });
        } else {
          pending.failed = frame.code;
          notices.push({ kind: "failed", client_id: pending.client_id });
        }
      }
      break;
    }
    default:
      break;
  }
  return notices;
}

// The conversation in order for display: stored messages by number, then the seeker's own
// messages still on their way. Each item says how far an own message has got.
export function conversation(chat) {
  const items = chat.messages.map((m) => ({
    key: m.sender === "seeker" && m.client_id ? `c:${m.client_id}` : `s:${m.seq}`,
    own: m.sender === "seeker",
    seq: m.seq,
    name: m.name,
    text: m.text,
    at: m.at,
    mark: m.sender === "seeker" ? markOf(chat, m.seq, null) : null,
  }));
  for (const p of chat.pending) {
    items.push({
      key: `c:${p.client_id}`,
      own: true,
      seq: p.seq,
      name: null,
      text: p.text,
      at: p.at,
      mark: markOf(chat, p.seq, p.failed),
    });
  }
  return items;
}

// "failed", "pending" (not yet stored), "sent" (stored), "delivered" (on the counsellor's
// screen), "read" (the counsellor read up to it).
export function markOf(chat, seq, failed) {
  if (failed) return "failed";
  if (seq === null || seq === undefined) return "pending";
  if (seq <= chat.read) return "read";
  if (seq <= chat.delivered) return "delivered";
  return "sent";
}

// The newest counsellor message, for read marks.
export function lastCounsellorSeq(chat) {
  for (let i = chat.messages.length - 1; i >= 0; i -= 1) {
    if (chat.messages[i].sender !== "seeker") return chat.messages[i].seq;
  }
  return 0;
}
