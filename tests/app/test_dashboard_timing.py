"""A slow dashboard push is told in the log with where its time went."""

from __future__ import annotations

import time

from structlog.testing import capture_logs

from app.dashboard_timing import PushStages, log_relay_if_slow


def test_each_stage_is_timed_from_the_one_reached_before_it() -> None:
    stages = PushStages(changed=100.0, heard=100.002, began=100.005, read=100.009)
    stages.computed, stages.pushed = 100.012, 100.020  # not relayed: this instance alone

    assert stages.durations() == {
        "heard": 2.0,
        "began": 3.0,
        "read": 4.0,
        "computed": 3.0,
        "pushed": 8.0,
    }
    assert round(stages.total_ms(), 1) == 20.0


def test_a_push_slower_than_the_threshold_is_logged_at_info_the_others_at_debug() -> None:
    now = time.time()
    quick = PushStages(changed=now - 0.010, heard=now - 0.008, pushed=now)
    slow = PushStages(changed=now - 0.090, heard=now - 0.060, pushed=now)
    unfinished = PushStages(changed=now - 0.090, heard=now - 0.060)

    with capture_logs() as logs:
        for stages in (quick, slow, unfinished):
            stages.log_if_slow(sockets=25, slow_ms=40.0)

    assert [(entry["event"], entry["log_level"]) for entry in logs] == [
        ("dashboard.pushed", "debug"),
        ("dashboard.push_slow", "info"),
    ]
    logs = [entry for entry in logs if entry["log_level"] == "info"]
    assert logs[0]["ms"] == 90.0 and logs[0]["heard"] == 30.0 and logs[0]["pushed"] == 60.0
    assert logs[0]["sockets"] == 25


def test_a_relayed_push_is_timed_from_its_version() -> None:
    now = time.time()
    with capture_logs() as logs:
        log_relay_if_slow(int((now - 0.005) * 1000), now - 0.003, now - 0.001, 25, slow_ms=40.0)
        log_relay_if_slow(int((now - 0.100) * 1000), now - 0.080, now - 0.010, 25, slow_ms=40.0)

    assert [entry["event"] for entry in logs] == ["dashboard.relay_slow"]
    assert 99 <= logs[0]["ms"] <= 110 and 69 <= logs[0]["received"] <= 71
