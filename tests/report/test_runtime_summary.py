"""The runtime block of summary.json and the runtime charts, from a synthetic run directory
(tests/report/synth.py plus runtime/api.jsonl and a goroutine-peak artifact)."""
from __future__ import annotations

import json

import pytest

from harness.report import summary as summary_mod
from harness.report.plots import FAULT_FILL
from harness.report.rundata import load_run
from harness.report.writer import write_all

from .synth import make_run

PEAK = "profiles/fault/api/goroutine-peak.pb.gz"


def _row(t, phase, goroutines, heap_mib, num_gc, pause_ms, frac=0.01):
    return {"t_s": t, "phase": phase, "goroutines": goroutines, "heap_inuse_bytes": heap_mib << 20,
            "heap_alloc_bytes": (heap_mib << 20) - 1000, "num_gc": num_gc, "gc_pause_total_ns": pause_ms * 1_000_000,
            "gc_cpu_fraction": frac}


ROWS = [  # baseline 0-5 s: flat; fault 5-10 s: a pile-up of goroutines at 7 s that drains by 9 s
    _row(1.0, "baseline", 10, 20, 4, 2), _row(2.0, "baseline", 12, 21, 6, 3), _row(3.0, "baseline", 10, 20, 8, 4),
    _row(4.0, "baseline", 11, 22, 10, 5),
    _row(5.5, "fault", 12, 22, 11, 6), _row(6.5, "fault", 150, 30, 15, 10, 0.05), _row(7.5, "fault", 310, 40, 19, 14),
    _row(8.5, "fault", 40, 30, 23, 18), _row(9.5, "fault", 11, 24, 27, 22),
]


@pytest.fixture
def run(tmp_path):
    run = make_run(tmp_path)
    (run / "runtime").mkdir()
    (run / "runtime" / "api.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["artifacts"].append({"kind": "goroutine-peak", "service": "api", "phase": "fault", "path": PEAK,
                                  "start_s": 7.5, "end_s": 7.52, "sample_types": ["goroutine/count"],
                                  "window": "snapshot", "t_s": 7.5, "goroutines": 310})
    manifest["artifacts"].append({"kind": "runtime", "service": "api", "path": "runtime/api.jsonl", "samples": 9})
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def _phase(summary, name):
    return next(p for p in summary["phases"] if p["name"] == name)


def test_runtime_block_per_phase_and_service(run):
    s = summary_mod.build(load_run(run))
    fault = _phase(s, "fault")["runtime"]["api"]
    assert fault == {
        "samples": 5,
        "goroutines": {"first": 12, "last": 11, "min": 11, "max": 310, "mean": 104.6, "t_max_s": 7.5},
        "heap_inuse_bytes": {"first": 22 << 20, "last": 24 << 20, "max": 40 << 20, "mean": round(29.2 * 2**20)},
        "gc_per_s": 4.0,                  # 16 cycles over the 4 s from 5.5 to 9.5
        "gc_pause_ms_per_s": 4.0,         # 16 ms of pauses over the same 4 s
        "gc_cpu_fraction_max": 0.05,
        "peak_profile": PEAK,
    }
    base = _phase(s, "baseline")["runtime"]["api"]
    assert base["samples"] == 4 and base["goroutines"]["max"] == 12 and base["peak_profile"] is None
    assert base["gc_per_s"] == 2.0


def test_a_restart_resets_the_counters_without_a_negative_rate(tmp_path, run):
    rows = [_row(5.5, "fault", 12, 22, 40, 30), _row(6.5, "fault", 12, 22, 44, 34),
            _row(7.5, "fault", 5, 2, 1, 1), _row(8.5, "fault", 6, 3, 3, 2)]     # new process at 7.5 s
    (run / "runtime" / "api.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    fault = _phase(summary_mod.build(load_run(run)), "fault")["runtime"]["api"]
    assert fault["gc_per_s"] == pytest.approx((4 + 1 + 2) / 3, abs=1e-3)
    assert fault["gc_pause_ms_per_s"] == pytest.approx((4 + 1 + 1) / 3, abs=1e-3)


def test_bad_rows_are_left_out_and_named(run):
    with open(run / "runtime" / "api.jsonl", "a") as f:
        f.write('{"t_s": 9.8, "phase": "fault", "goroutines": "many", "heap_inuse_bytes": null}\n')
        f.write('{"phase": "fault", "goroutines": 9000}\n')           # no t_s
        f.write('[1, 2]\n{"t_s": 9.9, "goroutines": 12, "heap_\n')      # not an object; cut short
    data = load_run(run)
    assert len(data.runtime["api"]) == len(ROWS) + 1 and data.runtime["api"][-1]["goroutines"] is None
    assert sum("runtime/api.jsonl" in p or "api.jsonl:" in p for p in data.problems) == 3, data.problems
    fault = _phase(summary_mod.build(data), "fault")["runtime"]["api"]
    assert fault["samples"] == 6 and fault["goroutines"]["max"] == 310 and fault["goroutines"]["last"] == 11


def test_no_runtime_files_give_an_empty_block(tmp_path):
    s = summary_mod.build(load_run(make_run(tmp_path)))
    assert all(p["runtime"] == {} for p in s["phases"])


def test_report_draws_goroutines_and_heap_with_shading_and_lists_the_peak(run):
    write_all(run)
    html = (run / "report.html").read_text()
    section = html[html.index("<h2>Runtime over run time</h2>"):]
    charts = section.split("<svg")[1:3]
    assert len(charts) == 2 and "<title>Goroutines</title>" in charts[0] and "<title>Heap in use</title>" in charts[1]
    for chart in charts:
        assert f'fill="{FAULT_FILL}"' in chart and 'class="phase"' in chart and "<polyline" in chart
    assert "40 MiB" in charts[1]                 # the axis top of a 40 MiB peak, in MiB
    assert "310 goroutines at 7.5s" in section and PEAK in section
