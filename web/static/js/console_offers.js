// Chats offered to the counsellor: what each is about, how long the seeker has waited, the time
// left to answer (counted against the server's clock), and accept and decline. A new offer is
// announced at once, beeps and shows in the page title (both can be turned off); ten seconds
// before the deadline it is announced again.

import { _ } from "./i18n.js";
import {
  chatLabel,
  countyName,
  duration,
  languageName,
  observeServerTime,
  serverNow,
} from "./console_format.js";

const LAST_CALL_SECONDS = 10;

export class OfferList {
  constructor(host, list, empty) {
    this.host = host;
    this.list = list;
    this.empty = empty;
    this.offers = new Map(); // chat id -> { frame, item, parts, warned, busy }
  }

  get size() {
    return this.offers.size;
  }

  // The oldest offer, for the keyboard shortcuts.
  first() {
    return this.offers.values().next().value;
  }

  add(frame) {
    observeServerTime(frame.relayed_at);
    this.remove(frame.chat_id, null);
    const item = document.createElement("li");
    item.className = "offer";
    const headingId = `offer-${frame.chat_id}`;
    item.setAttribute("aria-labelledby", headingId);
    const heading = document.createElement("h3");
    heading.id = headingId;
    heading.textContent = _("Chat offered: {chat}", { chat: chatLabel(frame) });
    const facts = document.createElement("dl");
    facts.className = "facts offer-facts";
    const waited = document.createElement("dd");
    const rows = [
      [_("County"), countyName(frame.county)],
      [_("Language"), languageName(frame.language)],
      [_("Topic"), frame.topic || _("None given")],
      [_("Waited"), waited],
    ];
    if (frame.overflowed) rows.push([_("Overflowed"), _("Yes, the national team may take it too")]);
    if (frame.transferred) rows.push([_("Transferred"), _("Yes, from a colleague")]);
    for (const [term, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = value instanceof Node ? value : document.createElement("dd");
      if (!(value instanceof Node)) dd.textContent = value;
      facts.append(dt, dd);
    }
    const countdown = document.createElement("p");
    countdown.className = "countdown";
    const actions = document.createElement("div");
    actions.className = "offer-actions";
    const accept = document.createElement("button");
    accept.type = "button";
    accept.className = "accept";
    accept.textContent = _("Accept");
    accept.setAttribute("aria-keyshortcuts", "Alt+Shift+A");
    const decline = document.createElement("button");
    decline.type = "button";
    decline.className = "decline secondary";
    decline.textContent = _("Decline");
    decline.setAttribute("aria-keyshortcuts", "Alt+Shift+D");
    accept.addEventListener("click", () => this.accept(frame.chat_id));
    decline.addEventListener("click", () => this.decline(frame.chat_id));
    actions.append(accept, decline);
    item.append(heading, facts, countdown, actions);
    this.list.append(item);
    const offer = { frame, item, waited, countdown, accept, decline, warned: false, busy: false };
    this.offers.set(frame.chat_id, offer);
    this.tick();
    this.changed();
    this.host.alerts.beep();
    this.host.alerts.urge(
      _(
        "New chat offered: {chat}. {seconds} seconds to answer. Alt+Shift+A accepts, Alt+Shift+D declines.",
        {
          chat: chatLabel(frame),
          seconds: Math.max(0, Math.round(frame.deadline - serverNow())),
        },
      ),
    );
  }

  // Every second: the seeker's wait and the time left.
  tick() {
    const now = serverNow();
    for (const offer of this.offers.values()) {
      offer.waited.textContent = duration(now - offer.frame.waiting_since);
      const left = Math.max(0, Math.ceil(offer.frame.deadline - now));
      offer.countdown.textContent =
        left > 0
          ? _("Answer within {seconds} s", { seconds: left })
          : _("The time to answer is up.");
      offer.item.classList.toggle("urgent", left <= LAST_CALL_SECONDS);
      if (left <= LAST_CALL_SECONDS && left > 0 && !offer.warned) {
        offer.warned = true;
        this.host.alerts.urge(
          _("{seconds} seconds left to answer the chat {chat}.", {
            seconds: left,
            chat: chatLabel(offer.frame),
          }),
        );
      }
      if (left === 0) this.setBusy(offer, true);
    }
  }

  accept(chatId) {
    const offer = this.offers.get(chatId);
    if (!offer || offer.busy || !this.host.socket.send("accept", { chat_id: chatId })) return;
    this.host.accepting.add(chatId);
    this.setBusy(offer, true);
    offer.countdown.textContent = _("Accepting…");
  }

  decline(chatId) {
    const offer = this.offers.get(chatId);
    if (!offer || offer.busy || !this.host.socket.send("decline", { chat_id: chatId })) return;
    this.setBusy(offer, true);
    offer.countdown.textContent = _("Declining…");
  }

  setBusy(offer, busy) {
    offer.busy = busy;
    offer.accept.disabled = busy || !this.host.connected;
    offer.decline.disabled = busy || !this.host.connected;
  }

  setConnected() {
    for (const offer of this.offers.values()) this.setBusy(offer, offer.busy);
  }

  // reason: the server's (declined, timed_out, seeker_left, ...), "accepted", or null (replaced).
  remove(chatId, reason) {
    const offer = this.offers.get(chatId);
    if (!offer) return;
    const focus = document.activeElement;
    const hadFocus = !focus || focus === document.body || offer.item.contains(focus);
    offer.item.remove();
    this.offers.delete(chatId);
    this.changed();
    if (reason && reason !== "accepted") {
      this.host.alerts.say(withdrawnText(reason, chatLabel(offer.frame)));
    }
    if (hadFocus) this.host.focusAfterOffer();
  }

  clear() {
    for (const chatId of [...this.offers.keys()]) this.remove(chatId, null);
  }

  changed() {
    this.empty.hidden = this.offers.size > 0;
    this.host.updateTitle();
  }
}

function withdrawnText(reason, chat) {
  switch (reason) {
    case "declined":
      return _("You declined the chat {chat}.", { chat });
    case "timed_out":
      return _("The offer of the chat {chat} timed out.", { chat });
    case "seeker_left":
      return _("The seeker of the chat {chat} left the queue.", { chat });
    case "expired":
      return _("The offer of the chat {chat} is no longer open.", { chat });
    default:
      return _("The offer of the chat {chat} was withdrawn.", { chat });
  }
}
