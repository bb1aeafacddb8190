"""Translations: the nb, nn and en catalogues, and choosing the locale for a request.

The catalogues are gettext `.po` files under `web/translations/`, compiled in memory at start-up,
so running the service needs no build step. English message ids double as the English text.
"""

from __future__ import annotations

import io
from functools import cache
from importlib import resources

from babel import Locale
from babel.core import UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("nb", "nn", "en")
DEFAULT_LOCALE = "nb"
# Names shown in the language switcher, each in its own language.
LOCALE_NAMES = {"nb": "Norsk bokmål", "nn": "Norsk nynorsk", "en": "English"}
LOCALE_COOKIE = "eguide_lang"


def _negotiate(accept_language: str) -> str | None:
    preferred: list[tuple[float, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        # Sort by quality, then by the order the browser gave.
        preferred.append((-quality + position * 1e-6, tag.strip().replace("_", "-")))
    for _, tag in sorted(preferred):
        try:
            language = Locale.parse(tag, sep="-").language
        except (ValueError, UnknownLocaleError):
            continue
        if language == "no":  # generic Norwegian reads as bokmål
            language = "nb"
        if language in LOCALES:
            return language
    return None


def choose_locale(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The explicit choice (query, then remembered cookie), then the browser's, then bokmål."""
    for candidate in (query, cookie):
        if candidate in LOCALES:
            return candidate
    if accept_language:
        negotiated = _negotiate(accept_language)
        if negotiated:
            return negotiated
    return DEFAULT_LOCALE


@cache
def translations(locale: str) -> Translations:
    """The compiled catalogue of one locale."""
    source = resources.files("web") / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with source.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


@cache
def catalogue_messages(locale: str) -> dict[str, str]:
    """Every translated message of a locale, message id to text, for the browser scripts."""
    source = resources.files("web") / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with source.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and isinstance(message.id, str) and message.string
    }
