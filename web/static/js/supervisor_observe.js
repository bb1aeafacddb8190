// Chats a supervisor observes: read-only panels fed by the same `message`, `note` and `synced`
// frames a console gets (docs/protocol.md, 7). Text is only ever set as text, never as markup.

import { _ } from "./i18n.js";
import { clockTime, languageName } from "./console_format.js";

export class ObservedChats {
  constructor(root, stop) {
    this.root = root;
    this.stop = stop;
    this.panels = new Map(); // chat id -> { section, log, seqs, notes }
  }

  has(chatId) {
    return this.panels.has(chatId);
  }

  open(chatId, info) {
    if (this.panels.has(chatId)) return;
    const section = document.createElement("section");
    section.className = "panel observed";
    const heading = document.createElement("h2");
    heading.id = `observed-${chatId}`;
    heading.tabIndex = -1;
    heading.textContent = _("Observing a chat: {language}, answered by {counsellor}", {
      language: languageName(info.language) || "–",
      counsellor: info.counsellor || "–",
    });
    section.setAttribute("aria-labelledby", heading.id);
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.textContent = _("You read along; the seeker and the counsellor are not told, and you cannot write.");
    const region = document.createElement("div");
    region.className = "observed-log";
    region.setAttribute("role", "log");
    region.setAttribute("aria-labelledby", heading.id);
    const log = document.createElement("ol");
    region.append(log);
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = _("Stop observing");
    button.addEventListener("click", () => this.stop(chatId));
    section.append(heading, hint, region, button);
    this.root.append(section);
    this.panels.set(chatId, { section, log, seqs: new Set(), notes: new Set() });
    heading.focus();
  }

  close(chatId) {
    const panel = this.panels.get(chatId);
    if (!panel) return;
    panel.section.remove();
    this.panels.delete(chatId);
  }

  clear() {
    for (const chatId of [...this.panels.keys()]) this.close(chatId);
  }

  onFrame(frame) {
    const panel = frame.chat_id ? this.panels.get(frame.chat_id) : undefined;
    if (!panel) return;
    if (frame.type === "message" && !panel.seqs.has(frame.seq)) {
      panel.seqs.add(frame.seq);
      const who = frame.sender === "seeker" ? _("Seeker") : frame.name || _("Counsellor");
      this.add(panel, who, frame.text, frame.at, "message");
    } else if (frame.type === "note" && !panel.notes.has(frame.id)) {
      panel.notes.add(frame.id);
      this.add(panel, _("Internal note by {name}", { name: frame.author || "–" }), frame.text, frame.at, "note");
    } else if (frame.type === "chat_closed" || frame.type === "chat_deleted") {
      this.add(panel, _("The chat has ended."), "", Date.now() / 1000, "event");
    }
  }

  add(panel, who, text, at, kind) {
    const item = document.createElement("li");
    item.className = kind;
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = `${who} · ${clockTime(at)}`;
    item.append(meta);
    if (text) {
      const body = document.createElement("p");
      body.textContent = text;
      item.append(body);
    }
    panel.log.append(item);
  }
}
