// The counsellor console: status and capacity, the queue served, offers, and every chat held.
//
// One console socket (live_socket.js) carries it all; the protocol is in docs/protocol.md (5, 6).
// On every (re)connection the server says hello with the counsellor's routing state and chats;
// the console closes the chats hello does not name and answers `resume` with the last message
// number it shows of each chat, so the server sends only what follows; then what was written
// while the connection was down is sent again from the outbox (the server stores a resend once).
// Routing news (an offer, a chat assigned) may come before hello and is kept.

import { _, loadCatalogue } from "./i18n.js";
import { LiveSocket, socketUrl } from "./live_socket.js";
import { Alerts } from "./console_alerts.js";
import { ChatView } from "./console_chat.js";
import { duration, queueName, serverNow, setQueueNames } from "./console_format.js";
import { ChatLayout } from "./console_layout.js";
import { OfferList } from "./console_offers.js";
import { loadReplies } from "./console_replies.js";

const TICK_MS = 1000;

class Console {
  constructor(root) {
    this.root = root;
    this.myName = root.dataset.userName;
    this.chats = new Map(); // chat id -> ChatView
    this.sentByMe = new Set(); // client ids of what this page sent
    this.accepting = new Set(); // chats this page accepted: their panel takes the focus
    this.assignedHere = new Set(); // chats assigned on this connection, perhaps before hello
    this.connected = false;
    this.status = null;
    this.capacity = Number(root.dataset.capacity) || null;
    this.directory = { colleagues: [], queues: [] };
    this.queueSummary = null;
    const $ = (id) => document.getElementById(id);
    this.el = {
      connection: $("connection"),
      signIn: $("sign-in-again"),
      statusRadios: Array.from(document.querySelectorAll("input[name=status]")),
      statusNote: $("status-note"),
      load: $("load"),
      autoAccept: $("auto-accept"),
      problem: $("problem"),
      queueTable: $("queue-table"),
      queueRows: $("queue-rows"),
      queueEmpty: $("queue-empty"),
      chatsHeading: $("chats-heading"),
    };
    this.alerts = new Alerts({
      polite: $("announcer"),
      assertive: $("alerter"),
      soundBox: $("alert-sound"),
      titleBox: $("alert-title"),
    });
    this.offers = new OfferList(this, $("offers"), $("no-offers"));
    this.layout = new ChatLayout(
      { tabs: $("chat-tabs"), panels: $("chat-panels"), empty: $("no-chats") },
      (view) => this.maybeRead(view),
    );
  }

  async start() {
    this.el.statusRadios.forEach((radio) =>
      radio.addEventListener("change", () => this.chooseStatus(radio.value)),
    );
    this.el.autoAccept.addEventListener("change", () => {
      if (!this.socket.send("auto_accept", { enabled: this.el.autoAccept.checked })) {
        this.el.autoAccept.checked = !this.el.autoAccept.checked;
      }
    });
    document.addEventListener("keydown", (event) => this.onShortcut(event));
    document.addEventListener("visibilitychange", () => {
      this.chats.forEach((view) => this.maybeRead(view));
      this.updateTitle();
    });
    window.addEventListener("focus", () => this.chats.forEach((view) => this.maybeRead(view)));
    window.addEventListener("beforeunload", (event) => {
      // Reloading would lose what the server has not acknowledged yet: ask first.
      if (this.socket && this.socket.outbox.size) event.preventDefault();
    });
    await this.refreshDirectory();
    loadReplies();
    this.socket = new LiveSocket(socketUrl("/ws/counsellor"), {
      open: () => this.onOpen(),
      frame: (frame) => this.onFrame(frame),
      state: (name, detail) => this.onConnection(name, detail),
    });
    window.setInterval(() => this.tick(), TICK_MS);
  }

  // ------------------------------------------------------------------ connection

