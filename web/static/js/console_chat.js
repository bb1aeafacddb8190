// One chat in the console: the conversation, the seeker's typing, read and delivered marks, the
// message field with its canned replies, internal notes, transfer, end and the wrap-up.
//
// Nothing is lost and nothing shown twice: messages are kept by sequence number (a resume or a
// resend that brings one again changes nothing), notes by id, and what the counsellor writes is
// shown at once as "sending" under its client id until the server's ack gives it its number.
// Every text from the seeker or a colleague is inserted as text, never as HTML.

import { _ } from "./i18n.js";
import { chatLabel, clockTime, countyName, isoTime, languageName } from "./console_format.js";
import { RepliesPicker } from "./console_replies.js";

// Our "typing" stops this long after the last key; a seeker's fades after SEEKER_TYPING_MS
// without news, in case their "stopped" was lost with a dropped connection.
const TYPING_IDLE_MS = 4000;
const SEEKER_TYPING_MS = 15000;
// The wrap-up's topics, as the server accepts them (chat/frames.py).
const MAX_TOPICS = 10;
const MAX_TOPIC_CHARS = 60;
const MAX_TEXT_CHARS = 4000;
// Refusals worth sending again after a pause: the message is fine, the moment was not.
const RETRY_CODES = new Set(["rate_limited", "internal"]);
const RETRY_MS = 2000;

let counter = 0;

export class ChatView {
  // host: the console (socket, alerts, who "I" am, layout, colleagues); info: the chat's fields
  // from hello, offer or chat_assigned; state: "active" or "wrap_up".
  constructor(host, info, state) {
    this.host = host;
    this.id = info.chat_id;
    this.info = info;
    this.state = state;
    this.lastSeq = 0; // the highest number of a message frame received: what `resume` names
    this.messages = new Map(); // seq -> <li>
    this.pending = new Map(); // client id -> <li> of a message not yet acknowledged
    this.notes = new Map(); // note id -> <li>
    this.pendingNotes = new Map(); // client id -> <li>
    this.deliveredUpTo = 0;
    this.readUpTo = 0;
    this.readSent = 0;
    this.unread = 0;
    this.synced = false; // false until the server said the history is complete
    this.resumed = false; // a resume after a reconnect is catching up
    this.missed = 0; // the seeker's messages that came in that catch-up
    this.isDeleted = false;
    this.inFlight = null; // "transfer", "end" or "wrap_up" while waiting for the server
    this.typingSent = false;
    this.build();
    this.setState(state, { announce: false });
  }

  // ------------------------------------------------------------------ building

