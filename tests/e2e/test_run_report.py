"""`harness run` with a baseline and a squeeze phase through the real engine: per-phase
profiles with their windows, a runtime trace and its derived views, perf converted to
pprof, the report's phase and fault shading (rendered in headless Chromium), and a failing
`expect` that makes the run exit 1 and is named in junit.xml."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import proc
from harness.report.plots import FAULT_FILL
from rundir.pprof import load_profile
from tests.browser import screenshot_file
from tests.e2e.demo_scenario import hot_line, scenario, work_and
from tests.env.conftest import REPO, project_resources
from tests.hotspots import assert_agree, assert_hot_line, own_lines

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ARTEFACTS = REPO / "test-artifacts" / "report"

SCENARIO = dict(
    name="squeeze", store="",
    # the baseline's 6 s CPU window: some 380 samples; the squeeze asks for less than its 0.2
    # cores, so that the service (and its pprof handler) stays responsive
    requests=work_and(32_000_000, "lock"), rate="{baseline: 40, squeeze: 4}",
    phases="""phases:
  - {name: baseline, duration: 7s}
  - name: squeeze
    duration: 6s
    faults:
      - {kind: cpu, target: api, cpus: 0.2}""",
    captures="""  pprof: [cpu, heap, allocs, goroutine, block, mutex]
  services: [api]
  rates: {url: /debug/harness/rates, block: 10000, mutex: 5}
  trace: {phases: [squeeze], seconds: 2}
  perf: {phases: [baseline]}""",
    # one expectation that holds (with room for a machine so loaded that the baseline sheds
    # requests) and one that cannot
    expect="""expect:
  - phase: baseline
    error_rate: 50%
  - phase: squeeze
    latency: {p50: 1ms}""",
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    sc = scenario(tmp, **SCENARIO)
    res = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(sc), "--runs-dir", str(tmp / "runs"),
                          "--json"], capture_output=True, text=True, timeout=600, cwd=REPO)
    out = json.loads(res.stdout)
    run_dir = Path(out["run_dir"])
    return res, out, run_dir, json.loads((run_dir / "manifest.json").read_text())


def _artifact(m: dict, kind: str, phase: str) -> dict:
    return next(a for a in m["artifacts"] if a["kind"] == kind and a["phase"] == phase and a["service"] == "api")


def _phase(m: dict, name: str) -> dict:
    return next(p for p in m["phases"] if p["name"] == name)


def _own_lines(path: Path):
    return own_lines(path, "cpu", is_own=lambda f: f.endswith("compose/demo/main.go"))


def test_failing_expectation_exits_1_and_junit_names_it(run):
    res, out, run_dir, m = run
    assert res.returncode == 1, res.stderr
    assert out["status"] == "completed" and "expectation" in out["reason"]
    junit = (run_dir / "junit.xml").read_text()
    assert 'failures="1"' in junit and "squeeze: latency p50" in junit and "over by" in junit
    assert project_resources(m["compose_project"])["containers"] == []


def test_the_outcome_is_the_same_in_every_file(run):
    """manifest.json, summary.json, report.html and junit.xml agree on the exit code and why."""
    res, out, run_dir, m = run
    summary = json.loads((run_dir / "summary.json").read_text())
    result = m["result"]
    assert (result["status"], result["exit_code"]) == ("completed", 1) and "expectation" in result["reason"]
    assert {k: summary["result"][k] for k in ("status", "exit_code", "reason")} == \
        {k: result[k] for k in ("status", "exit_code", "reason")}
    assert res.returncode == out["exit_code"] == result["exit_code"] and out["reason"] == result["reason"]
    assert f"exit code 1 ({result['reason']})" in (run_dir / "report.html").read_text()
    junit = (run_dir / "junit.xml").read_text()
    assert '<property name="exit_code" value="1" />' in junit
    assert f'<property name="reason" value="{result["reason"]}" />' in junit


def test_per_phase_profiles_lie_in_their_windows(run):
    _res, _out, run_dir, m = run
    for phase, after in (("baseline", "squeeze"), ("squeeze", None)):
        ph = _phase(m, phase)
        # a window starts in its phase; its end comes when the service answers, which a loaded
        # machine and a squeezed quota delay by seconds (seen: a CPU window of the 0.2-CPU phase
        # ending 5.8 s late), so the end is bounded by the next phase's end, not by a time
        limit = _phase(m, after)["end_s"] if after else float("inf")
        for kind in ("cpu", "heap", "allocs", "goroutine", "block", "mutex"):
            a = _artifact(m, kind, phase)
            load_profile(run_dir / a["path"])
            assert ph["start_s"] - 0.05 <= a["start_s"] <= ph["end_s"] + 1.0, (kind, a, ph)
            assert a["start_s"] <= a["end_s"] < limit, (kind, a, ph)
    fault = m["faults"][0]
    squeeze = _phase(m, "squeeze")
    assert squeeze["start_s"] <= fault["applied_s"] < fault["reverted_s"] <= squeeze["end_s"] + 1.0


def test_trace_and_derived_views_parse(run):
    _res, _out, run_dir, m = run
    a = _artifact(m, "trace", "squeeze")
    summary = json.loads((run_dir / a["summary"]).read_text())
    assert summary["goroutines_created"] > 0
    for view in ("sched", "sync", "net", "syscall"):
        load_profile(run_dir / _artifact(m, f"trace-{view}", "squeeze")["path"])


def test_perf_opens_in_pprof_and_agrees_with_cpu(run):
    _res, _out, run_dir, m = run
    perf = run_dir / _artifact(m, "perf", "baseline")["path"]
    go = Path(sys.executable).parent / "go"
    top = proc.run([str(go), "tool", "pprof", "-top", "-lines", str(perf)], timeout=120)
    assert "main.go:" in top.stdout
    cpu = _own_lines(run_dir / _artifact(m, "cpu", "baseline")["path"])
    assert_hot_line(cpu, "main.go", hot_line(), min_share=0.5, min_samples=200)
    print("perf:", _own_lines(perf).table(), "\ncpu:", cpu.table())
    assert_agree(_own_lines(perf), cpu, hot_line())


def test_report_shows_phase_and_fault_shading(run):
    _res, _out, run_dir, _m = run
    counts = screenshot_file(run_dir / "report.html", ARTEFACTS / "engine-report.png")
    assert counts[bytes.fromhex(FAULT_FILL[1:])] > 2000, "fault shading not in the screenshot"
    assert counts[bytes.fromhex("eef2f7")] > 2000, "phase shading not in the screenshot"
