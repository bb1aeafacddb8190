// The page's translations: the same gettext catalogue as the server's templates, served as JSON
// at /i18n/<locale>.json. Scripts never hold their own text: `_("English text")` looks it up and
// falls back to the English message id. `{name}` placeholders are filled from `values`.

let catalogue = {};
let currentLocale = document.documentElement.lang || "nb";

export async function loadCatalogue(locale = currentLocale) {
  const response = await fetch(`/i18n/${encodeURIComponent(locale)}.json`, {
    credentials: "same-origin",
  });
  if (response.ok) {
    catalogue = (await response.json()).messages;
    currentLocale = locale;
  }
}

export function locale() {
  return currentLocale;
}

export function _(message, values = {}) {
  const text = catalogue[message] || message;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in values ? String(values[name]) : match));
}
