"""Every per-phase load figure in summary.json is what the raw request log gives for that phase's
window: one real run (Locust workers against the Go test server) with phases that start at
fractional run-clock times, a phase that sends nothing and a phase whose throughput the service
bounds, shared by the assertions below.

Found on services nobody here wrote: per-second history rows were given the phase in effect when
their second started, so a baseline read low, a zero-request phase reported the next phase's
first requests, and a drain row hid a 29% throughput drop."""
from __future__ import annotations

import math

import pytest

from harness.load.runner import LoadRunner, read_raw_log
from harness.load.spec import LoadSpec, RateSegment, RequestSpec
from harness.report import summary as summary_mod
from harness.report.rundata import load_run

from .helpers import Server, exact_percentile, run_context
from .test_runner_live import launch

SERIAL_US = 60_000          # /serial completes at most 1e6/60,000 = 16.7 requests a second
# (name, start, end) relative to a whole second: every boundary falls inside a second
PHASES = [("baseline", 0.37, 3.37), ("idle", 3.37, 5.37), ("bound", 5.37, 9.37)]
RATES = {"baseline": 10.0, "idle": 0.0, "bound": 40.0}
REQUESTS = (RequestSpec("serial", "GET", f"/serial?us={SERIAL_US}", weight=9),
            RequestSpec("fail", "GET", "/fail", weight=1))


@pytest.fixture(scope="module")
def run(server_binary, tmp_path_factory):
    """The run: (summary.json's data, the raw request log, the phases on the run clock)."""
    tmp = tmp_path_factory.mktemp("phase-figures")
    server = Server(server_binary)
    try:
        rc, phases = run_context(tmp, PHASES)
        spec = LoadSpec(model="open", url=server.url, raw_log=True, requests=REQUESTS, seed=7,
                        rates=tuple((n, RateSegment(r, r)) for n, r in RATES.items()))
        runner = LoadRunner(spec, rc, server.url)
        try:
            base = launch(runner, rc, phases)
            runner.wait(timeout=120)
        finally:
            runner.stop()
    finally:
        server.close()
    # on the run clock to the microsecond, as every record of the run is (5.37 + 3.0 is
    # 8.370000000000001 in floats: the arrival at 8.37, the phase's first, fell outside it)
    windows = [{"name": n, "start_s": round(a + base, 6), "end_s": round(b + base, 6), "faults": []}
               for n, a, b in PHASES]
    manifest = {"phases": windows, "baseline_phase": "baseline"}
    data = summary_mod.build(load_run(tmp, manifest))
    return data, read_raw_log(tmp / "load" / "requests.jsonl.gz"), {w["name"]: w for w in windows}


def _phase(data: dict, name: str) -> dict:
    return next(p for p in data["phases"] if p["name"] == name)


def test_phase_boundaries_are_fractional(run):
    _data, _raw, windows = run
    assert all(w["start_s"] != math.floor(w["start_s"]) for w in windows.values())


@pytest.mark.parametrize("name", ["baseline", "bound"])
def test_figures_equal_the_raw_log_of_the_window(run, name):
    data, raw, windows = run
    w, load = windows[name], _phase(data, name)["load"]
    issued = [r for r in raw if w["start_s"] <= r["intended_s"] < w["end_s"]]
    done_inside = [r for r in raw if w["start_s"] <= r["end_s"] < w["end_s"]]
    seconds = w["end_s"] - w["start_s"]
    assert issued, "the phase sent nothing"
    assert load["approx"] is False
    assert load["requests"] == len(issued)
    assert load["failures"] == sum(1 for r in issued if not r["ok"])
    assert load["error_rate"] == pytest.approx(load["failures"] / len(issued), abs=1e-6)
    assert load["rps"] == pytest.approx(len(done_inside) / seconds, abs=1e-3)
    assert load["seconds"] == pytest.approx(seconds, abs=1e-3)
    for ep in load["endpoints"]:        # and per endpoint
        mine = [r for r in issued if r["name"] == ep["name"]]
        assert ep["requests"] == len(mine) and ep["failures"] == sum(1 for r in mine if not r["ok"])
        done = sum(1 for r in done_inside if r["name"] == ep["name"])
        assert ep["rps"] == pytest.approx(done / seconds, abs=1e-3), ep
    assert {ep["name"] for ep in load["endpoints"]} == {"serial", "fail"}
    # quantiles by intended send time, within HdrHistogram's 3 significant digits
    values = sorted((r["end_s"] - r["intended_s"]) * 1000 for r in issued)
    for key, pct in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99), ("max_ms", 100)):
        true = exact_percentile(values, pct)
        assert abs(load[key] - true) <= true * 0.001 + 0.002, (key, load[key], true)


def test_a_phase_that_sent_nothing_reports_nothing_and_is_not_judged(run):
    data, raw, windows = run
    w, load = windows["idle"], _phase(data, "idle")["load"]
    assert not [r for r in raw if w["start_s"] <= r["intended_s"] < w["end_s"]]
    assert load["requests"] == 0 and load["failures"] == 0
    assert load["p50_ms"] is None and load["p99_ms"] is None and load["error_rate"] is None
    # its throughput is what completed inside its window: the baseline's stragglers, no more
    done_inside = [r for r in raw if w["start_s"] <= r["end_s"] < w["end_s"]]
    assert load["rps"] == pytest.approx(len(done_inside) / (w["end_s"] - w["start_s"]), abs=1e-3)
    (entry,) = [v for v in data["verdict"]["phases"] if v["phase"] == "idle"]
    assert entry["findings"][0]["kind"] == "not-judged", entry
    assert "no request was sent" in entry["headline"]


def test_a_throughput_bound_phase_shows_its_drop_and_the_verdict_names_it(run):
    data, _raw, _windows = run
    base, bound = _phase(data, "baseline")["load"], _phase(data, "bound")["load"]
    # the service completes at most 16.7 + 4 (failures) of the 40 asked for a second
    assert bound["target_rps"] == pytest.approx(40.0, abs=0.5)
    assert bound["rps"] < 0.7 * bound["target_rps"], bound
    assert base["rps"] > 0.85 * base["target_rps"], base
    (entry,) = [v for v in data["verdict"]["phases"] if v["phase"] == "bound"]
    symptom = next(f for f in entry["findings"] if f["kind"] == "symptom")
    assert "rps" in symptom["evidence"]["worse"], symptom
    assert "throughput" in symptom["message"] and "of 40 req/s" in symptom["message"], symptom["message"]
