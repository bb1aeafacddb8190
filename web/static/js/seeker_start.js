// Before the chat: the seeker's choices (county, language, an optional topic), the privacy
// statement, and whether anyone can answer now. Starting asks the server for a chat id and its
// resume token; nothing here asks for, or sends, a name.

import { _, locale } from "./i18n.js";
import { loadDraft, saveDraft } from "./seeker_store.js";

const OSLO = "Europe/Oslo";

function byId(id) {
  return document.getElementById(id);
}

// "fredag 27. november kl. 09:00", in the page's language and Norwegian time.
export function formatOpening(epochSeconds) {
  const options = {
    weekday: "long",
    day: "numeric",
    month: "long",
    hour: "2-digit",
    minute: "2-digit",
    timeZone: OSLO,
  };
  return new Intl.DateTimeFormat([locale(), "nb"], options).format(new Date(epochSeconds * 1000));
}

export async function fetchAvailability(county) {
  const query = county ? `?county=${encodeURIComponent(county)}` : "";
  try {
    const response = await fetch(`/api/v1/availability${query}`, { credentials: "omit" });
    return response.ok ? await response.json() : null;
  } catch {
    return null; // unknown: let the seeker try, the server still decides
  }
}

export class StartForm {
  // onStarted(chat_id, token, choices) is called once the server made the chat.
  constructor(onStarted) {
    this.onStarted = onStarted;
    this.form = byId("start-form");
    this.county = byId("county");
    this.language = byId("chat-language");
    this.topic = byId("topic");
    this.consent = byId("consent");
    this.button = byId("start-button");
    this.notice = byId("availability");
    this.error = byId("start-error");
    this.consentError = byId("consent-error");
    this.available = null;
    this.busy = false;
    this.restoreDraft();
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.county.addEventListener("change", () => {
      this.keepDraft();
      this.checkAvailability();
    });
    for (const field of [this.language, this.topic]) {
      field.addEventListener("change", () => this.keepDraft());
    }
    this.consent.addEventListener("change", () => {
      if (this.consent.checked) this.showConsentError(false);
    });
  }

  restoreDraft() {
    const draft = loadDraft();
    if (typeof draft.county === "string" && this.hasOption(this.county, draft.county)) {
      this.county.value = draft.county;
    }
    if (typeof draft.language === "string" && this.hasOption(this.language, draft.language)) {
      this.language.value = draft.language;
    }
    if (typeof draft.topic === "string") this.topic.value = draft.topic;
  }

  hasOption(select, value) {
    return Array.from(select.options).some((o) => o.value === value);
  }

  keepDraft() {
    saveDraft({ county: this.county.value, language: this.language.value, topic: this.topic.value });
  }

  async checkAvailability() {
    const county = this.county.value;
    const answer = await fetchAvailability(county);
    if (county !== this.county.value) return; // changed again meanwhile
    this.available = answer;
    this.showAvailability(answer);
    return answer;
  }

  // The notice is a live region that stays in the page; an empty one shows nothing.
  showAvailability(answer) {
    let text = "";
    if (answer && !answer.open) {
      text = answer.opens_at
        ? _("The chat is closed now. It opens again {when}.", { when: formatOpening(answer.opens_at) })
        : _("The chat is closed now.");
    } else if (answer && answer.county_open === false) {
      text = _("Your county's centre is closed now; the national team will answer you.");
    }
    if (this.notice.textContent !== text) this.notice.textContent = text;
    this.button.disabled = Boolean(answer && !answer.open);
  }

  showConsentError(shown) {
    this.consentError.hidden = !shown;
    if (shown) this.consent.setAttribute("aria-invalid", "true");
    else this.consent.removeAttribute("aria-invalid");
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  async submit() {
    if (this.busy) return;
    this.showError("");
    if (!this.consent.checked) {
      this.showConsentError(true);
      this.consent.focus();
      return;
    }
    this.busy = true;
    this.button.disabled = true;
    try {
      // Ask again: a form left open since before closing time must not queue anyone.
      const answer = await this.checkAvailability();
      if (answer && !answer.open) return;
      const choices = {
        county: this.county.value || null,
        language: this.language.value,
        topic: this.topic.value.trim() || null,
      };
      let response;
      try {
        response = await fetch("/api/v1/chats", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ ...choices, consent: true }),
          credentials: "omit",
          cache: "no-store",
        });
      } catch {
        this.showError(_("We could not reach the service. Check your connection and try again."));
        return;
      }
      if (response.status !== 201) {
        this.showError(_("The chat could not be started. Please try again in a moment."));
        return;
      }
      const started = await response.json();
      this.onStarted(started.chat_id, started.token, choices);
    } finally {
      this.busy = false;
      if (!this.available || this.available.open) this.button.disabled = false;
    }
  }
}
