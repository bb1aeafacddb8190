"""Locale choice and the completeness of the nb, nn and en catalogues."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from hypothesis import given
from hypothesis import strategies as st

from web.i18n import DEFAULT_LOCALE, LOCALES, choose_locale, translations

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        ("en", "nn", "nb", "en"),
        (None, "nn", "en", "nn"),
        ("xx", "nn", "en", "nn"),
        (None, None, "en-GB,en;q=0.9", "en"),
        (None, None, "nn-NO", "nn"),
        (None, None, "no", "nb"),
        (None, None, "de-DE, en;q=0.5, nb;q=0.8", "nb"),
        (None, None, "fr", DEFAULT_LOCALE),
        (None, None, None, DEFAULT_LOCALE),
        (None, None, "en;q=abc, nn", "nn"),
    ],
)
def test_locale_is_chosen_explicitly_then_by_browser_then_bokmaal(
    query: str | None, cookie: str | None, accept: str | None, expected: str
) -> None:
    assert choose_locale(query, cookie, accept) == expected


@given(st.text(max_size=200))
def test_any_accept_language_header_gives_a_supported_locale(header: str) -> None:
    assert choose_locale(None, None, header) in LOCALES


def _source_messages() -> set[str]:
    method_map = [
        ("app/**.py", "python"),
        ("chat/**.py", "python"),
        ("web/templates/**.html", "jinja2"),
        ("web/static/js/**.js", "javascript"),
    ]
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("locale", ["nb", "nn"])
def test_every_message_in_the_code_is_translated(locale: str) -> None:
    catalogue = translations(locale)
    missing = sorted(m for m in _source_messages() if catalogue.gettext(m) == m)
    # A handful of words are spelt the same in Norwegian and English, and a few formats are
    # only numbers and names.
    same_in_both = {"Status", "Administrator", "Standard", "Send"}
    same_in_both |= {"{chat} ({number})", "{county}, {language}"}
    same_in_both |= {"{seconds} s", "{minutes} min {seconds} s"}
    assert [m for m in missing if m not in same_in_both] == []


def test_english_catalogue_covers_every_message() -> None:
    english = (ROOT / "web/translations/en/LC_MESSAGES/messages.po").read_text()
    for message in _source_messages():
        assert f'msgid "{message}"' in english or message[:30] in english, message


@pytest.mark.parametrize("locale", ["nb", "nn", "en"])
def test_every_message_is_in_a_catalogue_once(locale: str) -> None:
    """A message listed twice is translated by whichever comes last: one of them is wrong."""
    text = (ROOT / f"web/translations/{locale}/LC_MESSAGES/messages.po").read_text()
    ids = re.findall(r'^msgid "(.+)"$', text, re.MULTILINE)
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []
    # Each entry stands apart: a message id never follows a translation on the next line.
    assert not re.search(r'^msgstr ".*"\nmsgid ', text, re.MULTILINE)
