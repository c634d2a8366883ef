"""`harness run` end to end against the real engine: the run directory, the planted hot
line, teardown after success, failure, SIGINT and SIGTERM."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.demo_scenario import BUSY_WORK_AND_FETCH, hot_line, scenario, slow_store
from tests.env.conftest import DEMO, REPO, project_resources
from tests.hotspots import assert_hot_line, own_lines

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EMPTY = {"containers": [], "networks": [], "volumes": [], "images": []}


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def wait_until(p: subprocess.Popen, what: str, check, timeout: float):
    """check()'s first true answer, polled while the harness `p` still runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        assert p.poll() is None, f"the harness ended before {what}"
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout:g}s")


def wait_for_event(p: subprocess.Popen, runs: Path, kind: str, timeout: float = 180, count: int = 1) -> Path:
    """The run's events.jsonl once it records `kind` (`count` times), while the harness `p` still runs."""
    def check():
        found = list(runs.glob("*/events.jsonl")) if runs.exists() else []
        return found[0] if found and found[0].read_text().count(f'"kind": "{kind}"') >= count else None
    return wait_until(p, f"'{kind}' event", check, timeout)


def wait_for_load(p: subprocess.Popen, history: Path, seconds: int, timeout: float = 60) -> None:
    """Until `seconds` per-second load records with requests are written, while `p` still runs."""
    def check() -> bool:
        text = history.read_text() if history.exists() else ""
        complete = text[:text.rfind("\n") + 1].splitlines()      # a line being written is left out
        return sum(1 for line in complete if json.loads(line).get("sent", 0) > 0) >= seconds
    wait_until(p, f"{seconds} seconds of load in {history}", check, timeout)