  onConnection(name, code) {
    const box = this.el.connection;
    box.dataset.state = name;
    this.el.signIn.hidden = true;
    if (name === "open") {
      box.textContent = _("Connected.");
    } else if (name === "connecting") {
      box.textContent = _("Connecting…");
    } else if (name === "reconnecting") {
      box.textContent = _(
        "The connection was lost. Reconnecting… What you write is sent when it is back.",
      );
    } else if (code === 4401 || code === 4410) {
      box.textContent = _("Your session has ended. Please sign in again.");
      this.el.signIn.hidden = false;
    } else if (code === 4403) {
      box.textContent = _("This account cannot use the console.");
    } else {
      box.textContent = _("The console was disconnected. Reload the page to connect again.");
    }
    this.setConnected(name === "open");
  }

  // A new connection: offers made to the last one were withdrawn when it dropped; what comes
  // from here on (even before hello) belongs to this one.
  onOpen() {
    this.offers.clear();
    this.assignedHere.clear();
  }

  setConnected(connected) {
    this.connected = connected;
    this.el.statusRadios.forEach((radio) => (radio.disabled = !connected));
    this.el.autoAccept.disabled = !connected;
    this.offers.setConnected();
    this.chats.forEach((view) => view.setConnected(connected));
  }

  // ------------------------------------------------------------------ frames

  onFrame(frame) {
    const view = frame.chat_id ? this.chats.get(frame.chat_id) : undefined;
    switch (frame.type) {
      case "hello":
        this.onHello(frame);
        break;
      case "status":
        this.showStatus(frame.status, frame.reason);
        break;
      case "capacity":
        this.capacity = frame.capacity;
        this.updateLoad();
        break;
      case "offer":
        this.offers.add(frame);
        break;
      case "offer_withdrawn":
        this.offers.remove(frame.chat_id, frame.reason);
        break;
      case "chat_assigned":
        this.onAssigned(frame);
        break;
      case "chat_removed":
        this.removeChat(frame.chat_id, frame.reason);
        break;
      case "chat_ended":
        view?.ended(frame.by);
        break;
      case "chat_closed":
        this.removeChat(frame.chat_id, "closed");
        break;
      case "chat_deleted":
        view?.deleted();
        break;
      case "message":
        view?.onMessage(frame);
        break;
      case "note":
        view?.onNote(frame);
        break;
      case "ack":
        view?.onAck(frame);
        break;
      case "typing":
        view?.seekerTyping(Boolean(frame.active));
        break;
      case "delivered":
        view?.onDelivered(frame.seq);
        break;
      case "read":
        view?.onRead(frame.seq);
        break;
      case "synced":
        view?.onSynced();
        break;
      case "queue_summary":
        this.queueSummary = frame.queues;
        this.renderQueue();
        break;
      case "error":
        this.onError(frame);
        break;
      default:
        break; // a newer server's frame this page does not know yet
    }
  }

  onHello(frame) {
    this.showStatus(frame.status, null);
    if (typeof frame.capacity === "number") this.capacity = frame.capacity;
    this.el.autoAccept.checked = Boolean(frame.auto_accept);
    this.el.problem.textContent = "";
    const named = new Set((frame.chats || []).map((info) => info.chat_id));
    for (const view of [...this.chats.values()]) {
      // Handed back, transferred or wrapped up elsewhere while this console was away.
      if (!named.has(view.id) && !this.assignedHere.has(view.id))
        this.removeChat(view.id, "not_yours");
    }
    for (const info of frame.chats || []) {
      const view = this.chats.get(info.chat_id);
      if (!view) this.addChat(info, info.state);
      else if (info.state === "wrap_up" && view.state !== "wrap_up") view.ended(null);
    }
    const lastSeqs = {};
    for (const view of this.chats.values()) {
      // A chat assigned on this connection is caught up by itself; the server sends it nothing
      // again for the resume, so it is not waiting for another `synced`.
      if (!this.assignedHere.has(view.id)) view.resuming();
      lastSeqs[view.id] = view.lastSeq;
    }
    // Chats named here that are no longer ours come back as chat_removed.
    this.socket.send("resume", { last_seqs: lastSeqs });
    this.socket.ready();
    this.updateLoad();
  }

