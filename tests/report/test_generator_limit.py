"""The verdict says when the load generator, not the service, was the limit (summaries built
by hand and a synthetic run; the per-second saturation marks themselves come from real load
workers in tests/load)."""
from __future__ import annotations

import json

from harness.judge import verdict
from harness.report import verdict_view
from harness.report.summary import generator_figures
from harness.report.writer import write_all

from .synth import make_run
from .test_not_judged import load

CPU = "generator CPU 97% of a core"


def gen(n: int, of: int = 10) -> dict:
    return {"saturated_s": n, "seconds": of, "max_cpu": 0.97, "reasons": [CPU]}


def phase_entry(summary: dict, phase: str = "fault") -> dict:
    return next(p for p in verdict.build(summary)["phases"] if p["phase"] == phase)


def summary_of(base_gen: dict | None, fault_gen: dict | None, fault_p50: float = 50.0) -> dict:
    base = {"name": "baseline", "load": load(500, 0) | ({"generator": base_gen} if base_gen else {})}
    fault = {"name": "fault", "load": load(500, 0, p50=fault_p50) | ({"generator": fault_gen} if fault_gen else {})}
    return {"baseline_phase": "baseline", "phases": [base, fault]}


def test_figures_count_the_saturated_seconds_of_the_phase():
    rows = [{"t_s": t, "gen_saturated": t in (3, 4, 6), "gen_cpu": 0.5 + t / 20,
             "gen_reasons": [CPU, "80 ms behind schedule"] if t == 4 else [CPU] if t in (3, 6) else []}
            for t in range(10)]
    got = generator_figures(rows)
    assert got == {"saturated_s": 3, "seconds": 10, "max_cpu": 0.95,
                   "reasons": [CPU, "80 ms behind schedule"]}
    assert generator_figures([{"t_s": 1, "gen_saturated": False}]) is None


def test_a_generator_limited_phase_with_no_other_explanation_says_so_first():
    entry = phase_entry(summary_of(None, gen(6)))
    first = entry["findings"][0]
    assert first["kind"] == "generator" and "6 of 10 s of this phase" in first["message"]
    assert CPU in first["message"] and "load.workers" in first["message"]
    assert entry["headline"].startswith("the load generator was the limit for 6 of 10 s: p99")
    assert entry["findings"][1]["kind"] == "symptom"


def test_a_few_saturated_seconds_are_a_caveat_after_the_findings():
    entry = phase_entry(summary_of(None, gen(2)))
    kinds = [f["kind"] for f in entry["findings"]]
    assert kinds[0] == "symptom" and kinds[-1] == "generator"
    # nothing changed: the calm finding stays first, the caveat follows
    calm = phase_entry(summary_of(None, gen(2), fault_p50=5.0))
    assert [f["kind"] for f in calm["findings"]] == ["no-change", "generator"]


def test_a_generator_limited_baseline_is_named_in_the_phase_compared_with_it():
    entry = phase_entry(summary_of(gen(7), None))
    (g,) = [f for f in entry["findings"] if f["kind"] == "generator"]
    assert "of the baseline (baseline)" in g["message"] and entry["findings"][0]["kind"] == "symptom"


def test_a_run_whose_history_marks_the_generator_says_it_in_summary_report_and_text(tmp_path):
    run = make_run(tmp_path)
    rows = [json.loads(x) for x in (run / "load" / "history.jsonl").read_text().splitlines()]
    for r in rows:
        hot = r["phase"] == "fault" and r["t_s"] >= 7
        r.update(gen_saturated=hot, gen_cpu=0.97 if hot else 0.2, gen_reasons=[CPU] if hot else [])
    (run / "load" / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = write_all(run)
    fault = next(p for p in summary["phases"] if p["name"] == "fault")
    assert fault["load"]["generator"]["saturated_s"] == 4
    assert "generator" not in next(p for p in summary["phases"] if p["name"] == "baseline")["load"]
    text = "\n".join(verdict_view.text_lines(summary))
    assert "[generator] the load generator was the limit for 4 of 5 s of this phase" in text
    assert "the load generator was the limit" in (run / "report.html").read_text()
