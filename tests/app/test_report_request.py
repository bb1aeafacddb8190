"""The report form's parameters: good ones give a period and centre, anything else a clear error."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.report_figures import PeriodKind
from app.report_request import ReportRequestError, parse_report_request

CENTRES = {"03", "46", "national"}
TODAY = date(2024, 5, 14)


def test_defaults_are_today_all_centres_as_a_page() -> None:
    asked = parse_report_request({}, CENTRES, TODAY)
    assert (asked.period.kind, asked.period.first, asked.centre, asked.format) == (
        PeriodKind.DAY,
        TODAY,
        "all",
        "html",
    )


def test_a_week_starts_on_monday_and_a_month_on_the_first() -> None:
    week = parse_report_request({"period": "week", "date": "2024-05-16"}, CENTRES, TODAY)
    assert week.period.first == date(2024, 5, 13)
    month = parse_report_request(
        {"period": "month", "date": "2024-05-16", "centre": "46", "format": "csv"}, CENTRES, TODAY
    )
    assert (month.period.first, month.centre, month.format) == (date(2024, 5, 1), "46", "csv")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "year"}, "period"),
        ({"period": "DAY "}, "period"),
        ({"date": "2024-02-30"}, "date"),
        ({"date": "14.05.2024"}, "date"),
        ({"date": "1999-12-31"}, "date"),
        ({"date": "+2024-05-14"}, "date"),
        (
            {"date": "\uff12\uff10\uff12\uff14-05-14"},
            "date",
        ),  # full-width digits are not a date here
        ({"centre": "99"}, "centre"),
        ({"centre": "'; DROP TABLE centres; --"}, "centre"),
        ({"format": "xlsx"}, "format"),
    ],
)
def test_a_bad_parameter_is_named_in_the_error(params: dict[str, str], field: str) -> None:
    with pytest.raises(ReportRequestError) as refused:
        parse_report_request(params, CENTRES, TODAY)
    assert refused.value.field == field
    assert refused.value.message


@given(
    st.dictionaries(
        st.sampled_from(["period", "date", "centre", "format", "other"]),
        st.text(max_size=40),
        max_size=5,
    )
)
def test_any_parameters_give_a_request_or_a_report_request_error(params: dict[str, str]) -> None:
    try:
        asked = parse_report_request(params, CENTRES, TODAY)
    except ReportRequestError as error:
        assert error.field in ("period", "date", "centre", "format")
        assert error.message
    else:
        assert asked.centre in CENTRES | {"all"}
        assert asked.period.first <= asked.period.last