  onAssigned(frame) {
    this.offers.remove(frame.chat_id, "accepted");
    this.assignedHere.add(frame.chat_id);
    const mine = this.accepting.delete(frame.chat_id);
    let view = this.chats.get(frame.chat_id);
    if (!view) view = this.addChat(frame, "active");
    this.alerts.say(
      frame.auto_accepted
        ? _("The chat {chat} was accepted for you and is open.", { chat: view.label })
        : _("The chat {chat} is open.", { chat: view.label }),
    );
    if (mine) {
      this.layout.select(view);
      view.focusMain();
    }
  }

  addChat(info, state) {
    const view = new ChatView(this, info, state);
    this.chats.set(view.id, view);
    this.layout.add(view);
    view.setConnected(this.connected);
    this.updateLoad();
    return view;
  }

  // Two chats from the same county in the same language are told apart by a number.
  uniqueLabel(view, label) {
    const taken = new Set([...this.chats.values()].filter((v) => v !== view).map((v) => v.label));
    let candidate = label;
    for (let number = 2; taken.has(candidate); number += 1) {
      candidate = _("{chat} ({number})", { chat: label, number });
    }
    return candidate;
  }

  removeChat(chatId, reason) {
    const view = this.chats.get(chatId);
    if (!view) return;
    // A button disabled while waiting for the server drops the focus to the body.
    const focus = document.activeElement;
    const hadFocus = !focus || focus === document.body || view.panel.contains(focus);
    const label = view.label;
    const to = view.transferredTo;
    view.dispose();
    this.chats.delete(chatId);
    this.layout.remove(view);
    this.updateLoad();
    if (reason === "closed") this.alerts.say(_("The chat {chat} is closed.", { chat: label }));
    else if (reason === "transfer" && to) {
      this.alerts.say(
        _("The chat {chat} was transferred to {target}.", { chat: label, target: to }),
      );
    } else if (reason === "transfer")
      this.alerts.say(_("The chat {chat} was transferred.", { chat: label }));
    else this.alerts.say(_("The chat {chat} is no longer yours.", { chat: label }));
    if (hadFocus) {
      const next = this.layout.selected;
      if (next) next.focusMain();
      else this.el.chatsHeading.focus();
    }
  }

  onError(frame) {
    const text = errorText(frame.code);
    const ref = frame.ref;
    for (const view of this.chats.values()) {
      if (ref && view.refused(ref, frame.code, text)) return;
    }
    // A resend of a message whose echo already came back: it was stored; nothing to say.
    if (ref && this.sentByMe.has(ref)) return;
    if (ref && this.offers.offers.has(ref)) {
      this.accepting.delete(ref);
      this.offers.remove(ref, "expired");
      return;
    }
    const view = ref ? this.chats.get(ref) : undefined;
    if (view) {
      if (view.inFlight) {
        const closed = frame.code === "conflict" || frame.code === "not_your_chat";
        if (view.inFlight === "wrap_up" && closed) this.removeChat(view.id, "closed");
        else view.settle(text);
      }
      return; // a typing or read signal about a chat that just changed hands: nothing to say
    }
    this.el.problem.textContent = text;
  }

  // ------------------------------------------------------------------ status, load, queue

  chooseStatus(status) {
    if (!this.socket.send("status", { status })) this.showStatus(this.status, null);
  }

  showStatus(status, reason) {
    this.status = status;
    this.el.statusRadios.forEach((radio) => (radio.checked = radio.value === status));
    const notes = {
      available: _("You get offers while you have room."),
      away: _("You get no new offers. Your chats stay open."),
      offline: _("You are offline. Choose Available to get offers."),
    };
    this.el.statusNote.textContent = notes[status] || notes.offline;
    if (reason === "offer_timed_out") {
      this.alerts.say(_("An offer timed out, so your status is now Away."));
    } else if (reason === "requested" && status) {
      this.alerts.say(
        status === "available" ? _("Your status is Available.") : _("Your status is Away."),
      );
    }
  }

  updateLoad() {
    const active = [...this.chats.values()].filter((view) => view.state === "active").length;
    this.el.load.textContent =
      this.capacity === null
        ? String(active)
        : _("{active} of {capacity}", { active, capacity: this.capacity });
  }

