"""LoadRunner's bookkeeping without workers: live saturation events, latest(), config."""
from __future__ import annotations

from harness.load.runner import LoadRunner
from harness.load.spec import LoadSpec, RateSegment, RequestSpec

from .helpers import run_context


def _runner(tmp_path, **kw):
    rc, phases = run_context(tmp_path, [("baseline", 0.0, 2.0), ("fault", 2.0, 4.0)])
    spec = LoadSpec(model="open", url="http://127.0.0.1:1", requests=(RequestSpec("a", "GET", "/"),),
                    rates=(("baseline", RateSegment(10, 10)), ("fault", RateSegment(20, 40))), **kw)
    runner = LoadRunner(spec, rc, "http://127.0.0.1:1")
    runner._set_phases(phases)          # what start() does with the windows it is given
    return runner, rc


def _line(t, saturated, reasons=()):
    return {"t_s": t, "gen_saturated": saturated, "gen_reasons": list(reasons), "rps": 1.0}


def test_saturation_is_announced_once_when_it_starts_and_when_it_ends(tmp_path):
    runner, rc = _runner(tmp_path)
    assert runner.latest() is None
    runner._write_history([_line(0.0, False), _line(1.0, True, ["generator CPU 97% of a core"]),
                           _line(2.0, True, ["generator CPU 99% of a core"]), _line(3.0, False)])
    events = [(e["kind"], e["t_s"], e["detail"]) for e in rc.events.all()]
    assert events == [("load-generator-saturated", 1.0, "generator CPU 97% of a core"),
                      ("load-generator-recovered", 3.0, "")]
    assert runner.latest()["t_s"] == 3.0
    runner.latest()["t_s"] = 99          # a copy: the display cannot change the runner's record
    assert runner.latest()["t_s"] == 3.0


def test_raw_log_parts_and_description(tmp_path):
    runner, _ = _runner(tmp_path, processes=2, raw_log=True)
    assert [runner._raw_part(i).rsplit("/", 1)[1] for i in range(2)] == \
        ["requests-0.jsonl.gz", "requests-1.jsonl.gz"]
    one, _ = _runner(tmp_path / "one", raw_log=True)
    assert one._raw_part(0).endswith("load/requests.jsonl.gz")
    assert runner._phase_rate("fault") == 30.0 and "baseline: 10/s, fault: 30/s" in runner._describe()


def test_stop_before_start_is_harmless(tmp_path):
    runner, _ = _runner(tmp_path)
    assert runner.stop() == {} and runner.stop() == {}


def test_start_without_phase_windows_is_a_clear_error(tmp_path):
    import pytest

    from harness.errors import HarnessError
    runner, rc = _runner(tmp_path)
    with pytest.raises(HarnessError) as info:
        runner.start([])
    assert "no phase windows" in info.value.what and runner._procs == []


def test_engine_side_modules_never_import_locust_or_gevent():
    """`import locust` monkey-patches the whole process: only the worker child may do it."""
    import subprocess
    import sys
    code = ("import sys, harness.load.spec, harness.load.runner, harness.load.merge, harness.load.worker\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent'))\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
