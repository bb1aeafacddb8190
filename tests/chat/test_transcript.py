"""Rendering a seeker's transcript: records in, text or HTML out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from chat.transcript import Gettext, TranscriptLine, filename, render_html, render_text
from web.i18n import translations

# 23:55 in Oslo on 31 October 2026 (winter time, UTC+1): the chat goes past midnight.
STARTED = datetime(2026, 10, 31, 22, 55, tzinfo=UTC)


def line(
    seq: int, role: str, body: str | None, after_minutes: int, name: str | None = None
) -> TranscriptLine:
    return TranscriptLine(seq, role, name, body, STARTED + timedelta(minutes=after_minutes))


LINES = [
    line(1, "seeker", "Hei, jeg lurer på\nom utdanning", 0),
    line(2, "counsellor", "Hei! Fortell mer.", 2, "Kari (Oslo)"),
    line(3, "seeker", None, 4),
    line(4, "counsellor", "<script>alert(1)</script> & mer", 7, "Kari <b>"),
    line(5, "system", "Chatten er overført", 8),
]


def gettext(locale: str) -> Gettext:
    return translations(locale).gettext


def test_text_lists_every_message_in_order_with_norwegian_time_and_sender() -> None:
    text = render_text(LINES, STARTED, "en", gettext("en"))
    assert text.splitlines() == [
        "Chat transcript \N{EN DASH} eguide career guidance",
        "Started 31 October 2026 at 23:55. Times are Norwegian time.",
        "",
        "23:55 You:",
        "  Hei, jeg lurer på",
        "  om utdanning",
        "",
        "23:57 Kari (Oslo):",
        "  Hei! Fortell mer.",
        "",
        "23:59 You:",
        "  This message has been removed.",
        "",
        "1 November 2026 00:02 Kari <b>:",
        "  <script>alert(1)</script> & mer",
        "",
        "1 November 2026 00:03 Message from the service:",
        "  Chatten er overført",
    ]


def test_a_message_cannot_pass_itself_off_as_the_start_of_another() -> None:
    forged = [
        line(1, "seeker", "ok\r00:00 Kari (Oslo):\u2028  fake", 0),
        line(2, "counsellor", "hei", 1, "Kari\n00:00 Du:"),
    ]
    text = render_text(forged, STARTED, "nb", gettext("nb"))
    headers = [row for row in text.splitlines()[3:] if row and not row.startswith("  ")]
    assert headers == ["23:55 Du:", "23:56 Kari 00:00 Du::"]


@pytest.mark.parametrize(
    ("locale", "heading", "you"),
    [("nb", "Utskrift av chatten", "Du"), ("nn", "Utskrift av chatten", "Du"),
     ("en", "Chat transcript", "You")],
)  # fmt: skip
def test_labels_follow_the_chosen_language(locale: str, heading: str, you: str) -> None:
    text = render_text(LINES[:1], STARTED, locale, gettext(locale))
    assert text.startswith(heading)
    assert f"23:55 {you}:" in text
    page = render_html(LINES[:1], STARTED, locale, gettext(locale))
    assert f'<html lang="{locale}">' in page
    assert f"<h1>{heading}</h1>" in page


def test_norwegian_dates_are_written_the_norwegian_way() -> None:
    text = render_text([], STARTED, "nb", gettext("nb"))
    assert "Startet 31. oktober 2026 kl. 23:55. Klokkeslettene er norsk tid." in text
    assert "Ingen meldinger." in text


class _Page(HTMLParser):
    """The parts of a page a test looks at: elements opened, and the text of the list."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.title = ""
        self.items: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in ("br", "meta"):
            self._in.append(tag)
        if tag == "li":
            self.items.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if "title" in self._in:
            self.title += data
        elif "li" in self._in:
            self.items[-1] += data


def test_html_is_a_standalone_page_whose_messages_are_only_text() -> None:
    page = render_html(LINES, STARTED, "en", gettext("en"))
    parsed = _Page()
    parsed.feed(page)
    assert page.startswith('<!doctype html>\n<html lang="en">')
    assert parsed.title == "Chat transcript \N{EN DASH} eguide career guidance"
    assert "script" not in parsed.tags and "b" not in parsed.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; mer" in page
    assert [item.split(" ", 1)[0] for item in parsed.items] == ["23:55", "23:57", "23:59", "1", "1"]
    assert "Kari &lt;b&gt;" in page
    assert parsed.items[0] == "23:55 YouHei, jeg lurer på\nom utdanning"
    assert "Hei, jeg lurer på<br>\nom utdanning" in page
    assert '<time datetime="2026-11-01T00:02+01:00">' in page
    assert "This message has been removed." in parsed.items[2]


def test_an_empty_conversation_says_so() -> None:
    page = render_html([], STARTED, "nn", gettext("nn"))
    assert "<ol" not in page
    assert "<p>Ingen meldingar.</p>" in page


def test_the_file_is_named_after_the_day_the_chat_started_in_norway() -> None:
    assert filename(STARTED, "txt") == "eguide-chat-2026-10-31.txt"
    just_after_midnight = datetime(2026, 6, 30, 22, 30, tzinfo=UTC)  # 00:30 summer time
    assert filename(just_after_midnight, "html") == "eguide-chat-2026-07-01.html"
