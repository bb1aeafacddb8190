// The seeker's chat widget for any web site: one line in the host page,
//
//   <script src="https://HOST/widget.js" data-county="55" data-lang="nb" async></script>
//
// adds a launcher button and a panel holding the chat page (HOST/chat?embed=1&county=55&lang=nb)
// in a frame. Everything the widget adds lives in a shadow root under one <eguide-widget>
// element with a constructed stylesheet, so the host's CSS neither reaches in nor is needed,
// and nothing here depends on the host's CSP allowing inline styles. The host page needs to
// allow HOST in script-src and frame-src only.
//
// Keyboard: the launcher opens and closes the panel; opening moves focus into the chat, closing
// (the panel's close button, Escape anywhere in the panel, or the launcher) brings it back to the
// launcher. The frame and this script speak by postMessage (see seeker_embed.js); every message
// is checked to come from the frame and from HOST. Plain JavaScript, no build step.
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src || window.customElements === undefined) return;
  if (document.querySelector("eguide-widget")) return; // the embed line was pasted twice

  var ORIGIN = new URL(script.src, document.baseURI).origin;
  var LOCALES = ["nb", "nn", "en"];
  var county = /^[0-9]{2}$/.test(script.dataset.county || "") ? script.dataset.county : "";
  var lang = LOCALES.indexOf(script.dataset.lang) >= 0 ? script.dataset.lang : "";
  // Whether the panel was open survives a reload or the next page of the host site (same tab).
  var OPEN_KEY = "eguide-widget-open";

  // Sizes in px, not rem: the host's root font size must not shrink or blow up the widget.
  var CSS = [
    ":host { all: initial !important; display: block !important; position: static !important; }",
    ".root { all: initial; font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', sans-serif;",
    "  font-size: 16px; line-height: 1.4; color: #1a1a1a; }",
    ".root *, .root *::before, .root *::after { box-sizing: border-box; }",
    ".launcher { position: fixed; right: 16px; bottom: 16px; z-index: 2147483000;",
    "  display: inline-flex; align-items: center; gap: 8px; max-width: calc(100vw - 32px);",
    "  margin: 0; padding: 12px 18px; border: 2px solid #ffffff; border-radius: 999px;",
    "  background: #0b5394; color: #ffffff; font: inherit; font-weight: 700; text-align: left;",
    "  text-transform: none; letter-spacing: normal; cursor: pointer;",
    "  box-shadow: 0 2px 8px rgba(0, 0, 0, 0.35); }",
    ".launcher:hover { background: #073763; }",
    ".launcher:focus-visible, .close:focus-visible { outline: 3px solid #1a1a1a; outline-offset: 2px;",
    "  box-shadow: 0 0 0 6px #ffbf47; }",
    ".launcher[hidden], .panel[hidden], .badge[hidden] { display: none; }",
    ".icon { width: 20px; height: 20px; flex: none; fill: currentColor; }",
    ".badge { display: inline-block; min-width: 22px; padding: 1px 7px; border-radius: 999px;",
    "  background: #ffffff; color: #073763; font-size: 14px; font-weight: 700; text-align: center; }",
    ".panel { position: fixed; right: 16px; bottom: 84px; z-index: 2147483000;",
    "  display: flex; flex-direction: column; width: min(400px, calc(100vw - 32px));",
    "  height: min(640px, calc(100vh - 100px)); margin: 0; padding: 0;",
    "  background: #ffffff; border: 1px solid #6b7785; border-radius: 8px; overflow: hidden;",
    "  box-shadow: 0 4px 24px rgba(0, 0, 0, 0.35); animation: eguide-rise 0.15s ease-out; }",
    ".bar { display: flex; align-items: center; justify-content: space-between; gap: 8px;",
    "  padding: 6px 6px 6px 14px; background: #0b5394; color: #ffffff; font-weight: 700; }",
    ".title { margin: 0; font: inherit; overflow-wrap: anywhere; }",
    ".close { flex: none; margin: 0; padding: 6px 12px; border: 2px solid #ffffff; border-radius: 6px;",
    "  background: transparent; color: #ffffff; font: inherit; font-weight: 600; cursor: pointer; }",
    ".close:hover { background: #073763; }",
    ".frame { display: block; flex: 1 1 auto; width: 100%; height: 100%; min-height: 0;",
    "  margin: 0; padding: 0; border: 0; background: #ffffff; }",
    "@media (max-width: 480px), (max-height: 480px) {",
    "  .panel { inset: 0; right: 0; bottom: 0; width: 100%; height: 100%; border: 0; border-radius: 0; }",
    "}",
    "@keyframes eguide-rise { from { opacity: 0; transform: translateY(8px); } to { opacity: 1; transform: none; } }",
    "@media (prefers-reduced-motion: reduce) { .panel { animation: none; } }",
  ].join("\n");

  var ICON =
    "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm2 5v2h12V9H6zm0 4v2h8v-2H6z";

  function node(tag, attributes, parent) {
    var el = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      el.setAttribute(name, attributes[name]);
    });
    if (parent) parent.appendChild(el);
    return el;
  }

  function applyStyles(shadow) {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } catch (error) {
      // A browser without constructed stylesheets gets a style element (which a host whose CSP
      // refuses inline styles blocks: the widget then looks plain, but still works).
      node("style", {}, shadow).textContent = CSS;
    }
  }

  function remembered() {
    try {
      return window.sessionStorage.getItem(OPEN_KEY) === "1";
    } catch (error) {
      return false;
    }
  }

  function remember(open) {
    try {
      if (open) window.sessionStorage.setItem(OPEN_KEY, "1");
      else window.sessionStorage.removeItem(OPEN_KEY);
    } catch (error) {
      // not remembered: the panel starts closed on the next page
    }
  }

  function build() {
    var host = document.createElement("eguide-widget");
    var shadow = host.attachShadow({ mode: "open" });
    applyStyles(shadow);

    var root = node("aside", { class: "root" }, shadow);
    var launcher = node(
      "button",
      { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "eguide-panel", hidden: "" },
      root,
    );
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", ICON);
    svg.appendChild(path);
    launcher.appendChild(svg);
    var label = node("span", { class: "label" }, launcher);
    var badge = node("span", { class: "badge", hidden: "" }, launcher);

    var panel = node("div", { class: "panel", id: "eguide-panel", hidden: "" }, root);
    var bar = node("div", { class: "bar" }, panel);
    var title = node("p", { class: "title" }, bar);
    var close = node("button", { type: "button", class: "close" }, bar);
    var query = "embed=1" + (county ? "&county=" + county : "") + (lang ? "&lang=" + lang : "");
    var frame = node("iframe", { class: "frame", src: ORIGIN + "/chat?" + query }, panel);

    var ready = false;
    var open = false;
    var focusWanted = false;
    var labels = null;
    // Opened again (without taking focus) once the frame has said what it is called.
    var reopen = remembered();

    function post(message) {
      if (frame.contentWindow) {
        message.source = "eguide";
        frame.contentWindow.postMessage(message, ORIGIN);
      }
    }

    function setOpen(wanted, moveFocus) {
      open = wanted;
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", String(open));
      remember(open);
      if (open) {
        if (moveFocus) frame.focus();
        // A frame still loading takes focus once it is ready; a ready one takes it now.
        focusWanted = moveFocus && !ready;
        if (ready) post({ type: "panel", open: true, focus: moveFocus });
      } else {
        post({ type: "panel", open: false, focus: false });
        if (moveFocus) launcher.focus();
      }
    }

    function relabel(given) {
      labels = given;
      root.setAttribute("aria-label", labels.title);
      label.textContent = labels.open;
      title.textContent = labels.title;
      close.textContent = labels.close;
      frame.setAttribute("title", labels.title);
      launcher.hidden = false;
    }

    launcher.addEventListener("click", function () {
      setOpen(!open, true);
    });
    close.addEventListener("click", function () {
      setOpen(false, true);
    });
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.preventDefault();
        setOpen(false, true);
      }
    });
    frame.addEventListener("load", function () {
      ready = false;
      post({ type: "hello" });
    });

    window.addEventListener("message", function (event) {
      if (event.source !== frame.contentWindow || event.origin !== ORIGIN) return;
      var data = event.data;
      if (!data || data.source !== "eguide") return;
      if (data.type === "loaded") {
        post({ type: "hello" });
      } else if (data.type === "ready" && data.labels) {
        relabel(data.labels);
        ready = true;
        if (reopen) {
          reopen = false;
          setOpen(true, false);
        }
        // Tell the frame where it stands; it takes focus only if the seeker just opened it.
        post({ type: "panel", open: open, focus: open && focusWanted });
        focusWanted = false;
      } else if (data.type === "close") {
        setOpen(false, true);
      } else if (data.type === "unread") {
        var count = Number(data.count) || 0;
        badge.hidden = count === 0;
        badge.textContent = count ? String(count) : "";
        // The launcher's name says it too, in words (the number alone is not a name).
        if (labels) {
          launcher.setAttribute("aria-label", count && data.text ? labels.open + ". " + data.text : labels.open);
        }
      }
    });

    document.body.appendChild(host);
  }

  if (document.body) build();
  else document.addEventListener("DOMContentLoaded", build);
})();
