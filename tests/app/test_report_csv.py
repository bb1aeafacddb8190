"""The report's CSV: fixed columns, one figure a line, and no formulas smuggled in."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from app.report_csv import COLUMNS, report_csv, safe_text
from app.report_figures import NATIONAL, ChatRow, Period, PeriodKind, compute_report

DAY = Period.containing(PeriodKind.DAY, date(2024, 5, 14))
NOON = datetime(2024, 5, 14, 10, 0, tzinfo=UTC)


def test_text_a_spreadsheet_would_run_gets_an_apostrophe() -> None:
    for risky in ("=1+1", "+47 999", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert safe_text(risky) == "'" + risky
    assert safe_text("CV og jobbsøking") == "CV og jobbsøking"
    assert safe_text("") == ""


def test_the_csv_has_stable_columns_and_one_line_per_figure() -> None:
    chats = [
        ChatRow(
            "03",
            "ended",
            NOON,
            NOON.replace(second=30),
            NOON.replace(minute=10),
            category="other",
            topics=('=HYPERLINK("http://x")', "Utdanning"),
            score=5,
        ),
    ]
    report = compute_report(DAY, ["03", NATIONAL], chats, [], [], 60, NOON)
    names = {"03": "@Karrieresenteret i Oslo", NATIONAL: "Nasjonalt team"}
    rows = list(csv.DictReader(io.StringIO(report_csv(report, names))))
    assert tuple(rows[0].keys()) == COLUMNS
    oslo = {(r["figure"], r["item"]): r["value"] for r in rows if r["centre"] == "03"}
    assert oslo[("chats", "")] == "1"
    assert oslo[("answered", "")] == "1"
    assert oslo[("wait_p50_seconds", "")] == "30"
    assert oslo[("service_level", "")] == "1"
    assert oslo[("handling_average_seconds", "")] == "570"
    assert oslo[("wrap_up_category", "other")] == "1"
    assert oslo[("topic", '\'=HYPERLINK("http://x")')] == "1"
    assert oslo[("topic", "Utdanning")] == "1"
    assert oslo[("survey_average", "")] == "5"
    assert oslo[("overflow_share", "")] == "0"
    assert {r["centre_name"] for r in rows if r["centre"] == "03"} == {"'@Karrieresenteret i Oslo"}
    national = {(r["figure"], r["item"]): r["value"] for r in rows if r["centre"] == NATIONAL}
    assert national[("chats", "")] == "0"
    assert national[("wait_p50_seconds", "")] == ""  # nothing to count
    total = {(r["figure"], r["item"]): r["value"] for r in rows if r["centre"] == "total"}
    assert total[("chats", "")] == "1"
    assert {r["period"] for r in rows} == {"2024-05-14"}
    assert {(r["period_start"], r["period_end"]) for r in rows} == {("2024-05-14", "2024-05-14")}
    # The same figures for every centre, in the same order.
    figures_of = [
        [(r["figure"]) for r in rows if r["centre"] == centre and r["figure"] != "topic"]
        for centre in ("03", NATIONAL, "total")
    ]
    assert figures_of[0] == figures_of[1] == figures_of[2]


def test_one_centre_leaves_out_the_total() -> None:
    report = compute_report(DAY, ["03"], [], [], [], 60, NOON)
    rows = list(csv.DictReader(io.StringIO(report_csv(report, {}, include_total=False))))
    assert {r["centre"] for r in rows} == {"03"}
