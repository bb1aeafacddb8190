// The chat page inside the widget's frame, talking to widget.js on the host page.
//
// Messages both ways are {source: "eguide", type, ...}. From the host: "hello" (learn its
// origin), "panel" {open, focus}. To the host: "ready" {labels}, "close", "unread" {count, text}.
// Nothing about the conversation itself ever leaves the frame: only labels, a count and a
// request to close. The host's origin is learnt from its first message; until then nothing is
// sent.
//
// The seeker's own choice of language is remembered here (localStorage of the chat's origin): a
// host page names its own language in the embed code, but a seeker who switched keeps theirs.

const SOURCE = "eguide";
const LANG_KEY = "eguide.lang";
// Set while switching language, so focus comes back to the language choice after the reload.
const FOCUS_KEY = "eguide.focus-language";

export class EmbedLink {
  constructor({ labels, onPanel }) {
    this.embedded = window.parent !== window;
    this.hostOrigin = null;
    this.labels = labels;
    this.onPanel = onPanel;
    this.open = !this.embedded; // standalone, the chat is always in view
    this.unread = 0;
    if (!this.embedded) return;
    window.addEventListener("message", (event) => this.heard(event));
    // The host may have said hello before this module ran: say we are here.
    window.parent.postMessage({ source: SOURCE, type: "loaded" }, "*");
  }

  heard(event) {
    if (event.source !== window.parent) return;
    const data = event.data;
    if (!data || data.source !== SOURCE) return;
    if (data.type === "hello") {
      this.hostOrigin = event.origin;
      this.post("ready", { labels: this.labels, lang: document.documentElement.lang });
      this.post("unread", { count: this.unread, text: "" });
    } else if (data.type === "panel") {
      this.open = Boolean(data.open);
      if (this.open) this.setUnread(0, "");
      this.onPanel(this.open, Boolean(data.focus));
    }
  }

  post(type, fields = {}) {
    if (!this.embedded || this.hostOrigin === null) return;
    window.parent.postMessage({ source: SOURCE, type, ...fields }, this.hostOrigin);
  }

  requestClose() {
    this.post("close");
  }

  setUnread(count, text) {
    this.unread = count;
    this.post("unread", { count, text });
  }
}

// The language the seeker chose inside the frame before, when it is not the one shown: the page
// is loaded again in it. Returns true when leaving.
export function followRememberedLanguage(locales) {
  let remembered = null;
  try {
    remembered = window.localStorage.getItem(LANG_KEY);
  } catch {
    return false;
  }
  const url = new URL(window.location.href);
  if (!remembered || !locales.includes(remembered) || url.searchParams.get("lang") === remembered) {
    return false;
  }
  url.searchParams.set("lang", remembered);
  window.location.replace(url.toString());
  return true;
}

export function rememberLanguageChoices(root) {
  const links = Array.from(root.querySelectorAll("a[data-lang]"));
  for (const link of links) {
    link.addEventListener("click", () => {
      try {
        window.localStorage.setItem(LANG_KEY, link.dataset.lang);
        window.sessionStorage.setItem(FOCUS_KEY, "1");
      } catch {
        // not remembered; the link still switches
      }
    });
  }
  try {
    if (window.sessionStorage.getItem(FOCUS_KEY)) {
      window.sessionStorage.removeItem(FOCUS_KEY);
      const current = links.find((link) => link.getAttribute("aria-current") === "true");
      if (current) {
        window.focus(); // the frame lost focus with its old document
        current.focus();
      }
    }
  } catch {
    // nothing to restore
  }
}
