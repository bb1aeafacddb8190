// Where the chats go: side by side on a wide screen, one at a time behind tabs on a narrow one
// (the WAI-ARIA tabs pattern: arrow keys, Home and End move between tabs). The chat panels are the
// same elements in both; only their roles and visibility change.

import { _ } from "./i18n.js";

const WIDE = "(min-width: 72em)";

export class ChatLayout {
  constructor({ tabs, panels, empty }, onShown) {
    this.tabs = tabs;
    this.panels = panels;
    this.empty = empty;
    this.onShown = onShown;
    this.views = [];
    this.selected = null;
    this.wide = window.matchMedia(WIDE);
    this.wide.addEventListener("change", () => this.apply());
    tabs.addEventListener("keydown", (event) => this.onTabKey(event));
  }

  get isWide() {
    return this.wide.matches;
  }

  add(view) {
    const tab = document.createElement("button");
    tab.type = "button";
    tab.setAttribute("role", "tab");
    tab.id = `${view.base}-tab`;
    tab.setAttribute("aria-controls", view.panel.id);
    tab.addEventListener("click", () => this.select(view));
    view.tab = tab;
    this.views.push(view);
    this.tabs.append(tab);
    this.panels.append(view.panel);
    this.relabel(view);
    if (!this.selected) this.selected = view;
    this.apply();
  }

  remove(view) {
    const at = this.views.indexOf(view);
    if (at < 0) return;
    this.views.splice(at, 1);
    view.tab.remove();
    view.panel.remove();
    if (this.selected === view)
      this.selected = this.views[Math.min(at, this.views.length - 1)] || null;
    this.apply();
  }

  relabel(view) {
    if (!view.tab) return;
    const label = view.unread
      ? _("{chat} ({count} new)", { chat: view.label, count: view.unread })
      : view.state === "wrap_up"
        ? _("{chat} (wrap-up)", { chat: view.label })
        : view.label;
    view.tab.textContent = label;
  }

  isShown(view) {
    return this.isWide || this.selected === view;
  }

  select(view, { focusTab = false } = {}) {
    this.selected = view;
    this.apply();
    if (focusTab) view.tab.focus();
  }

  apply() {
    const wide = this.isWide;
    this.empty.hidden = this.views.length > 0;
    this.tabs.hidden = wide || this.views.length === 0;
    for (const view of this.views) {
      const chosen = view === this.selected;
      view.tab.setAttribute("aria-selected", String(chosen));
      view.tab.tabIndex = chosen ? 0 : -1;
      if (wide) {
        view.panel.removeAttribute("role");
        view.panel.setAttribute("aria-labelledby", view.titleId);
        view.panel.hidden = false;
      } else {
        view.panel.setAttribute("role", "tabpanel");
        view.panel.setAttribute("aria-labelledby", view.tab.id);
        view.panel.hidden = !chosen;
      }
    }
    this.panels.classList.toggle("side-by-side", wide);
    for (const view of this.views) if (this.isShown(view)) this.onShown(view);
  }

  onTabKey(event) {
    const at = this.views.indexOf(this.selected);
    if (at < 0) return;
    const moves = {
      ArrowRight: at + 1,
      ArrowLeft: at - 1,
      Home: 0,
      End: this.views.length - 1,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const count = this.views.length;
    this.select(this.views[(moves[event.key] + count) % count], { focusTab: true });
  }
}
