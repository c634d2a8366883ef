"""The runtime sampler against a real Go service in a real container (tests/capture/pileapp).

One 10 s phase; 2 s in, one request makes the service park 300 goroutines at one planted line
(a channel receive) for 3 s; they are gone some 5 s before the phase ends, so the phase-end
goroutine snapshot no longer shows them. The sampler's series must show the pile-up, the
goroutine profile kept at the phase's peak must exist and put the planted line on top, and
summary.json and the report must carry it.
"""
from __future__ import annotations

import dataclasses
import json
import time
import urllib.request
from pathlib import Path

import pytest

from harness.capture.manager import CaptureManager
from harness.capture.spec import CaptureSpec
from harness.report.writer import write_all
from harness.runctx import Clock, PhaseWindow, RunContext
from tests.hotspots import assert_hot_line, own_lines
from tests.images import build_go_image

from .conftest import LABELS, start_service

pytestmark = [pytest.mark.docker, pytest.mark.slow]
PILEAPP = Path(__file__).parent / "pileapp"
PILE_LINE = next(i for i, text in enumerate((PILEAPP / "main.go").read_text().splitlines(), 1)
                 if "// PILE LINE" in text)
PHASE = PhaseWindow("main", 0.5, 10.5)
PILE_AT_S, PILED, HOLD_MS = 2.5, 300, 3000
PEAK_PATH = "profiles/main/api/goroutine-peak.pb.gz"


@pytest.fixture(scope="module")
def pileapp(docker_client):
    tag = build_go_image(docker_client, PILEAPP, "harness-test-pileapp", LABELS)
    svc = start_service(docker_client, tag)
    yield dataclasses.replace(svc, source_root=str(PILEAPP), module="example.com/pileapp")
    docker_client.containers.get(svc.container_id).remove(force=True)
    docker_client.images.remove(tag, force=True)


def _sleep_until(rc: RunContext, t_s: float) -> None:
    delay = t_s - rc.clock.now()
    if delay > 0:
        time.sleep(delay)


@pytest.fixture(scope="module")
def run(pileapp, tmp_path_factory):
    """(run directory, run-clock time the pile-up request was sent)."""
    run_dir = tmp_path_factory.mktemp("run")
    clock = Clock.start()
    rc = RunContext.of("runtime", run_dir, clock, {"api": pileapp})
    manager = CaptureManager(CaptureSpec(pprof=("goroutine",), stats_interval=0), rc)
    manager.start()
    try:
        _sleep_until(rc, PHASE.start_s)
        manager.phase_start(PHASE)
        _sleep_until(rc, PHASE.start_s + PILE_AT_S)
        sent = clock.now()
        url = f"http://127.0.0.1:{pileapp.published[8080]}/pile?n={PILED}&hold_ms={HOLD_MS}"
        assert urllib.request.urlopen(url, timeout=10).read().startswith(f"{PILED} waiting".encode())
        _sleep_until(rc, PHASE.end_s)
        manager.phase_end(PHASE)
    finally:
        manager.stop()
    manifest = {"schema_version": 1, "run_id": "runtime", "scenario": {"name": "runtime"},
                "clock": clock.to_json(), "baseline_phase": "main",
                "phases": [{"name": PHASE.name, "start_s": PHASE.start_s, "end_s": PHASE.end_s, "faults": []}],
                "services": {"api": {"container": pileapp.container_id, "source_root": pileapp.source_root,
                                     "module": pileapp.module}},
                "artifacts": rc.artifacts.all(), "faults": [], "events": rc.events.all(),
                "result": {"status": "completed", "exit_code": 0, "end_s": clock.now()}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return run_dir, sent


def _artifacts(run_dir: Path, kind: str) -> list[dict]:
    return [a for a in json.loads((run_dir / "manifest.json").read_text())["artifacts"] if a["kind"] == kind]


def _phase_rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run_dir / "runtime" / "api.jsonl").read_text().splitlines()]
    return [r for r in rows if r["phase"] == PHASE.name]


def test_series_shows_the_pile_up_that_drained(run):
    run_dir, _sent = run
    rows = _phase_rows(run_dir)
    assert len(rows) >= 5, rows
    top = max(rows, key=lambda r: r["goroutines"])
    assert top["goroutines"] >= 200 and rows[-1]["goroutines"] < 50, [r["goroutines"] for r in rows]
    assert all(r["heap_inuse_bytes"] > 0 and isinstance(r["num_gc"], int) for r in rows), rows[-1]
    assert _artifacts(run_dir, "runtime")[0]["samples"] >= len(rows)


def test_peak_profile_puts_the_planted_line_on_top(run):
    run_dir, sent = run
    peaks = _artifacts(run_dir, "goroutine-peak")
    assert len(peaks) == 1, json.loads((run_dir / "manifest.json").read_text())["events"]
    peak = peaks[0]
    assert peak["path"] == PEAK_PATH and peak["phase"] == "main" and peak["goroutines"] >= 200, peak
    # the profile was asked for after the sampler saw the pile, which the request made
    assert peak["start_s"] >= sent and peak["sample_types"] == ["goroutine/count"]
    got = own_lines(run_dir / PEAK_PATH, "goroutine", is_own=lambda f: f.endswith("pileapp/main.go"))
    assert_hot_line(got, "main.go", PILE_LINE, min_share=0.5, min_samples=200)


def test_phase_end_snapshot_no_longer_holds_the_pile(run):
    run_dir, _sent = run
    snap = _artifacts(run_dir, "goroutine")[0]
    got = own_lines(run_dir / snap["path"], "goroutine", is_own=lambda f: f.endswith("pileapp/main.go"))
    assert got.samples < 50 and PILE_LINE not in [ln.line for ln in got.lines], got.table()


def test_summary_and_report_carry_the_peak(run):
    run_dir, _sent = run
    summary = write_all(run_dir)
    block = summary["phases"][0]["runtime"]["api"]
    assert block["goroutines"]["max"] >= 200 and block["goroutines"]["last"] < 50, block
    assert block["peak_profile"] == PEAK_PATH and block["heap_inuse_bytes"]["max"] > 0
    assert block["gc_per_s"] is not None and block["gc_pause_ms_per_s"] is not None
    html = (run_dir / "report.html").read_text()
    assert "<title>Goroutines</title>" in html and PEAK_PATH in html
