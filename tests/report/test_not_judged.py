"""What the verdict and the expectations do not judge, and errors that count however high the
baseline's were (summaries built by hand; the real runs are in tests/load/test_phase_figures.py
and tests/e2e)."""
from __future__ import annotations

import json

from harness.judge import verdict
from harness.report.writer import write_all

from .synth import make_run
from .test_expect_incident import judge


def load(requests, failures, p50=5.0, rps=50.0):
    return {"requests": requests, "failures": failures, "error_rate": failures / requests if requests else None,
            "p50_ms": p50, "p95_ms": p50 * 2, "p99_ms": p50 * 3, "max_ms": p50 * 4, "rps": rps, "approx": False}


def first(summary: dict, phase: str = "fault") -> dict:
    entry = next(p for p in verdict.build(summary)["phases"] if p["phase"] == phase)
    return entry["findings"][0]


def test_errors_count_however_high_the_baseline_was():
    base = {"name": "baseline", "load": load(500, 309)}          # 61.8%
    for fault in (load(500, 500), load(3, 3)):                    # 100%: of many, and of a few
        got = first({"baseline_phase": "baseline", "phases": [base, {"name": "fault", "load": fault}]})
        assert got["kind"] == "symptom" and "error_rate" in got["evidence"]["worse"], got
        assert "61.8% → 100%" in got["message"]


def test_one_more_failure_in_a_few_requests_is_not_a_symptom():
    base = {"name": "baseline", "load": load(500, 0)}
    got = first({"baseline_phase": "baseline", "phases": [base, {"name": "fault", "load": load(100, 1)}]})
    assert got["kind"] == "no-change", got


def test_a_phase_the_run_ended_in_is_not_judged():
    base = {"name": "baseline", "load": load(500, 0), "finished": True}
    cut = {"name": "fault", "load": load(40, 0, p50=900.0), "finished": False}
    summary = {"baseline_phase": "baseline", "phases": [base, cut]}
    got = first(summary)
    assert got["kind"] == "not-judged" and "did not finish" in got["message"], got
    exp = judge("expect:\n  - phase: fault\n    latency: {p50: 10ms}\n", summary)
    assert exp["failed"] == 0 and exp["skipped"] == 1, exp
    assert "did not finish" in exp["checks"][0]["message"]


def test_phase_end_events_say_which_phases_finished(tmp_path):
    run = make_run(tmp_path)
    m = json.loads((run / "manifest.json").read_text())
    m["events"] += [{"t_s": 0.0, "kind": "phase-start", "detail": "baseline"},
                    {"t_s": 5.0, "kind": "phase-end", "detail": "baseline"},
                    {"t_s": 5.0, "kind": "phase-start", "detail": "fault"}]      # interrupted in fault
    m["result"] = {"status": "interrupted", "exit_code": 130, "end_s": 7.0}
    (run / "manifest.json").write_text(json.dumps(m))
    summary = write_all(run)
    assert [p["finished"] for p in summary["phases"]] == [True, False]
    (fault,) = [p for p in summary["verdict"]["phases"] if p["phase"] == "fault"]
    assert fault["headline"].startswith("not judged: this phase did not finish")
