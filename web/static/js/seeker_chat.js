// The seeker's chat page, standalone at /chat or inside the widget's frame (/chat?embed=1).
//
// One chat per tab: the form starts it, the socket carries it (seeker_state.js says what each
// frame does, seeker_store.js keeps it across reloads), and after it the seeker may keep,
// rate or delete it (seeker_after.js). The protocol is in docs/protocol.md.

import { _, loadCatalogue } from "./i18n.js";
import { LiveSocket, newClientId, socketUrl } from "./live_socket.js";
import { answerSurvey, deleteConversation, downloadTranscript, errorText } from "./seeker_after.js";
import { EmbedLink, followRememberedLanguage, rememberLanguageChoices } from "./seeker_embed.js";
import { StartForm } from "./seeker_start.js";
import {
  PHASES,
  addPending,
  applyFrame,
  conversation,
  lastCounsellorSeq,
  newChat,
} from "./seeker_state.js";
import {
  clearChat,
  clearDraft,
  loadChat,
  loadDraft,
  saveChat,
  saveDraft,
  storageAvailable,
} from "./seeker_store.js";
import { Announcer, MessageList, expectedWaitText } from "./seeker_view.js";

const LOCALES = ["nb", "nn", "en"];
// Typing: say "typing" at most this often while keys are pressed, and "stopped" after this long
// without one. The counsellor's indicator is dropped if no word comes for TYPING_SHOWN_MS (a
// "stopped" lost with a dropped connection must not leave it on for ever).
const TYPING_REPEAT_MS = 3000;
const TYPING_IDLE_MS = 4000;
const TYPING_SHOWN_MS = 8000;
// A message the server could not take right now (rate limit, a hiccup) is tried again after this.
const RETRY_MS = 2000;

function byId(id) {
  return document.getElementById(id);
}

function show(node, shown) {
  node.hidden = !shown;
}

class SeekerPage {
  constructor(root, embedded) {
    this.root = root;
    this.embedded = embedded;
    this.chat = null;
    this.socket = null;
    this.connected = false;
    this.lostConnection = false;
    this.leaveWanted = false;
    this.typingOn = false;
    this.typingSentAt = 0;
    this.typingIdle = null;
    this.typingShown = null;
    this.unread = 0;
    this.views = {
      start: byId("start-view"),
      chat: byId("chat-view"),
      after: byId("after-view"),
      deleted: byId("deleted-view"),
    };
    this.announcer = new Announcer(byId("announcer"));
    this.list = new MessageList(byId("messages"), (seq) => this.shown(seq));
    this.input = byId("message-input");
    this.startForm = new StartForm((chatId, token, choices) => this.started(chatId, token, choices));
    this.embed = new EmbedLink({
      labels: {
        open: _("Chat with a counsellor"),
        close: _("Close the chat"),
        title: _("Chat with a counsellor"),
      },
      onPanel: (open, focus) => this.panelChanged(open, focus),
    });
    this.wire();
  }

  // ------------------------------------------------------------------ set-up

