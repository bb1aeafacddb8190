// The canned replies of a chat's message field: a list to filter by typing and pick from with the
// keyboard (Alt+Shift+R in the message field opens it, arrows move, Enter inserts, Escape closes).
// A reply is inserted into the field, never sent as it is: the counsellor reads it over first.

import { _ } from "./i18n.js";

let source = { state: "loading", replies: [] };
const listeners = new Set();

export async function loadReplies() {
  try {
    const response = await fetch("/api/v1/console/canned-replies", { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    source = { state: "ready", replies: (await response.json()).replies };
  } catch {
    source = { state: "failed", replies: [] };
  }
  listeners.forEach((listener) => listener());
}

export class RepliesPicker {
  // parts: { toggle, box, filter, list, status, textarea }; language: the chat's language.
  constructor(parts, language) {
    Object.assign(this, parts);
    this.language = language;
    this.toggle.addEventListener("click", () => (this.box.hidden ? this.open() : this.close()));
    this.filter.addEventListener("input", () => this.render());
    this.filter.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        this.buttons()[0]?.focus();
      } else if (event.key === "Enter") {
        // Enter in the filter takes the first match (and never sends the message form).
        event.preventDefault();
        this.buttons()[0]?.click();
      }
    });
    this.list.addEventListener("keydown", (event) => this.moveWithin(event));
    this.box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.close();
      }
    });
    this.rerender = () => this.render();
    listeners.add(this.rerender);
  }

  dispose() {
    listeners.delete(this.rerender);
  }

  open() {
    this.box.hidden = false;
    this.toggle.setAttribute("aria-expanded", "true");
    this.filter.value = "";
    this.render();
    this.filter.focus();
  }

  close() {
    if (this.box.hidden) return;
    this.box.hidden = true;
    this.toggle.setAttribute("aria-expanded", "false");
    this.textarea.focus();
  }

  buttons() {
    return Array.from(this.list.querySelectorAll("button"));
  }

  moveWithin(event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    event.preventDefault();
    const buttons = this.buttons();
    const at = buttons.indexOf(document.activeElement);
    if (event.key === "ArrowUp" && at <= 0) {
      this.filter.focus();
      return;
    }
    buttons[Math.min(buttons.length - 1, at + (event.key === "ArrowDown" ? 1 : -1))]?.focus();
  }

  // The chat's own language first; every reply when the centre keeps none in it.
  candidates() {
    const inLanguage = source.replies.filter((reply) => reply.language === this.language);
    return inLanguage.length ? inLanguage : source.replies;
  }

  render() {
    const wanted = this.filter.value.trim().toLocaleLowerCase();
    const shown = this.candidates().filter(
      (reply) =>
        !wanted ||
        reply.title.toLocaleLowerCase().includes(wanted) ||
        reply.body.toLocaleLowerCase().includes(wanted),
    );
    this.list.replaceChildren(
      ...shown.map((reply) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "reply";
        const title = document.createElement("strong");
        title.textContent = reply.title;
        const body = document.createElement("span");
        body.textContent = reply.body;
        button.append(title, body);
        button.addEventListener("click", () => this.insert(reply));
        item.append(button);
        return item;
      }),
    );
    if (source.state === "loading") this.status.textContent = _("Loading canned replies…");
    else if (source.state === "failed")
      this.status.textContent = _("The canned replies could not be loaded.");
    else if (!shown.length) this.status.textContent = _("No canned reply matches.");
    else this.status.textContent = _("Canned replies shown: {count}", { count: shown.length });
  }

  insert(reply) {
    const field = this.textarea;
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? field.value.length;
    field.setRangeText(reply.body, start, end, "end");
    field.dispatchEvent(new Event("input", { bubbles: true }));
    this.close();
  }
}
