// What this tab remembers of its chat, so a reload resumes it: the chat as seeker_state.js keeps
// it, resume token included, in sessionStorage. The token is the chat's only key: it stays in
// this tab and this origin, and never goes into a URL, a log or another window.

const KEY = "eguide.seeker.chat";
const DRAFT_KEY = "eguide.seeker.draft";

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage refused (a privacy setting): the chat works, but a reload loses it
  }
}

// False when the browser refuses this page its storage (a chat framed on another site, in a
// browser that blocks third-party storage): the chat then lives only as long as the page.
export function storageAvailable() {
  const store = storage();
  if (!store) return false;
  try {
    store.setItem("eguide.probe", "1");
    store.removeItem("eguide.probe");
    return true;
  } catch {
    return false;
  }
}

export function loadChat() {
  const store = storage();
  if (!store) return null;
  try {
    const chat = JSON.parse(store.getItem(KEY) || "null");
    return chat && typeof chat.token === "string" && typeof chat.chat_id === "string" ? chat : null;
  } catch {
    return null;
  }
}

export function saveChat(chat) {
  const store = storage();
  if (!store) return;
  try {
    store.setItem(KEY, JSON.stringify(chat));
  } catch {
    // Full: the chat goes on; only a reload would lose the newest part.
  }
}

export function clearChat() {
  const store = storage();
  if (store) store.removeItem(KEY);
}

// The start form's choices and the message being written, kept across a language switch.
export function loadDraft() {
  const store = storage();
  try {
    return (store && JSON.parse(store.getItem(DRAFT_KEY) || "null")) || {};
  } catch {
    return {};
  }
}

export function saveDraft(draft) {
  const store = storage();
  if (!store) return;
  try {
    store.setItem(DRAFT_KEY, JSON.stringify(draft));
  } catch {
    // not worth more than a try
  }
}

export function clearDraft() {
  const store = storage();
  if (store) store.removeItem(DRAFT_KEY);
}
