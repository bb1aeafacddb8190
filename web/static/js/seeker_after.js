// What a seeker may do with their chat after it: download the transcript, answer the survey,
// delete the conversation. Each request carries the resume token as a bearer token (never in
// the URL), so a download is fetched here and handed to the browser as a file.

import { _, locale } from "./i18n.js";

async function request(chat, method, path, body) {
  const headers = { Authorization: `Bearer ${chat.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(`/api/v1/chats/${encodeURIComponent(chat.chat_id)}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
}

async function errorCode(response) {
  try {
    return (await response.json()).error.code;
  } catch {
    return "unknown";
  }
}

function filenameOf(response, fallback) {
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  return match ? match[1] : fallback;
}

// Fetch the transcript in `format` (text or html) and save it. Returns null, or an error code.
export async function downloadTranscript(chat, format) {
  let response;
  try {
    response = await request(chat, "GET", `/transcript?format=${format}&lang=${locale()}`);
  } catch {
    return "network";
  }
  if (!response.ok) return errorCode(response);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filenameOf(response, format === "html" ? "chat.html" : "chat.txt");
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The browser has taken the file; the object URL is only needed until it has.
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return null;
}

// Returns null when saved (or saved before), else an error code.
export async function answerSurvey(chat, score, comment) {
  let response;
  try {
    response = await request(chat, "POST", "/survey", { score, comment: comment || null });
  } catch {
    return "network";
  }
  if (response.ok) return null;
  const code = await errorCode(response);
  return code === "already_answered" ? null : code;
}

// Returns null when deleted (or already gone), else an error code.
export async function deleteConversation(chat) {
  let response;
  try {
    response = await request(chat, "DELETE", "");
  } catch {
    return "network";
  }
  if (response.ok || response.status === 401) return null; // 401: the token opens nothing now
  return errorCode(response);
}

export function errorText(code) {
  switch (code) {
    case "network":
      return _("We could not reach the service. Check your connection and try again.");
    case "bad_token":
    case "not_authenticated":
      return _("This conversation is no longer available.");
    case "chat_not_ended":
      return _("The rating opens when the chat has ended.");
    case "not_answered":
      return _("No counsellor answered this chat, so there is nothing to rate.");
    case "unavailable":
      return _("The service is busy. Please try again in a moment.");
    default:
      return _("Something went wrong. Please try again in a moment.");
  }
}
