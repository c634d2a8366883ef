"""A plain wait on the network, on a real service: the demo API's /fetch calls the store once per
request (sequentially, at 10 requests a second: half a goroutine waiting on average under the
fault, no pile-up for a goroutine snapshot to see). A 50 ms delay on the store makes the verdict's
first finding "waiting" at fetch's `client.Get` line, from the runtime trace, with its seconds of
waiting per second; a phase without the fault, judged against the same baseline, is "no-change".
The report and the terminal carry the waiting figure; no capture failed across the fault."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.demo_scenario import scenario
from tests.env.conftest import DEMO, REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PHASES = """phases:
  - {name: baseline, duration: 10s}
  - {name: calm, duration: 10s}
  - name: slow
    duration: 10s
    faults:
      - {kind: delay, target: store, direction: ingress, latency: 50ms}"""
CAPTURES = """  pprof: [cpu, goroutine]
  trace: {phases: [baseline, calm, slow]}"""


def fetch_line() -> int:
    return next(i for i, line in enumerate((DEMO / "main.go").read_text().splitlines(), 1)
                if "client.Get(" in line)


def findings(summary: dict, phase: str) -> list[dict]:
    return next(p for p in summary["verdict"]["phases"] if p["phase"] == phase)["findings"]


def explain(found: list[dict]) -> str:
    return "\n".join(f"{f['kind']}: {f['message']}" for f in found)


def test_a_slow_dependency_is_a_wait_on_the_network_at_the_calling_line(tmp_path):
    sc = scenario(tmp_path, name="waiting", phases=PHASES, captures=CAPTURES, rate=10,
                  requests="    - {name: fetch, method: GET, path: /fetch, weight: 1}")
    res = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(sc), "--runs-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True, timeout=600, cwd=REPO, stdin=subprocess.DEVNULL,
                         env={**__import__("os").environ, "COLUMNS": "200"})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    run_dir = max((tmp_path / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    summary = json.loads((run_dir / "summary.json").read_text())

    slow = findings(summary, "slow")
    print(explain(slow))
    first = slow[0]
    assert first["kind"] == "waiting", explain(slow)
    ev = first["evidence"]
    assert (ev["profile"], ev["wait"], ev["service"]) == ("trace", "network", "api"), ev
    assert (Path(ev["line"]["file"]).name, ev["line"]["line"]) == ("main.go", fetch_line()), ev
    assert "client.Get(" in ev["line"]["text"]
    # 10 requests a second, each waiting 50 ms more: about half a goroutine, against a few ms
    assert ev["waiting_after"] >= 0.25 and ev["waiting_after"] >= 5 * max(ev["waiting_before"], 0.01), ev
    assert "of waiting per second" in first["message"]
    calm = findings(summary, "calm")
    assert [f["kind"] for f in calm] == ["no-change"], explain(calm)

    assert summary["capture_failures"] == [], summary["capture_failures"]
    html = (run_dir / "report.html").read_text()
    assert "of waiting per second" in html and "on the network, runtime trace" in html
    assert "waiting at main.go:" in res.stdout and "on the network, runtime trace" in res.stdout, res.stdout[-3000:]
