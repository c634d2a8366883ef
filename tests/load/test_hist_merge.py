"""Histograms, the worker's Recorder and the runner's merging: pure logic, known values."""
from __future__ import annotations

import gzip
import json
import random

import pytest

from harness.load import hist as H
from harness.load.merge import HistoryMerger, build_stats
from harness.load.recorder import RawLog, Recorder
from harness.load.schedule import Phase, PhaseTable

from .helpers import exact_percentile

PCTS = {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p99.9": 99.9}


def _within_precision(got_ms: float, true_s: float, sig: int = 3) -> bool:
    true_ms = true_s * 1000.0
    return abs(got_ms - true_ms) <= true_ms * 10 ** -sig + 0.001 + 0.0005  # + 1 us resolution + rounding


@pytest.mark.parametrize("sig", [2, 3, 4])
def test_percentiles_of_known_latencies_are_exact_to_the_stated_precision(sig):
    rng = random.Random(7)
    values = [rng.choice([0.000250, 0.0009, 0.0031, 0.047, 2.8]) * rng.uniform(0.9, 1.1) for _ in range(5000)]
    h = H.new_hist(sig)
    for v in values:
        H.record_s(h, v)
    got, ordered = H.summary_ms(h), sorted(values)
    for key, pct in PCTS.items():
        assert _within_precision(got[key], exact_percentile(ordered, pct), sig), (key, got[key])
    assert _within_precision(got["max"], ordered[-1], sig) and got["count"] == 5000


def test_sub_millisecond_values_keep_their_detail():
    h = H.new_hist(3)
    for us in (101, 250, 377, 999):
        H.record_s(h, us / 1e6)
    assert [H.summary_ms(h)[k] for k in ("min", "p50", "max")] == [0.101, 0.25, 0.999]


def test_merged_encodings_equal_one_histogram_of_everything():
    parts = [[0.001 * (i + 1) for i in range(n, n + 100)] for n in (0, 100, 200)]
    encoded, whole = [], H.new_hist()
    for part in parts:
        h = H.new_hist()
        for v in part:
            H.record_s(h, v)
            H.record_s(whole, v)
        encoded.append(H.encode(h))
    assert H.summary_ms(H.merge(encoded)) == H.summary_ms(whole)
    assert H.summary_ms(None)["p99"] is None


PHASES = PhaseTable([Phase("baseline", 0.0, 2.0), Phase("fault", 2.0, 4.0)])


def test_recorder_files_by_intended_phase_and_completion_second(tmp_path):
    raw = RawLog(str(tmp_path / "r.jsonl.gz"))
    rec = Recorder(PHASES, basis="intended", raw=raw)
    # intended in baseline, sent late, completed in the fault phase's first second
    rec.record("a", "GET", intended=1.9, sent=1.95, end=2.4, ok=True, status=200)
    rec.record("a", "GET", intended=2.1, sent=2.1, end=2.2, ok=False, status=503, error="HTTP 503")
    rec.note_sent(1.9, at=1.95)
    rec.note_delayed(2.1, at=3.5)
    rec.note_lag(2.1, 0.02)
    rec.close()
    fin = rec.final()
    cells = {b["phase"]: b for b in fin["buckets"]}
    assert set(cells) == {"baseline", "fault"} and cells["fault"]["errors"] == {"HTTP 503": 1}
    assert H.summary_ms(H.merge([cells["baseline"]["intended"]]))["p50"] == pytest.approx(500, rel=1e-3)
    assert H.summary_ms(H.merge([cells["baseline"]["actual"]]))["p50"] == pytest.approx(450, rel=1e-3)
    assert fin["phase_counts"] == {"baseline": {"sent": 1, "dropped": 0, "delayed": 0},
                                   "fault": {"sent": 0, "dropped": 0, "delayed": 1}}
    s2 = rec.pop_second(2)
    assert (s2["count"], s2["failures"], s2["lag_ms"]) == (2, 1, 20.0)
    assert rec.pop_second(3)["delayed"] == 1 and rec.pop_second(1)["sent"] == 1
    assert rec.pop_second(9)["count"] == 0
    with gzip.open(tmp_path / "r.jsonl.gz", "rt") as f:
        lines = [json.loads(x) for x in f]
    assert lines[0] == {"name": "a", "method": "GET", "intended_s": 1.9, "sent_s": 1.95, "end_s": 2.4, "status": 200,
                        "ok": True, "error": None}


def test_closed_basis_uses_actual_latency_per_second():
    rec = Recorder(PHASES, basis="actual")
    rec.record("a", "GET", intended=0.5, sent=0.5, end=0.6, ok=True)
    assert H.summary_ms(H.merge([rec.pop_second(0)["hist"]]))["p50"] == pytest.approx(100, rel=1e-3)
    with pytest.raises(ValueError):
        Recorder(PHASES, basis="wall")


def _second(t, count, lat_s, **extra):
    h = H.new_hist()
    for _ in range(count):
        H.record_s(h, lat_s)
    rec = {"type": "second", "t": t, "count": count, "failures": 0, "sent": count, "dropped": 0,
           "delayed": 0, "lag_ms": 0.0, "hist": H.encode(h), "users": 1, "inflight": 1,
           "target_rps": 100.0, "cpu": 0.2, "saturated": False, "reasons": []}
    rec.update(extra)
    return rec


def test_history_waits_for_every_running_worker_then_sums():
    m = HistoryMerger(2, PHASES)
    assert m.add(0, _second(0, 10, 0.001)) == []
    lines = m.add(1, _second(0, 30, 0.003, cpu=0.95, saturated=True, reasons=["generator CPU 95% of a core"]))
    assert len(lines) == 1
    line = lines[0]
    assert (line["t_s"], line["phase"], line["rps"], line["target_rps"]) == (0.0, "baseline", 40.0, 200.0)
    assert line["p50_ms"] == pytest.approx(3.0, rel=1e-3) and line["gen_cpu"] == 0.95
    assert line["gen_saturated"] and line["gen_reasons"] == ["generator CPU 95% of a core"]
    assert m.add(0, _second(1, 1, 0.001)) == []
    assert [x["t_s"] for x in m.worker_done(1)] == [1.0]      # a finished worker is not waited for
    m.add(0, _second(4, 1, 0.001))
    assert m.flush() == [] and m.pending == {}
    late = HistoryMerger(1, PHASES).add(0, _second(4, 1, 0.001))[0]
    assert late["phase"] == "fault" and late["drain"] is True


def test_stats_merge_workers_per_endpoint_and_phase():
    finals = []
    for w in range(2):
        rec = Recorder(PHASES, basis="intended")
        for i in range(100):
            rec.record("a", "GET", intended=0.5, sent=0.5, end=0.5 + 0.001 * (i + 1) * (w + 1), ok=True)
            rec.record("b", "POST", intended=2.5, sent=2.6, end=3.0, ok=i % 10 != 0, status=500, error="HTTP 500")
            rec.note_sent(0.5, at=0.5)
        rec.note_dropped(3.0, at=3.0)
        finals.append(rec.final() | {"cpu": [[0, 0.3 + w], [1, 0.2]], "skipped_late_start": 0})
    history = [{"t_s": 1.0, "phase": "baseline", "rps": 200.0, "gen_saturated": True, "gen_reasons": ["x"],
                "lag_ms": 3.0},
               {"t_s": 2.0, "phase": "fault", "rps": 150.0}, {"t_s": 3.0, "phase": "fault", "rps": 50.0},
               {"t_s": 4.0, "phase": "fault", "rps": 999.0, "drain": True}]
    stats = build_stats(finals, history, model="open", basis="intended", sig=3, phases=PHASES,
                        rate_of=lambda p: 100.0, target_url="http://127.0.0.1:1", incomplete=False)
    assert stats["latency_basis"] == "intended" and stats["workers"] == 2
    tot = stats["totals"]
    assert (tot["requests"], tot["failures"], tot["sent"], tot["dropped"]) == (400, 20, 200, 2)
    a = next(e for e in stats["endpoints"] if e["name"] == "a")
    assert a["requests"] == 200 and a["latency_ms"]["max"] == pytest.approx(200, rel=1e-3)
    assert a["latency_ms"]["p50"] == pytest.approx(exact_percentile(
        sorted([0.001 * (i + 1) * (w + 1) for w in range(2) for i in range(100)]), 50) * 1000, rel=1e-3)
    fault = stats["phases"]["fault"]
    assert fault["requests"] == 200 and fault["errors"] == {"HTTP 500": 20}
    assert fault["latency_ms"]["p50"] == pytest.approx(500, rel=1e-3)
    assert fault["actual_ms"]["p50"] == pytest.approx(400, rel=1e-3)
    assert fault["achieved_rps"] == 100.0 and fault["target_rps"] == 100.0 and fault["dropped"] == 2
    assert fault["completed_in_window"] == 200 and tot["completed_in_window"] == 400
    gen = stats["generator"]
    assert gen["max_cpu"] == 1.3 and gen["saturated"] and gen["saturated_seconds"][0]["t_s"] == 1.0


@pytest.mark.parametrize("cpu, lag, loop, expected", [
    (0.5, 1.0, 2.0, []),
    (0.95, 1.0, 2.0, ["generator CPU 95% of a core"]),
    (0.2, 120.0, 2.0, ["120 ms behind schedule"]),
    (0.2, 0.0, 75.0, ["event loop 75 ms late"]),
])
def test_saturation_reasons(cpu, lag, loop, expected):
    from harness.load.recorder import saturation_reasons
    assert saturation_reasons(cpu, lag, loop) == expected


def test_stats_carry_flat_keys_for_the_report():
    rec = Recorder(PHASES, basis="intended")
    for i in range(10):
        rec.record("a", "GET", intended=2.5, sent=2.5, end=2.5 + 0.01 * (i + 1), ok=i != 0, status=500)
    history = [{"t_s": 2.0, "phase": "fault", "rps": 10.0}, {"t_s": 3.0, "phase": "fault", "rps": 0.0}]
    stats = build_stats([rec.final()], history, model="open", basis="intended", sig=3, phases=PHASES,
                        rate_of=lambda p: 5.0, target_url="http://127.0.0.1:1", incomplete=False)
    fault = stats["phases"]["fault"]
    assert fault["p99_ms"] == fault["latency_ms"]["p99"] == pytest.approx(100, rel=1e-3)
    assert fault["rps"] == 5.0 and fault["error_rate"] == 0.1
    (ep,) = fault["endpoints"]
    assert (ep["name"], ep["requests"], ep["failures"], ep["rps"]) == ("a", 10, 1, 5.0)
    assert ep["p50_ms"] == pytest.approx(50, rel=1e-3)
    assert stats["phases"]["baseline"]["endpoints"] == [] and stats["phases"]["baseline"]["p99_ms"] is None
