// The seeker's conversation on screen. Every text from the server or the seeker is put in with
// textContent, never as HTML. The list is kept in step with the chat by key, so an update
// changes the items that changed and a message shown once is never shown twice.

import { _, locale } from "./i18n.js";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function formatTime(epochSeconds) {
  return new Intl.DateTimeFormat([locale(), "nb"], { hour: "2-digit", minute: "2-digit" }).format(
    new Date(epochSeconds * 1000),
  );
}

export function markText(mark, connected) {
  switch (mark) {
    case "failed":
      return _("Not sent");
    case "pending":
      return connected ? _("Sending…") : _("Not sent yet: it goes when the connection is back");
    case "read":
      return _("Read");
    case "delivered":
      return _("Delivered");
    default:
      return _("Sent");
  }
}

export function expectedWaitText(seconds) {
  if (seconds === null || seconds === undefined) return _("We cannot say how long the wait will be yet.");
  if (seconds < 60) return _("Expected wait: less than a minute.");
  return _("Expected wait: about {minutes} min.", { minutes: Math.round(seconds / 60) });
}

export class MessageList {
  // onShown(seq) is told when a counsellor message is in view (for read marks).
  constructor(list, onShown) {
    this.list = list;
    this.nodes = new Map();
    // Whether the seeker follows the newest message (scrolled to the end). Kept from the last
    // time the list had a size: a list hidden with the widget's panel has none.
    this.pinned = true;
    list.addEventListener("scroll", () => {
      if (list.clientHeight > 0) this.pinned = this.atBottom();
    });
    // Any part of a message in view counts: a long message in a small panel may never be
    // half in view.
    this.observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          if (entry.isIntersecting) onShown(Number(entry.target.dataset.seq));
        }
      },
      { root: list, threshold: 0 },
    );
  }

  atBottom() {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
  }

  // After the list was hidden (the panel closed): back to the newest message if following.
  reveal() {
    if (this.pinned) this.scrollToEnd();
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
    this.pinned = true;
  }

  // items: seeker_state.conversation(chat).
  render(items, connected) {
    const follow = this.list.clientHeight > 0 ? this.atBottom() : this.pinned;
    const keep = new Set();
    let previous = null;
    for (const item of items) {
      keep.add(item.key);
      let node = this.nodes.get(item.key);
      if (!node) {
        node = this.create(item);
        this.nodes.set(item.key, node);
      }
      this.update(node, item, connected);
      const expected = previous ? previous.nextSibling : this.list.firstChild;
      if (node !== expected) this.list.insertBefore(node, expected);
      previous = node;
    }
    for (const [key, node] of this.nodes) {
      if (!keep.has(key)) {
        this.observer.unobserve(node);
        node.remove();
        this.nodes.delete(key);
      }
    }
    if (follow) this.scrollToEnd();
  }

  create(item) {
    const node = element("li", item.own ? "message message--own" : "message");
    const meta = element("p", "message-meta");
    const sender = element("span", "message-sender", item.own ? _("You") : item.name || _("Counsellor"));
    const time = element("time", "message-time");
    meta.append(sender, time);
    const text = element("p", "message-text");
    node.append(meta, text);
    if (item.own) node.append(element("p", "message-mark"));
    return node;
  }

  update(node, item, connected) {
    if (item.seq) node.dataset.seq = String(item.seq);
    const text = node.querySelector(".message-text");
    const shown = item.text === null ? _("(deleted)") : item.text;
    if (text.textContent !== shown) text.textContent = shown;
    const time = node.querySelector("time");
    if (item.at && time.dateTime !== new Date(item.at * 1000).toISOString()) {
      time.dateTime = new Date(item.at * 1000).toISOString();
      time.textContent = formatTime(item.at);
    }
    if (item.own) {
      const mark = node.querySelector(".message-mark");
      const label = markText(item.mark, connected);
      if (mark.textContent !== label) mark.textContent = label;
      mark.className = `message-mark message-mark--${item.mark}`;
      node.dataset.mark = item.mark;
    } else if (item.seq && !node.dataset.observed) {
      node.dataset.observed = "1";
      this.observer.observe(node);
    }
  }

  // Counsellor messages that are in view now (for a read mark sent when attention returns).
  visibleCounsellorSeqs() {
    const box = this.list.getBoundingClientRect();
    const seqs = [];
    for (const node of this.nodes.values()) {
      if (node.classList.contains("message--own") || !node.dataset.seq) continue;
      const rect = node.getBoundingClientRect();
      if (rect.bottom > box.top && rect.top < box.bottom && rect.height > 0) seqs.push(Number(node.dataset.seq));
    }
    return seqs;
  }

  clear() {
    for (const node of this.nodes.values()) this.observer.unobserve(node);
    this.nodes.clear();
    this.list.replaceChildren();
  }
}

// Screen readers hear what is added here; old lines are pruned so the region stays small.
export class Announcer {
  constructor(region) {
    this.region = region;
  }

  say(text) {
    const line = element("p", "", text);
    this.region.append(line);
    while (this.region.childElementCount > 3) this.region.firstElementChild.remove();
  }
}
