"""The README's run command end to end on a machine where Redis and PostgreSQL do not answer:
private servers start, the app migrates, seeds and serves, and stopping it stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.local_services import postgres_answers, redis_answers
from tests.support.server import free_port


def test_run_starts_private_services_serves_demo_data_and_stops_everything(
    tmp_path: Path,
) -> None:
    redis_port, postgres_port, http_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{postgres_port}/eguide",
        "EGUIDE_PORT": str(http_port),
    }
    bin_dir = Path(sys.executable).parent
    command = (
        f"{bin_dir}/eguide migrate && {bin_dir}/eguide seed-demo && exec {bin_dir}/eguide serve"
    )
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.local_services", "run", "--data-dir", str(tmp_path / "data"),
         "--fast", "--", "sh", "-c", command],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 90
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(url + "/readyz", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        output = (tmp_path / "run.log").read_text()
        assert ready is not None and ready.status_code == 200, output
        assert "started private redis" in output
        assert "started private postgres" in output
        assert "kari     demo-password-123" in output
        assert "<h1>Karriereveiledning på chat</h1>" in httpx.get(url + "/").text
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)
    assert not redis_answers("127.0.0.1", redis_port)
    assert not postgres_answers("127.0.0.1", postgres_port)
