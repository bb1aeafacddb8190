// What tells a counsellor that something happened: spoken announcements for screen readers (two
// live regions that are in the page from the start), and for new offers a short beep and the page
// title. Beep and title can each be turned off; the choice is kept in this browser.

const PREFERENCE_KEY = "eguide.console.alerts";

export class Alerts {
  constructor({ polite, assertive, soundBox, titleBox }) {
    this.polite = polite;
    this.assertive = assertive;
    this.soundBox = soundBox;
    this.titleBox = titleBox;
    this.baseTitle = document.title;
    this.audio = null;
    this.prefs = { sound: true, title: true, ...readPreferences() };
    soundBox.checked = this.prefs.sound;
    titleBox.checked = this.prefs.title;
    soundBox.addEventListener("change", () => this.remember());
    titleBox.addEventListener("change", () => this.remember());
    // Browsers start audio only after the person did something on the page: unlock it then.
    const unlock = () => this.unlockAudio();
    document.addEventListener("pointerdown", unlock, { once: true, capture: true });
    document.addEventListener("keydown", unlock, { once: true, capture: true });
  }

  remember() {
    this.prefs = { sound: this.soundBox.checked, title: this.titleBox.checked };
    try {
      localStorage.setItem(PREFERENCE_KEY, JSON.stringify(this.prefs));
    } catch {
      // Storage may be off (private mode): the choice then lasts for this page only.
    }
    this.setTitle(this.titleParts);
  }

  // Polite: said when the screen reader is done with what it says now.
  say(text) {
    speak(this.polite, text);
  }

  // Assertive: said at once; only for what cannot wait (a chat offered with a deadline).
  urge(text) {
    speak(this.assertive, text);
  }

  // The page title: "(2) New chat offered – Counsellor console – ..." while offers wait.
  setTitle(parts) {
    this.titleParts = parts;
    if (!this.prefs.title || !parts) {
      document.title = this.baseTitle;
      return;
    }
    document.title = `${parts} – ${this.baseTitle}`;
  }

  unlockAudio() {
    try {
      if (!this.audio) this.audio = new AudioContext();
      if (this.audio.state === "suspended") this.audio.resume();
    } catch {
      this.audio = null;
    }
  }

  // Two short tones, falling: a new offer. No sound file; the page makes it.
  beep() {
    if (!this.prefs.sound) return;
    this.unlockAudio();
    if (!this.audio) return;
    const start = this.audio.currentTime + 0.01;
    [
      [880, 0],
      [660, 0.25],
    ].forEach(([frequency, offset]) => {
      const oscillator = this.audio.createOscillator();
      const gain = this.audio.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.2, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.2);
      oscillator.connect(gain).connect(this.audio.destination);
      oscillator.start(start + offset);
      oscillator.stop(start + offset + 0.22);
    });
  }
}

function readPreferences() {
  try {
    const stored = JSON.parse(localStorage.getItem(PREFERENCE_KEY) || "{}");
    return typeof stored === "object" && stored ? stored : {};
  } catch {
    return {};
  }
}

// A live region reads out what is added to it: each announcement is a new paragraph, so two in a
// row are both said, and the same text twice is said twice. Old ones are removed after a while so
// the region stays short for whoever reads it in browse mode.
const ANNOUNCEMENT_SECONDS = 20;
const MAX_ANNOUNCEMENTS = 5;

function speak(region, text) {
  const line = document.createElement("p");
  line.textContent = text;
  region.append(line);
  while (region.childElementCount > MAX_ANNOUNCEMENTS) region.firstElementChild.remove();
  window.setTimeout(() => line.remove(), ANNOUNCEMENT_SECONDS * 1000);
}