  renderQueue() {
    const queues = this.queueSummary || [];
    this.el.queueEmpty.hidden = queues.length > 0;
    this.el.queueTable.hidden = queues.length === 0;
    const now = serverNow();
    this.el.queueRows.replaceChildren(
      ...queues.map((queue) => {
        const row = document.createElement("tr");
        const name = document.createElement("th");
        name.scope = "row";
        name.textContent = queueName(queue.queue);
        const waiting = document.createElement("td");
        waiting.textContent = String(queue.waiting);
        const oldest = document.createElement("td");
        oldest.textContent =
          typeof queue.oldest_since === "number"
            ? duration(now - queue.oldest_since)
            : _("Nobody waits");
        row.append(name, waiting, oldest);
        return row;
      }),
    );
  }

  // ------------------------------------------------------------------ colleagues and queues

  async refreshDirectory() {
    try {
      const response = await fetch("/api/v1/console/colleagues", { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      this.directory = await response.json();
      setQueueNames(this.directory.queues);
    } catch {
      this.el.problem.textContent = _("The list of colleagues could not be loaded.");
      return;
    }
    this.chats.forEach((view) => {
      view.updateTargets();
      view.relabel();
    });
    this.renderQueue();
  }

  // ------------------------------------------------------------------ reading, titles, keys

  maybeRead(view) {
    if (document.visibilityState === "visible" && view.synced && this.layout.isShown(view)) {
      view.markRead();
    }
    this.updateTitle();
  }

  isShown(view) {
    return this.layout.isShown(view) && document.visibilityState === "visible";
  }

  messageArrived() {
    this.updateTitle();
  }

  updateTitle() {
    const offers = this.offers.size;
    const unread = [...this.chats.values()].reduce((sum, view) => sum + view.unread, 0);
    if (offers) this.alerts.setTitle(_("({count}) New chat offered", { count: offers }));
    else if (unread && document.visibilityState !== "visible") {
      this.alerts.setTitle(_("({count}) New messages", { count: unread }));
    } else this.alerts.setTitle(null);
  }

  focusAfterOffer() {
    const next = this.offers.first();
    if (next) next.accept.focus();
    else document.getElementById("offers-heading").focus();
  }

  tick() {
    this.offers.tick();
    if (this.queueSummary) this.renderQueue();
  }

  onShortcut(event) {
    if (!event.altKey || !event.shiftKey || event.ctrlKey || event.metaKey) return;
    const offer = this.offers.first();
    if (event.code === "KeyA" && offer) {
      event.preventDefault();
      this.offers.accept(offer.frame.chat_id);
    } else if (event.code === "KeyD" && offer) {
      event.preventDefault();
      this.offers.decline(offer.frame.chat_id);
    } else if (/^Digit[1-9]$/.test(event.code)) {
      const view = this.layout.views[Number(event.code.slice(5)) - 1];
      if (!view) return;
      event.preventDefault();
      this.layout.select(view);
      view.focusMain();
    }
  }
}

function errorText(code) {
  const texts = {
    rate_limited: _("Too much at once; trying again shortly."),
    internal: _("The server could not do that now; trying again shortly."),
    offer_expired: _("The offer is no longer open."),
    no_offer: _("The offer is no longer open."),
    offer_not_yours: _("The offer is no longer open."),
    already_accepted: _("The chat is already accepted."),
    not_your_chat: _("The chat is no longer yours."),
    chat_closed: _("The chat has ended."),
    text_too_long: _("The message is too long."),
    target_unavailable: _("That colleague cannot take chats right now."),
    target_full: _("That colleague has no room for another chat."),
    target_ineligible: _("That colleague does not speak the language of the chat."),
    transfer_to_self: _("The chat is already yours."),
    conflict: _("The wrap-up was saved already."),
    not_ended: _("End the chat before the wrap-up."),
  };
  return texts[code] || _("That did not work ({code}).", { code });
}

async function main() {
  const root = document.getElementById("console");
  if (!root) return;
  await loadCatalogue();
  await new Console(root).start();
}

main();
