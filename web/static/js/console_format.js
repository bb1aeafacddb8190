// How the console words and shows things: languages, queues, times and durations. Every text comes
// from the catalogue through `_()`; the English message id is the English text.

import { _, locale } from "./i18n.js";

// Chat languages by code (EGUIDE_CHAT_LANGUAGES); a code not listed here is shown as it is.
function languageNames() {
  return {
    nb: _("Norwegian (bokmål)"),
    nn: _("Norwegian (nynorsk)"),
    en: _("English"),
    se: _("Northern Sami"),
    uk: _("Ukrainian"),
    ar: _("Arabic"),
    so: _("Somali"),
    ti: _("Tigrinya"),
    fa: _("Persian"),
    pl: _("Polish"),
  };
}

export function languageName(code) {
  return languageNames()[code] || code || "";
}

// Queue and county names come from the server (the centres' own names); see setQueueNames.
let queueNames = new Map();
let countyNames = new Map();

export function setQueueNames(queues) {
  queueNames = new Map(queues.map((q) => [q.queue, q.name]));
  countyNames = new Map(queues.filter((q) => q.county).map((q) => [q.queue, q.county]));
}

// A queue as the queue table names it: by its county (the centre's name is longer and says less).
export function queueName(queue) {
  if (queue === "national") return _("National queue");
  return countyNames.get(queue) || queueNames.get(queue) || _("County {number}", { number: queue });
}

export function countyName(county) {
  if (!county) return _("No county given");
  return countyNames.get(county) || _("County {number}", { number: county });
}

const TIME_LOCALES = { nb: "nb-NO", nn: "nn-NO", en: "en-GB" };

export function clockTime(epochSeconds) {
  const format = new Intl.DateTimeFormat(TIME_LOCALES[locale()] || "nb-NO", {
    hour: "2-digit",
    minute: "2-digit",
  });
  return format.format(new Date(epochSeconds * 1000));
}

export function isoTime(epochSeconds) {
  return new Date(epochSeconds * 1000).toISOString();
}

export function duration(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  if (whole < 60) return _("{seconds} s", { seconds: whole });
  if (whole < 3600) {
    return _("{minutes} min {seconds} s", { minutes: Math.floor(whole / 60), seconds: whole % 60 });
  }
  return _("{hours} h {minutes} min", {
    hours: Math.floor(whole / 3600),
    minutes: Math.floor((whole % 3600) / 60),
  });
}

// The server's clock, as well as this page knows it: offers say when the server relayed them,
// so a counsellor's computer clock that is minutes off does not eat into the time to answer.
let skewSeconds = 0;

export function observeServerTime(serverEpochSeconds) {
  if (typeof serverEpochSeconds === "number") skewSeconds = serverEpochSeconds - Date.now() / 1000;
}

export function serverNow() {
  return Date.now() / 1000 + skewSeconds;
}

// A chat's short name, the same in its tab, its heading and every announcement about it.
export function chatLabel(info) {
  return _("{county}, {language}", {
    county: countyName(info.county),
    language: languageName(info.language),
  });
}