def only_run_dir(runs: Path) -> Path:
    dirs = [d for d in runs.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_run_writes_run_directory_and_tears_down(tmp_path):
    sc = scenario(tmp_path, phases="phases:\n  - {name: baseline, duration: 5s}\n  - {name: steady, duration: 6s}",
                  requests=BUSY_WORK_AND_FETCH)
    runs = tmp_path / "runs"
    res = run_cli("run", str(sc), "--runs-dir", str(runs), "--json")
    assert res.returncode == 0, res.stderr + res.stdout
    out = json.loads(res.stdout)
    assert out["status"] == "completed"
    run_dir = Path(out["run_dir"])
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["schema_version"] == 1
    assert [p["name"] for p in m["phases"]] == ["baseline", "steady"]
    b, s = m["phases"]
    assert s["start_s"] == pytest.approx(b["end_s"]) and b["end_s"] - b["start_s"] == pytest.approx(5.0)
    assert s["end_s"] - s["start_s"] == pytest.approx(6.0)
    assert m["clock"]["mono_t0"] > 0 and m["clock"]["wall_t0_iso"].endswith("Z")
    assert m["services"]["api"]["limits_applied"]["memory"] == 128 << 20
    assert m["services"]["api"]["module"] == "example.com/demo"
    assert "main.go" in m["services"]["api"]["source_hashes"]
    kinds = {(a["kind"], a["phase"], a["service"]) for a in m["artifacts"]}
    for phase in ("baseline", "steady"):
        for kind in ("cpu", "heap", "allocs", "goroutine"):
            assert (kind, phase, "api") in kinds
    for a in m["artifacts"]:
        assert (run_dir / a["path"]).exists(), a
    for name in ("load/history.jsonl", "load/stats.json", "stats/containers.jsonl", "report.html",
                 "summary.json", "junit.xml", "compose.override.yml", "scenario.yaml"):
        assert (run_dir / name).exists(), name
    # the CPU profile opens with go tool pprof, and the planted line is the top own-code line
    cpu = run_dir / "profiles/steady/api/cpu.pb.gz"
    go = Path(sys.executable).parent / "go"
    top = subprocess.run([str(go), "tool", "pprof", "-top", "-lines", str(cpu)], capture_output=True,
                         text=True, timeout=120)
    assert top.returncode == 0, top.stderr
    assert "main.checksum" in top.stdout
    own = str(DEMO)
    got = own_lines(cpu, "cpu", is_own=lambda f: f.startswith(own))
    assert_hot_line(got, "main.go", hot_line(), min_share=0.5, min_samples=200)
    assert project_resources(m["compose_project"]) == EMPTY


def test_failing_readiness_exits_with_reason_and_leaves_nothing(tmp_path):
    sc = scenario(tmp_path, phases="duration: 5s", ready="{http: /missing, timeout: 3s}")
    runs = tmp_path / "runs"
    res = run_cli("run", str(sc), "--runs-dir", str(runs), "--quiet")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "service 'api' was not ready within 3s" in res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    m = json.loads((only_run_dir(runs) / "manifest.json").read_text())
    assert m["result"]["status"] == "failed"
    assert project_resources(m["compose_project"]) == EMPTY


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_in_the_middle_of_the_load_tears_down(tmp_path, sig):
    sc = scenario(tmp_path, phases="duration: 60s")
    runs = tmp_path / "runs"
    # SIGINT as a terminal sends it: a test runner started in the background of a script
    # inherits SIGINT ignored, and so would the harness without the reset
    p = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(sc), "--runs-dir", str(runs),
                          "--quiet"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        events = wait_for_event(p, runs, "phase-start")
        wait_for_load(p, events.parent / "load" / "history.jsonl", seconds=2)   # in the middle of the load
        p.send_signal(sig)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, out + err
    m = json.loads((events.parent / "manifest.json").read_text())
    assert m["result"]["status"] == "interrupted"
    assert project_resources(m["compose_project"]) == EMPTY
    assert "Traceback" not in out + err


def test_sigkill_of_the_harness_during_a_fault_leaves_nothing(tmp_path):
    """The watchdog reverts the fault and removes the environment when the harness is SIGKILLed."""
    sc = scenario(tmp_path, phases=slow_store(3, 60))
    runs = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(sc), "--runs-dir", str(runs),
                          "--quiet"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        events = wait_for_event(p, runs, "fault-applied")
    finally:
        p.kill()
        p.wait(timeout=30)
    run_dir = events.parent
    project = json.loads((run_dir / "manifest.json").read_text())["compose_project"]
    killed = time.monotonic()
    while time.monotonic() - killed < 60 and project_resources(project) != EMPTY:
        time.sleep(0.5)
    took = time.monotonic() - killed
    assert project_resources(project) == EMPTY, f"still there after {took:.0f}s"
    ledger = [json.loads(line) for line in (run_dir / "faults.ledger").read_text().splitlines() if line]
    assert ledger and ledger[-1]["state"] == "reverted", ledger
    # no proxy process of the run is left
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(run_dir) not in ps


def test_delay_reaches_kept_alive_connections(tmp_path):
    """The API keeps a pool of connections to the store. A delay fault on the store must slow
    the calls over connections that were open before it started, not only new ones."""
    sc = scenario(tmp_path, phases=slow_store(4, 6), rate=20,
                  requests="    - {name: fetch, method: GET, path: /fetch}")
    res = run_cli("run", str(sc), "--runs-dir", str(tmp_path / "runs"), "--json")
    assert res.returncode == 0, res.stderr + res.stdout
    run_dir = Path(json.loads(res.stdout)["run_dir"])
    stats = json.loads((run_dir / "load" / "stats.json").read_text())
    fetch = {ph: next(e for e in v["endpoints"] if e["name"] == "fetch") for ph, v in stats["phases"].items()}
    assert fetch["baseline"]["p50_ms"] < 50, fetch["baseline"]
    assert fetch["slow"]["p50_ms"] >= 95, fetch["slow"]


def test_a_load_that_sends_nothing_fails_the_run(tmp_path):
    """Every request raising inside the generator used to end as "completed", exit 0."""
    lf = tmp_path / "broken.py"
    lf.write_text("from locust import FastHttpUser, constant, task\n\n"
                  "class Broken(FastHttpUser):\n    wait_time = constant(0.05)\n\n"
                  "    @task\n    def t(self):\n        raise RuntimeError('broken task')\n")
    sc = scenario(tmp_path, phases="duration: 3s", store="",
                  model=f"  model: closed\n  users: 2\n  locustfile: {lf}")
    runs = tmp_path / "runs"
    res = run_cli("run", str(sc), "--runs-dir", str(runs), "--json")
    assert res.returncode == 2, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "failed" and "the load generator sent no request" in out["reason"]
    m = json.loads((Path(out["run_dir"]) / "manifest.json").read_text())
    assert m["result"]["exit_code"] == 2 and project_resources(m["compose_project"]) == EMPTY