  build() {
    counter += 1;
    const base = `chat-${counter}`;
    const template = document.getElementById("chat-template");
    const panel = template.content.firstElementChild.cloneNode(true);
    // The template's ids are local; make them unique to this chat and wire labels to them.
    panel.querySelectorAll("[data-id]").forEach((el) => (el.id = `${base}-${el.dataset.id}`));
    for (const [data, attribute] of [
      ["for", "for"],
      ["labelledby", "aria-labelledby"],
      ["describedby", "aria-describedby"],
      ["controls", "aria-controls"],
    ]) {
      panel.querySelectorAll(`[data-${data}]`).forEach((el) => {
        const ids = el.dataset[data].split(" ").map((id) => `${base}-${id}`);
        el.setAttribute(attribute, ids.join(" "));
      });
    }
    panel.querySelectorAll("[data-name]").forEach((el) => (el.name = `${base}-${el.dataset.name}`));
    panel.id = base;
    panel.dataset.chatId = this.id;
    this.base = base;
    this.panel = panel;
    const part = (name) => panel.querySelector(`#${base}-${name}`);
    this.parts = new Proxy({}, { get: (_target, name) => part(name) });
    const p = this.parts;
    this.titleId = `${base}-title`;

    p.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendMessage();
    });
    p.text.addEventListener("keydown", (event) => this.onComposerKey(event));
    p.text.addEventListener("input", () => this.typing());
    p["note-form"].addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendNote();
    });
    p["transfer-form"].addEventListener("submit", (event) => {
      event.preventDefault();
      this.transfer();
    });
    p["transfer-refresh"].addEventListener("click", () => this.host.refreshDirectory());
    p["end-button"].addEventListener("click", () => this.askToEnd());
    p["end-no"].addEventListener("click", () => this.cancelEnd());
    p["end-yes"].addEventListener("click", () => this.end());
    p["wrap-up"].addEventListener("submit", (event) => {
      event.preventDefault();
      this.wrapUp();
    });
    this.picker = new RepliesPicker(
      {
        toggle: p["replies-toggle"],
        box: p.replies,
        filter: p["replies-filter"],
        list: p["replies-list"],
        status: p["replies-status"],
        textarea: p.text,
      },
      this.info.language,
    );
    this.relabel();
    this.updateTargets();
  }

  // The heading and facts, again whenever the county names arrive or change.
  relabel() {
    const p = this.parts;
    this.label = this.host.uniqueLabel(this, chatLabel(this.info));
    p.title.textContent = this.label;
    const facts = [
      _("County: {county}", { county: countyName(this.info.county) }),
      _("Language: {language}", { language: languageName(this.info.language) }),
      this.info.topic ? _("Topic: {topic}", { topic: this.info.topic }) : _("No topic given"),
    ];
    if (this.info.waiting_since) {
      facts.push(_("Came in at {time}", { time: clockTime(this.info.waiting_since) }));
    }
    if (this.info.overflowed) facts.push(_("Overflowed to the national team"));
    if (this.info.transferred) facts.push(_("Transferred to you"));
    p.facts.replaceChildren(
      ...facts.map((fact) => {
        const item = document.createElement("li");
        item.textContent = fact;
        return item;
      }),
    );
    p.log.setAttribute("aria-label", _("Conversation: {chat}", { chat: this.label }));
    this.host.layout.relabel(this);
  }

  dispose() {
    this.picker.dispose();
    window.clearTimeout(this.typingTimer);
    window.clearTimeout(this.seekerTypingTimer);
    for (const clientId of [...this.pending.keys(), ...this.pendingNotes.keys()]) {
      this.host.socket.forget(clientId);
    }
  }

  // ------------------------------------------------------------------ state

  setState(state, { announce = true, by = null, focus = false } = {}) {
    const p = this.parts;
    this.state = state;
    const active = state === "active";
    p.composer.hidden = !active;
    p["note-form"].hidden = !active;
    p.tools.hidden = !active;
    p["wrap-up"].hidden = active;
    this.panel.dataset.state = state;
    if (active) {
      p["state-line"].textContent = "";
      p["state-line"].hidden = true;
    } else {
      p["state-line"].hidden = false;
      p["state-line"].textContent = this.isDeleted
        ? _("The seeker deleted the conversation. Write the wrap-up to close the chat.")
        : by === "seeker"
          ? _("The seeker ended the chat. Write the wrap-up to close it.")
          : _("The chat has ended. Write the wrap-up to close it.");
      this.seekerTyping(false);
      this.stopTyping();
      this.picker.close();
      if (announce) {
        this.host.alerts.say(
          by === "seeker"
            ? _("The seeker ended the chat {chat}.", { chat: this.label })
            : _("The chat {chat} has ended.", { chat: this.label }),
        );
      }
      if (focus) p["category-heading"].focus();
    }
    this.host.layout.relabel(this);
    this.host.updateLoad();
  }

  ended(by) {
    const mine = this.inFlight === "end";
    this.inFlight = null;
    this.setState("wrap_up", { by, focus: mine || this.panel.contains(document.activeElement) });
    this.setConnected(this.host.connected);
  }

  // The connection dropped and came back: the server sends again what follows lastSeq, and
  // what was waiting for its answer may never get one.
  resuming() {
    this.synced = false;
    this.resumed = true; // what comes before synced was missed while away: say how much
    this.missed = 0;
    if (this.inFlight) this.settle();
  }

  // The seeker deleted the conversation: its words go from this screen too. The chat still
  // gets its wrap-up (without a free-text note, which the server drops).
  deleted() {
    this.isDeleted = true;
    for (const clientId of [...this.pending.keys(), ...this.pendingNotes.keys()]) {
      this.host.socket.forget(clientId);
    }
    this.pending.clear();
    this.pendingNotes.clear();
    this.messages.clear();
    this.notes.clear();
    this.parts.messages.replaceChildren();
    this.parts.notes.replaceChildren();
    this.parts["notes-empty"].hidden = false;
    this.parts["state-line"].hidden = false;
    this.parts["state-line"].textContent = _(
      "The seeker deleted the conversation. Write the wrap-up to close the chat.",
    );
    this.parts["wrap-note"].disabled = true;
    this.host.alerts.say(_("The seeker deleted the conversation {chat}.", { chat: this.label }));
  }

  setConnected(connected) {
    const p = this.parts;
    for (const button of [p["transfer-submit"], p["end-button"], p["end-yes"], p["wrap-submit"]]) {
      button.disabled = !connected || Boolean(this.inFlight);
    }
  }

  settle(problem = "") {
    const p = this.parts;
    const what = this.inFlight;
    this.inFlight = null;
    p["transfer-status"].textContent = what === "transfer" ? problem : "";
    p["wrap-error"].textContent = what === "wrap_up" ? problem : "";
    if (what === "end" && problem) this.host.alerts.say(problem);
    p["wrap-submit"].textContent = _("Save the wrap-up and close the chat");
    this.setConnected(this.host.connected);
  }

  // ------------------------------------------------------------------ messages

  renderMessage(item, frame, own) {
    item.className = `message ${own ? "mine" : frame.sender === "seeker" ? "seeker" : "colleague"}`;
    const meta = document.createElement("p");
    meta.className = "meta";
    const who = document.createElement("span");
    who.className = "who";
    if (own) who.textContent = _("You");
    else if (frame.sender === "seeker") who.textContent = _("Seeker");
    else who.textContent = frame.name || _("Counsellor");
    const time = document.createElement("time");
    const mark = document.createElement("span");
    mark.className = "mark";
    meta.append(who, " ", time, " ", mark);
    const text = document.createElement("p");
    text.className = "text";
    if (frame.text === null) {
      text.textContent = _("This message has been removed.");
      text.classList.add("removed");
    } else {
      text.textContent = frame.text;
    }
    item.replaceChildren(meta, text);
    this.stamp(item, frame.at);
  }

  stamp(item, at) {
    const time = item.querySelector("time");
    if (typeof at === "number") {
      time.dateTime = isoTime(at);
      time.textContent = clockTime(at);
    }
  }

  // Messages stay in number order; those still sending stay last.
  place(item, seq) {
    const list = this.parts.messages;
    const after = Array.from(list.children).find(
      (other) => !other.dataset.seq || Number(other.dataset.seq) > seq,
    );
    list.insertBefore(item, after || null);
  }

  onMessage(frame) {
    this.lastSeq = Math.max(this.lastSeq, frame.seq);
    if (this.messages.has(frame.seq)) return; // a resume or resend brought it again
    const own =
      frame.sender === "counsellor" &&
      (this.host.sentByMe.has(frame.client_id) || frame.name === this.host.myName);
    const waiting = own && frame.client_id ? this.pending.get(frame.client_id) : null;
    const item = waiting || document.createElement("li");
    if (waiting) this.pending.delete(frame.client_id);
    // Stored, whatever became of its ack: never send it again.
    if (own && frame.client_id) this.host.socket.forget(frame.client_id);
    this.renderMessage(item, frame, own);
    item.dataset.seq = String(frame.seq);
    this.messages.set(frame.seq, item);
    const stick = this.atBottom();
    this.place(item, frame.seq);
    if (own) this.markOwn(item);
    if (stick) this.scrollDown();
    if (frame.sender === "seeker") {
      this.seekerTyping(false);
      if (!this.host.isShown(this)) this.unread += 1;
      if (!this.synced && this.resumed) this.missed += 1;
      if (this.synced) {
        const text = frame.text === null ? "" : frame.text.slice(0, 300);
        this.host.alerts.say(_("New message in {chat}: {text}", { chat: this.label, text }));
        this.host.messageArrived(this);
      }
      this.host.layout.relabel(this);
      this.host.maybeRead(this);
    }
  }

  onAck(frame) {
    if (frame.note_id !== undefined) {
      this.noteAcknowledged(frame);
      return;
    }
    const item = this.pending.get(frame.client_id);
    if (!item) return;
    this.pending.delete(frame.client_id);
    if (this.messages.has(frame.seq)) {
      item.remove(); // its echo came first
      return;
    }
    item.dataset.seq = String(frame.seq);
    item.classList.remove("pending");
    this.messages.set(frame.seq, item);
    this.stamp(item, frame.at);
    this.place(item, frame.seq);
    this.markOwn(item);
  }

  onDelivered(seq) {
    this.deliveredUpTo = Math.max(this.deliveredUpTo, seq);
    this.markAllOwn();
  }

  onRead(seq) {
    this.readUpTo = Math.max(this.readUpTo, seq);
    this.deliveredUpTo = Math.max(this.deliveredUpTo, seq);
    this.markAllOwn();
  }

  markAllOwn() {
    this.parts.messages.querySelectorAll("li.mine[data-seq]").forEach((item) => this.markOwn(item));
  }

  markOwn(item) {
    const seq = Number(item.dataset.seq);
    const mark = item.querySelector(".mark");
    if (seq <= this.readUpTo) mark.textContent = _("Read");
    else if (seq <= this.deliveredUpTo) mark.textContent = _("Delivered");
    else mark.textContent = _("Sent");
    item.dataset.mark =
      seq <= this.readUpTo ? "read" : seq <= this.deliveredUpTo ? "delivered" : "sent";
  }

  onSynced() {
    this.synced = true;
    if (this.missed) {
      this.host.alerts.say(
        _("New messages in {chat}: {count}", { chat: this.label, count: this.missed }),
      );
    }
    this.resumed = false;
    this.missed = 0;
    this.host.maybeRead(this);
  }

  // What the counsellor has seen: everything up to the last message shown.
  markRead() {
    this.unread = 0;
    this.host.layout.relabel(this);
    if (
      this.lastSeq > this.readSent &&
      this.host.socket.send("read", { chat_id: this.id, seq: this.lastSeq })
    ) {
      this.readSent = this.lastSeq;
    }
  }

  atBottom() {
    const log = this.parts.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }

  scrollDown() {
    const log = this.parts.log;
    log.scrollTop = log.scrollHeight;
  }

  // ------------------------------------------------------------------ writing

  onComposerKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.sendMessage();
    } else if (event.altKey && event.shiftKey && event.code === "KeyR") {
      event.preventDefault();
      this.picker.open();
    }
  }

  sendMessage() {
    const field = this.parts.text;
    const text = field.value;
    if (!text.trim() || this.state !== "active") return;
    if (text.length > MAX_TEXT_CHARS) {
      this.parts["composer-error"].textContent = _("The message is too long.");
      return;
    }
    this.parts["composer-error"].textContent = "";
    const clientId = this.host.socket.sendReliably("message", { chat_id: this.id, text });
    this.host.sentByMe.add(clientId);
    const item = document.createElement("li");
    this.renderMessage(item, { sender: "counsellor", text, at: Date.now() / 1000 }, true);
    item.classList.add("pending");
    item.dataset.mark = "sending";
    item.querySelector(".mark").textContent = _("Sending…");
    this.pending.set(clientId, item);
    this.parts.messages.append(item);
    this.scrollDown();
    field.value = "";
    this.stopTyping();
  }

  typing() {
    if (this.state !== "active") return;
    if (!this.typingSent) {
      this.typingSent = this.host.socket.send("typing", { chat_id: this.id, active: true });
    }
    window.clearTimeout(this.typingTimer);
    this.typingTimer = window.setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    window.clearTimeout(this.typingTimer);
    if (this.typingSent) {
      this.typingSent = false;
      this.host.socket.send("typing", { chat_id: this.id, active: false });
    }
  }

  seekerTyping(active) {
    window.clearTimeout(this.seekerTypingTimer);
    this.parts.typing.hidden = !active;
    if (active) {
      this.seekerTypingTimer = window.setTimeout(() => this.seekerTyping(false), SEEKER_TYPING_MS);
    }
  }

  // ------------------------------------------------------------------ notes

  sendNote() {
    const field = this.parts["note-text"];
    const text = field.value;
    if (!text.trim() || this.state !== "active") return;
    if (text.length > MAX_TEXT_CHARS) {
      this.parts["note-error"].textContent = _("The note is too long.");
      return;
    }
    this.parts["note-error"].textContent = "";
    const clientId = this.host.socket.sendReliably("note", { chat_id: this.id, text });
    this.host.sentByMe.add(clientId);
    const item = this.renderNote({ author: this.host.myName, text, at: Date.now() / 1000 });
    item.classList.add("pending");
    item.querySelector(".mark").textContent = _("Saving…");
    this.pendingNotes.set(clientId, item);
    this.parts.notes.append(item);
    field.value = "";
    this.parts["notes-empty"].hidden = true;
  }

  renderNote(note, item = document.createElement("li")) {
    item.className = "note";
    const meta = document.createElement("p");
    meta.className = "meta";
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = note.author || _("Counsellor");
    const time = document.createElement("time");
    const mark = document.createElement("span");
    mark.className = "mark";
    meta.append(who, " ", time, " ", mark);
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = note.text === null ? _("This note has been removed.") : note.text;
    item.replaceChildren(meta, text);
    this.stamp(item, note.at);
    return item;
  }

  onNote(frame) {
    if (this.notes.has(frame.id)) return; // sent again whole with every catch-up
    const waiting = frame.client_id ? this.pendingNotes.get(frame.client_id) : null;
    if (waiting) this.pendingNotes.delete(frame.client_id);
    if (frame.client_id && this.host.sentByMe.has(frame.client_id)) {
      this.host.socket.forget(frame.client_id);
    }
    const item = this.renderNote(frame, waiting || undefined);
    item.dataset.noteId = String(frame.id);
    this.notes.set(frame.id, item);
    if (!waiting) this.parts.notes.append(item);
    this.parts["notes-empty"].hidden = true;
  }

  noteAcknowledged(frame) {
    const item = this.pendingNotes.get(frame.client_id);
    if (!item) return;
    this.pendingNotes.delete(frame.client_id);
    if (this.notes.has(frame.note_id)) {
      item.remove();
      return;
    }
    item.classList.remove("pending");
    item.dataset.noteId = String(frame.note_id);
    item.querySelector(".mark").textContent = "";
    this.stamp(item, frame.at);
    this.notes.set(frame.note_id, item);
  }

  // A refused message or note: tried again when the moment was wrong, else shown as not sent.
  refused(clientId, code, text) {
    const item = this.pending.get(clientId) || this.pendingNotes.get(clientId);
    if (!item) return false;
    if (RETRY_CODES.has(code)) {
      window.setTimeout(() => this.host.socket.resend(clientId), RETRY_MS);
      return true;
    }
    this.pending.delete(clientId);
    this.pendingNotes.delete(clientId);
    this.host.socket.forget(clientId);
    item.classList.remove("pending");
    item.classList.add("failed");
    item.dataset.mark = "failed";
    item.querySelector(".mark").textContent = _("Not sent: {reason}", { reason: text });
    return true;
  }

  // ------------------------------------------------------------------ transfer, end, wrap-up

  updateTargets() {
    const select = this.parts["transfer-target"];
    const chosen = select.value;
    const { colleagues, queues } = this.host.directory;
    const first = document.createElement("option");
    first.value = "";
    first.textContent = _("Choose where to transfer the chat");
    const people = document.createElement("optgroup");
    people.label = _("Colleagues who speak {language}", {
      language: languageName(this.info.language),
    });
    const speakers = colleagues.filter((c) => c.languages.includes(this.info.language));
    speakers
      .slice()
      .sort((a, b) => Number(b.takes_transfers) - Number(a.takes_transfers))
      .forEach((colleague) => {
        const option = document.createElement("option");
        option.value = `counsellor:${colleague.id}`;
        option.disabled = !colleague.takes_transfers;
        option.textContent = colleagueText(colleague);
        option.dataset.name = colleague.name;
        people.append(option);
      });
    if (!speakers.length) {
      const none = document.createElement("option");
      none.disabled = true;
      none.textContent = _("No colleague speaks the chat's language");
      people.append(none);
    }
    const places = document.createElement("optgroup");
    places.label = _("Queues");
    queues.forEach((queue) => {
      const option = document.createElement("option");
      option.value = `queue:${queue.queue}`;
      option.textContent =
        queue.queue === "national"
          ? _("National queue")
          : _("Queue of {centre}", { centre: queue.name });
      option.dataset.name = option.textContent;
      places.append(option);
    });
    select.replaceChildren(first, people, places);
    if (Array.from(select.options).some((o) => o.value === chosen && !o.disabled))
      select.value = chosen;
  }

  transfer() {
    const p = this.parts;
    const [kind, target] = p["transfer-target"].value.split(/:(.*)/s);
    if (!target) {
      p["transfer-status"].textContent = _("Choose a colleague or a queue first.");
      p["transfer-target"].focus();
      return;
    }
    const fields = kind === "counsellor" ? { counsellor_id: target } : { queue: target };
    if (!this.host.socket.send("transfer", { chat_id: this.id, ...fields })) return;
    this.inFlight = "transfer";
    this.transferredTo = p["transfer-target"].selectedOptions[0].dataset.name;
    p["transfer-status"].textContent = _("Transferring…");
    this.setConnected(this.host.connected);
  }

  askToEnd() {
    const p = this.parts;
    p["end-button"].hidden = true;
    p["end-confirm"].hidden = false;
    p["end-yes"].focus();
  }

  cancelEnd() {
    const p = this.parts;
    p["end-confirm"].hidden = true;
    p["end-button"].hidden = false;
    p["end-button"].focus();
  }

  end() {
    if (!this.host.socket.send("end", { chat_id: this.id })) return;
    this.inFlight = "end";
    this.parts["end-confirm"].hidden = true;
    this.parts["end-button"].hidden = false;
    this.setConnected(this.host.connected);
  }

  wrapUp() {
    const p = this.parts;
    const category = p["wrap-up"].querySelector("input[type=radio]:checked");
    p["wrap-error"].textContent = "";
    p["category-fieldset"].removeAttribute("aria-invalid");
    p.topics.removeAttribute("aria-invalid");
    if (!category) {
      p["wrap-error"].textContent = _("Choose a category.");
      p["wrap-up"].querySelector("input[type=radio]").focus();
      return;
    }
    const topics = [
      ...new Set(
        p.topics.value
          .split(/[,;\n]/)
          .map((t) => t.trim())
          .filter(Boolean),
      ),
    ];
    if (topics.length > MAX_TOPICS || topics.some((t) => t.length > MAX_TOPIC_CHARS)) {
      p["wrap-error"].textContent = _(
        "Give at most {count} topics of up to {chars} characters each.",
        {
          count: MAX_TOPICS,
          chars: MAX_TOPIC_CHARS,
        },
      );
      p.topics.setAttribute("aria-invalid", "true");
      p.topics.focus();
      return;
    }
    const sent = this.host.socket.send("wrap_up", {
      chat_id: this.id,
      category: category.value,
      topics,
      note: this.isDeleted ? "" : p["wrap-note"].value,
    });
    if (!sent) return;
    if (this.isDeleted) {
      // This socket no longer follows a deleted chat, so no chat_closed comes back; should the
      // wrap-up fail, the chat is in the next hello again.
      this.host.removeChat(this.id, "closed");
      return;
    }
    this.inFlight = "wrap_up";
    p["wrap-submit"].textContent = _("Saving…");
    this.setConnected(this.host.connected);
  }

  // The first thing to go to with Alt+Shift+number: the message field, or the wrap-up.
  focusMain() {
    if (this.state === "active") this.parts.text.focus();
    else this.parts["category-heading"].focus();
  }
}

function colleagueText(colleague) {
  const name = colleague.name;
  if (colleague.takes_transfers)
    return _("{name}: available, room for {free}", { name, free: colleague.free });
  if (colleague.status === "available") return _("{name}: available, no room now", { name });
  if (colleague.status === "away") return _("{name}: away", { name });
  return _("{name}: offline", { name });
}