  wire() {
    byId("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendMessage();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.sendMessage();
      }
    });
    this.input.addEventListener("input", () => {
      this.typed();
      saveDraft({ ...loadDraft(), message: this.input.value });
    });
    this.input.addEventListener("blur", () => this.stopTyping());
    byId("leave-button").addEventListener("click", () => this.askToLeave(true));
    byId("leave-no").addEventListener("click", () => this.askToLeave(false));
    byId("leave-yes").addEventListener("click", () => this.leave());
    byId("download-text").addEventListener("click", (event) => this.download("text", event.currentTarget));
    byId("download-html").addEventListener("click", (event) => this.download("html", event.currentTarget));
    byId("survey").addEventListener("submit", (event) => {
      event.preventDefault();
      this.answerSurvey();
    });
    byId("delete-button").addEventListener("click", () => this.askToDelete(true));
    byId("delete-no").addEventListener("click", () => this.askToDelete(false));
    byId("delete-yes").addEventListener("click", () => this.deleteChat());
    byId("new-chat").addEventListener("click", () => this.newChat());
    byId("new-chat-after-delete").addEventListener("click", () => this.newChat());
    document.addEventListener("keydown", (event) => this.escape(event));
    document.addEventListener("visibilitychange", () => this.attentionReturned());
  }

  begin() {
    const note = byId("storage-note");
    if (note) note.hidden = storageAvailable();
    const stored = loadChat();
    if (stored) {
      this.chat = stored;
      this.showChat();
      // An ended chat connects too, once: whatever was written just before the end and never
      // reached this tab comes with the history, and the socket closes after it.
      this.connect();
    } else {
      this.showView("start");
      this.startForm.checkAvailability();
    }
  }

  // ------------------------------------------------------------------ views

  showView(name) {
    // While the conversation runs, it fills the page (the frame), and only the list scrolls.
    this.root.classList.toggle("seeker--live", name === "chat");
    this.root.classList.toggle("seeker--ended", name === "after");
    show(this.views.start, name === "start");
    show(this.views.chat, name === "chat" || name === "after");
    show(this.views.after, name === "after");
    show(this.views.deleted, name === "deleted");
  }

  showChat() {
    const draft = loadDraft();
    if (typeof draft.message === "string" && !this.input.value) this.input.value = draft.message;
    this.render();
    this.list.scrollToEnd();
  }

  focusForView() {
    if (!this.views.start.hidden) byId("county").focus();
    else if (!this.views.deleted.hidden) byId("deleted-heading").focus();
    else if (!this.views.after.hidden) byId("after-heading").focus();
    else if (!this.views.chat.hidden) this.input.focus();
  }

  render() {
    const chat = this.chat;
    if (!chat) return;
    const ended = chat.phase === PHASES.ENDED;
    this.showView(ended ? "after" : "chat");
    const heading = byId("chat-status-heading");
    const detail = byId("chat-status-detail");
    const note = byId("chat-note");
    if (chat.phase === PHASES.WAITING) {
      heading.textContent = _("You are in the queue");
      detail.textContent = chat.queue
        ? `${_("Your place in the queue: {position}.", { position: chat.queue.position })} ${expectedWaitText(chat.queue.expected_wait)}`
        : _("Waiting for a counsellor…");
    } else if (chat.phase === PHASES.CHATTING) {
      heading.textContent = chat.counsellor
        ? _("You are chatting with {name}", { name: chat.counsellor })
        : _("You are chatting with a counsellor");
      detail.textContent = "";
    } else {
      heading.textContent = _("Your conversation");
      detail.textContent = "";
    }
    const noteText = ended ? "" : (chat.notes || []).map((n) => this.noteText(n)).join(" ");
    note.textContent = noteText;
    show(note, Boolean(noteText));
    show(byId("composer"), !ended);
    show(byId("leave-button").parentElement, !ended);
    const waiting = chat.phase === PHASES.WAITING;
    byId("leave-button").textContent = waiting ? _("Leave the queue") : _("End the chat");
    byId("leave-question").textContent = waiting
      ? _("Leave the queue? You lose your place.")
      : _("End the chat now?");
    byId("leave-yes").textContent = waiting ? _("Yes, leave the queue") : _("Yes, end the chat");
    this.renderConnection();
    this.list.render(conversation(chat), this.connected);
    if (ended) this.renderAfter();
  }

  noteText(note) {
    if (!note) return "";
    if (note.kind === "overflowed") {
      return _("Your chat has moved to the national team, so that you get an answer sooner.");
    }
    if (note.kind === "requeued" && note.reason === "transfer") {
      return _("You are being transferred to another counsellor. Please wait a moment.");
    }
    if (note.kind === "requeued") {
      return _("The counsellor had to leave the chat. You keep your place, and the next free counsellor will answer.");
    }
    return "";
  }

  endText() {
    const ended = this.chat.ended || {};
    if (ended.reason === "disconnected") {
      return _("The connection was away too long, so your place in the queue was given up.");
    }
    if (ended.by === "counsellor") return _("The counsellor ended the chat.");
    if (ended.by === "seeker" && ended.reason === "left") return _("You left the queue.");
    if (ended.by === "seeker") return _("You ended the chat.");
    return "";
  }

  renderConnection() {
    const banner = byId("connection");
    const text =
      this.lostConnection && this.chat && this.chat.phase !== PHASES.ENDED
        ? _("The connection was lost. Reconnecting… Nothing you write is lost: it is sent when the connection is back.")
        : "";
    if (banner.textContent !== text) banner.textContent = text;
  }

  renderAfter() {
    byId("after-detail").textContent = this.endText();
    const survey = this.chat.survey;
    show(byId("survey"), survey === "open" && this.chat.answered);
    show(byId("survey-thanks"), survey === "done");
  }

  // ------------------------------------------------------------------ starting and the socket

  started(chatId, token, choices) {
    this.chat = newChat(chatId, token, choices);
    saveChat(this.chat);
    saveDraft({ ...loadDraft(), topic: "" });
    this.showChat();
    this.connect();
    this.input.focus();
    this.announcer.say(_("The chat has started. You are in the queue."));
  }

  connect() {
    const chat = this.chat;
    // A socket this page has stopped may still deliver a last message (stored, numbered, and so
    // safe to take); nothing else from it, nor its closing, concerns the page any more.
    let live = null;
    const current = () => live === null || live === this.socket;
    live = new LiveSocket(socketUrl("/ws/seeker"), {
      open: (socket) => socket.send("auth", { token: chat.token, last_seq: chat.last_seq }),
      frame: (frame) => {
        if (current() || frame.type === "message") this.heard(frame);
      },
      state: (name, detail) => {
        if (current()) this.socketState(name, detail);
      },
    });
    this.socket = live;
    // What was written before a reload and never stored goes again, under the same client id.
    for (const pending of chat.pending) {
      if (pending.seq === null && !pending.failed) {
        this.socket.sendReliably("message", { client_id: pending.client_id, text: pending.text });
      }
    }
  }

  socketState(name, detail) {
    const wasLost = this.lostConnection;
    this.connected = name === "open";
    if (name === "reconnecting") this.lostConnection = true;
    if (name === "open") {
      this.lostConnection = false;
      if (wasLost) this.announcer.say(_("Connected again."));
    }
    if (name === "closed") {
      this.lostConnection = false;
      this.socketClosed(detail);
      return;
    }
    if (this.chat) {
      this.renderConnection();
      this.list.render(conversation(this.chat), this.connected);
    }
  }

  socketClosed(code) {
    if (!this.chat || this.chat.phase === PHASES.ENDED) return;
    // 4401: the token opens nothing (deleted, or expired): this tab's chat is gone.
    if (code === 4401) {
      this.forgetChat();
      this.showView("start");
      this.startForm.showError(_("This conversation is no longer available."));
      this.startForm.checkAvailability();
      return;
    }
    byId("connection").textContent = _("The connection was closed. Reload the page to continue.");
  }

  heard(frame) {
    if (!this.chat || !this.socket) return;
    if (frame.type === "welcome") {
      this.socket.ready();
      if (this.leaveWanted) this.socket.send("leave");
    }
    const notices = applyFrame(this.chat, frame);
    saveChat(this.chat);
    for (const notice of notices) {
      this.noticed(notice);
      if (!this.chat) return; // deleted meanwhile
    }
    if (notices.some((n) => n.kind !== "typing" && n.kind !== "synced")) this.render();
    if (this.chat.phase !== PHASES.ENDED || !this.socket) return;
    if (notices.some((n) => n.kind === "synced")) {
      // The history up to the end is complete: nothing more will come.
      this.socket.stop();
      this.socket = null;
      this.connected = false;
    } else if (frame.type === "ended") {
      // "ended" may overtake a message sent just before it; a fresh connection's history has
      // every stored message, and stops after it.
      this.socket.stop();
      this.connect();
    }
  }

  noticed(notice) {
    const chat = this.chat;
    switch (notice.kind) {
      case "message": {
        const message = chat.messages.find((m) => m.seq === notice.seq);
        if (message && message.sender === "seeker" && message.client_id && this.socket) {
          // Stored, so never to be sent again (even if its ack was lost).
          this.socket.forget(message.client_id);
        }
        if (!message || message.sender === "seeker") break;
        this.showTyping(false);
        const name = message.name || _("Counsellor");
        this.announcer.say(`${name}: ${message.text ?? ""}`);
        if (!this.attentive()) {
          this.unread += 1;
          this.embed.setUnread(this.unread, _("New messages: {count}", { count: this.unread }));
        }
        break;
      }
      case "assigned":
        this.announcer.say(_("{name} has joined the chat.", { name: notice.name || _("A counsellor") }));
        break;
      case "queue":
        if (chat.queue && chat.queue.position !== this.lastPosition) {
          this.lastPosition = chat.queue.position;
          this.announcer.say(_("Your place in the queue: {position}.", { position: chat.queue.position }));
        }
        break;
      case "overflowed":
        this.announcer.say(this.noteText({ kind: "overflowed" }));
        break;
      case "requeued":
        this.lastPosition = null;
        this.announcer.say(this.noteText({ kind: "requeued", reason: notice.reason }));
        break;
      case "typing":
        this.showTyping(notice.active);
        break;
      case "retry":
        setTimeout(() => this.socket && this.socket.resend(notice.client_id), RETRY_MS);
        break;
      case "failed":
        if (this.socket) this.socket.forget(notice.client_id);
        break;
      case "stale":
        this.list.clear();
        if (this.socket) this.socket.drop(); // and resume from the start
        break;
      case "deleted":
        this.forgetChat();
        this.showView("deleted");
        this.announcer.say(_("The conversation is deleted."));
        break;
      case "ended":
        this.ended();
        break;
      default:
        break;
    }
  }

  ended() {
    this.stopTyping();
    this.showTyping(false);
    this.askToLeave(false, false);
    this.leaveWanted = false;
    this.render();
    this.announcer.say(_("The chat has ended."));
    byId("after-heading").focus();
  }

  // ------------------------------------------------------------------ writing

  sendMessage() {
    const text = this.input.value.trim();
    if (!text || !this.chat || this.chat.phase === PHASES.ENDED || !this.socket) return;
    const clientId = newClientId();
    addPending(this.chat, clientId, text, Date.now() / 1000);
    saveChat(this.chat);
    this.socket.sendReliably("message", { client_id: clientId, text });
    this.input.value = "";
    saveDraft({ ...loadDraft(), message: "" });
    this.stopTyping();
    this.render();
    this.list.scrollToEnd();
  }

  typed() {
    if (!this.socket || !this.chat || this.chat.phase !== PHASES.CHATTING) return;
    const now = Date.now();
    if (!this.typingOn || now - this.typingSentAt > TYPING_REPEAT_MS) {
      if (this.socket.send("typing", { active: true })) {
        this.typingOn = true;
        this.typingSentAt = now;
      }
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingIdle);
    if (this.typingOn && this.socket) this.socket.send("typing", { active: false });
    this.typingOn = false;
  }

  showTyping(active) {
    const line = byId("typing");
    clearTimeout(this.typingShown);
    if (active && this.chat && this.chat.phase === PHASES.CHATTING) {
      line.textContent = _("{name} is writing", { name: this.chat.counsellor || _("The counsellor") });
      line.hidden = false;
      this.typingShown = setTimeout(() => this.showTyping(false), TYPING_SHOWN_MS);
    } else {
      line.hidden = true;
    }
  }

  // ------------------------------------------------------------------ read marks and attention

  attentive() {
    return document.visibilityState === "visible" && this.embed.open;
  }

  shown(seq) {
    if (!this.attentive() || !this.chat || !this.socket) return;
    const upTo = Math.min(seq, lastCounsellorSeq(this.chat));
    if (upTo > this.chat.read_sent && this.socket.send("read", { seq: upTo })) {
      this.chat.read_sent = upTo;
      saveChat(this.chat);
    }
  }

  attentionReturned() {
    if (!this.attentive()) return;
    this.list.reveal();
    this.unread = 0;
    this.embed.setUnread(0, "");
    const seqs = this.list.visibleCounsellorSeqs();
    if (seqs.length) this.shown(Math.max(...seqs));
  }

  panelChanged(open, focus) {
    if (open) {
      this.attentionReturned();
      if (focus) this.focusForView();
    }
  }

  // ------------------------------------------------------------------ leaving

  askToLeave(asking, moveFocus = true) {
    show(byId("leave-confirm"), asking);
    show(byId("leave-button"), !asking);
    if (!moveFocus) return;
    if (asking) byId("leave-question").focus();
    else byId("leave-button").focus();
  }

  leave() {
    if (!this.chat) return;
    this.leaveWanted = true;
    if (this.socket) this.socket.send("leave"); // else sent on the next welcome
  }

  escape(event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    if (!byId("leave-confirm").hidden) {
      event.preventDefault();
      this.askToLeave(false);
    } else if (!byId("delete-confirm").hidden) {
      event.preventDefault();
      this.askToDelete(false);
    } else if (this.embedded) {
      event.preventDefault();
      this.stopTyping();
      this.embed.requestClose();
    }
  }

  // ------------------------------------------------------------------ after the chat

  async download(format, button) {
    const error = byId("download-error");
    error.hidden = true;
    button.disabled = true;
    const failed = await downloadTranscript(this.chat, format);
    button.disabled = false;
    if (failed) {
      error.textContent = errorText(failed);
      error.hidden = false;
    }
  }

  async answerSurvey() {
    const error = byId("survey-error");
    const chosen = document.querySelector("#survey input[name=score]:checked");
    if (!chosen) {
      error.textContent = _("Choose a rating from 1 to 5.");
      error.hidden = false;
      byId("score-1").focus();
      return;
    }
    error.hidden = true;
    const button = byId("survey-button");
    button.disabled = true;
    const failed = await answerSurvey(this.chat, Number(chosen.value), byId("survey-comment").value.trim());
    button.disabled = false;
    if (failed === "not_answered") {
      this.chat.survey = "none";
    } else if (failed) {
      error.textContent = errorText(failed);
      error.hidden = false;
      return;
    } else {
      this.chat.survey = "done";
    }
    saveChat(this.chat);
    this.renderAfter();
    if (this.chat.survey === "done") byId("survey-thanks").focus();
    else byId("after-heading").focus();
  }

  askToDelete(asking) {
    show(byId("delete-confirm"), asking);
    show(byId("delete-button"), !asking);
    if (asking) byId("delete-question").focus();
    else byId("delete-button").focus();
  }

  async deleteChat() {
    const error = byId("delete-error");
    error.hidden = true;
    const failed = await deleteConversation(this.chat);
    if (failed) {
      error.textContent = errorText(failed);
      error.hidden = false;
      return;
    }
    this.forgetChat();
    show(byId("delete-confirm"), false);
    show(byId("delete-button"), true);
    this.showView("deleted");
    this.announcer.say(_("The conversation is deleted."));
    byId("deleted-heading").focus();
  }

  forgetChat() {
    if (this.socket) this.socket.stop();
    this.socket = null;
    this.connected = false;
    this.chat = null;
    this.leaveWanted = false;
    this.lastPosition = null;
    clearChat();
    clearDraft();
    this.list.clear();
    this.input.value = "";
    byId("survey").reset();
    byId("connection").textContent = "";
  }

  newChat() {
    this.forgetChat();
    // Each chat is its own consent, and its own topic.
    byId("consent").checked = false;
    byId("topic").value = "";
    this.showView("start");
    this.startForm.checkAvailability();
    byId("county").focus();
  }
}

async function main() {
  const root = byId("seeker");
  const embedded = root.dataset.embed === "1";
  if (embedded && followRememberedLanguage(LOCALES)) return;
  await loadCatalogue(document.documentElement.lang);
  if (embedded) rememberLanguageChoices(document);
  new SeekerPage(root, embedded).begin();
}

main();
