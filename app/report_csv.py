"""A report as CSV: one figure a line, so the columns stay the same whatever the topics are.

Columns: period, period_start, period_end, centre, centre_name, figure, item, value. `item` names
the reason, category or topic of a breakdown and is empty otherwise; `value` is empty where a
figure has no value (an average of nothing). Shares are fractions (0.25), times are seconds.

Text cells that a spreadsheet would read as a formula (starting with =, +, -, @, a tab or a
carriage return) get a leading apostrophe, so a topic typed as `=HYPERLINK(...)` stays text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping

from app.report_figures import TOTAL, Figures, Report

COLUMNS = (
    "period",
    "period_start",
    "period_end",
    "centre",
    "centre_name",
    "figure",
    "item",
    "value",
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """A text cell no spreadsheet will run as a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}".rstrip("0").rstrip(".")


def figure_lines(figures: Figures) -> Iterator[tuple[str, str, float | int | None]]:
    """(figure, item, value) for every figure, in a fixed order."""
    yield "chats", "", figures.chats
    yield "answered", "", figures.answered
    yield "abandoned", "", figures.abandoned
    yield "still_waiting", "", figures.waiting
    yield "overflowed", "", figures.overflowed
    yield "overflow_share", "", figures.overflow_share
    for reason, count in figures.overflow_reasons.items():
        yield "overflow_reason", reason, count
    yield "answered_own_county", "", figures.answered_own_county
    yield "answered_national_team", "", figures.answered_national
    yield "own_county_share", "", figures.own_county_share
    yield "wait_p50_seconds", "", figures.wait_p50
    yield "wait_p90_seconds", "", figures.wait_p90
    yield "wait_average_seconds", "", figures.wait_average
    yield "answered_within_target", "", figures.answered_within_target
    yield "service_level", "", figures.service_level
    yield "handled", "", figures.handled
    yield "handling_average_seconds", "", figures.handling_average
    for category, count in figures.categories.items():
        yield "wrap_up_category", category, count
    for topic, count in figures.topics.items():
        yield "topic", topic, count
    yield "survey_answers", "", figures.survey_count
    yield "survey_average", "", figures.survey_average
    yield "counsellor_hours", "", figures.counsellor_hours
    yield "answers_per_counsellor_hour", "", figures.answers_per_counsellor_hour


def report_csv(report: Report, names: Mapping[str, str], include_total: bool = True) -> str:
    """The report's figures for every centre (and in total) as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    period = report.period
    sections = list(report.centres.items())
    if include_total:
        sections.append((TOTAL, report.total))
    for centre, figures in sections:
        name = names.get(centre, centre)
        for figure, item, value in figure_lines(figures):
            writer.writerow(
                (
                    period.label,
                    period.first.isoformat(),
                    period.last.isoformat(),
                    centre,
                    safe_text(name),
                    figure,
                    safe_text(item),
                    _number(value),
                )
            )
    return out.getvalue()
