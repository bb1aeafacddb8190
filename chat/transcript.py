"""The seeker's copy of their conversation, as plain text or a small standalone HTML page. Pure.

Records in, text out: the caller reads the messages and chooses the catalogue. Message bodies
are text, never markup, so the HTML form escapes every one of them (and every name). Internal
notes are not messages and never reach this module. Times are shown in Norwegian time, as the
seeker saw them in the chat.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

OSLO = ZoneInfo("Europe/Oslo")
FORMATS = ("text", "html")

Gettext = Callable[[str], str]

# Babel's locale for each of the service's languages; English dates in British order.
_BABEL_LOCALES = {"nb": "nb_NO", "nn": "nn_NO", "en": "en_GB"}

# Plain, high-contrast and readable on a phone; the file is opened on its own, so the style
# travels inside it.
_STYLE = (
    "body{font-family:system-ui,sans-serif;line-height:1.5;margin:0 auto;max-width:42rem;"
    "padding:1rem;color:#1a1a1a;background:#fff}"
    "ol{list-style:none;padding:0}li{margin:0 0 1rem}"
    ".from{margin:0;font-size:.9rem;color:#444}.body{margin:0}"
)


@dataclass(frozen=True)
class TranscriptLine:
    """One message as the seeker saw it."""

    seq: int
    sender_role: str  # "seeker", "counsellor" or "system"
    sender_name: str | None  # the counsellor's display name
    body: str | None  # None once retention has removed the text
    created_at: datetime  # timezone-aware


def filename(started_at: datetime, extension: str) -> str:
    """`eguide-chat-YYYY-MM-DD.ext`, dated by the day the chat started in Norway."""
    return f"eguide-chat-{started_at.astimezone(OSLO).date().isoformat()}.{extension}"


@dataclass(frozen=True)
class _Labels:
    """Every text of a transcript that is not the conversation, in one language."""

    heading: str
    title: str
    started: str
    times: str
    none: str
    removed: str
    you: str
    counsellor: str
    service: str

    @classmethod
    def translated(cls, gettext: Gettext) -> _Labels:
        heading = gettext("Chat transcript")
        return cls(
            heading=heading,
            title=heading + " \N{EN DASH} " + gettext("eguide career guidance"),
            started=gettext("Started %(date)s at %(time)s."),
            times=gettext("Times are Norwegian time."),
            none=gettext("No messages."),
            removed=gettext("This message has been removed."),
            you=gettext("You"),
            counsellor=gettext("Counsellor"),
            service=gettext("Message from the service"),
        )


def render_text(
    lines: Sequence[TranscriptLine], started_at: datetime, locale: str, gettext: Gettext
) -> str:
    """The transcript as plain text: a heading, then each message under its time and sender.

    Message lines are indented, so no message can pass itself off as the start of another.
    """
    labels = _Labels.translated(gettext)
    day = started_at.astimezone(OSLO).date()
    out = [labels.title, _started(started_at, locale, labels), ""]
    if not lines:
        out.append(labels.none)
    for line in lines:
        out.append(f"{_when(line.created_at, day, locale)} {_sender(line, labels)}:")
        text = line.body if line.body is not None else labels.removed
        out.extend(f"  {part}" for part in (text.splitlines() or [""]))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def render_html(
    lines: Sequence[TranscriptLine], started_at: datetime, locale: str, gettext: Gettext
) -> str:
    """The transcript as a standalone HTML document: language, title, a heading, and the
    messages as an ordered list, each with its time and sender."""
    esc = html.escape
    labels = _Labels.translated(gettext)
    day = started_at.astimezone(OSLO).date()
    items = []
    for line in lines:
        moment = line.created_at.astimezone(OSLO)
        if line.body is None:
            body = f"<em>{esc(labels.removed)}</em>"
        else:
            body = "<br>\n".join(esc(part) for part in (line.body.splitlines() or [""]))
        items.append(
            "<li>"
            f'<p class="from"><time datetime="{moment.isoformat(timespec="minutes")}">'
            f"{esc(_when(line.created_at, day, locale))}</time> "
            f"<strong>{esc(_sender(line, labels))}</strong></p>"
            f'<p class="body">{body}</p>'
            "</li>"
        )
    listing = (
        '<ol class="messages">\n' + "\n".join(items) + "\n</ol>"
        if items
        else f"<p>{esc(labels.none)}</p>"
    )
    return (
        "<!doctype html>\n"
        f'<html lang="{esc(locale)}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(labels.title)}</title>\n"
        f"<style>{_STYLE}</style>\n"
        "</head>\n"
        "<body>\n"
        "<main>\n"
        f"<h1>{esc(labels.heading)}</h1>\n"
        f"<p>{esc(_started(started_at, locale, labels))}</p>\n"
        f"{listing}\n"
        "</main>\n"
        "</body>\n"
        "</html>\n"
    )


def _started(started_at: datetime, locale: str, labels: _Labels) -> str:
    moment = started_at.astimezone(OSLO)
    started = labels.started % {"date": _date(moment.date(), locale), "time": f"{moment:%H:%M}"}
    return f"{started} {labels.times}"


def _when(at: datetime, first_day: date, locale: str) -> str:
    """The time of day, with the date in front once the chat has gone past midnight."""
    moment = at.astimezone(OSLO)
    if moment.date() == first_day:
        return f"{moment:%H:%M}"
    return f"{_date(moment.date(), locale)} {moment:%H:%M}"


def _date(day: date, locale: str) -> str:
    return format_date(day, format="long", locale=_BABEL_LOCALES.get(locale, "nb_NO"))


def _sender(line: TranscriptLine, labels: _Labels) -> str:
    if line.sender_role == "seeker":
        return labels.you
    if line.sender_role == "counsellor" and line.sender_name and line.sender_name.strip():
        return " ".join(line.sender_name.split())  # a name never breaks a line
    if line.sender_role == "counsellor":
        return labels.counsellor
    return labels.service
