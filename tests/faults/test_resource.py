"""Resource and process faults against the real engine: memory squeeze at a scheduled time
and restored, pause stalls requests during the window only, CPU quota/cpuset changed and
restored, pressure helpers inside the target's cgroup, kill/stop/restart."""
from __future__ import annotations

import threading
import time

import pytest

from harness.faults.controller import FaultController
from harness.faults.spec import FaultSpec
from harness.faults.stress import cgroup_dirs
from harness.faults.target import make_tag

from . import helpers
from .conftest import Env, helpers_wait

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def renv(docker_client, image):
    e = Env(docker_client, image, "res")
    e.add("target", mem_limit="256m", memswap_limit="512m")
    e.add("victim")
    helpers_wait(e)
    yield e
    e.close()


@pytest.fixture
def rctl(renv, tmp_path, docker_client):
    rc = helpers.run_context(tmp_path / "run", renv.services(), renv.project)
    fc = FaultController(rc, docker_client=docker_client)
    yield fc
    fc.revert_all()


def cg(renv, name: str, controller: str, file: str) -> str:
    pid = renv.info(name).pid
    d = next(d for d in cgroup_dirs(pid) if controller in d.parts[4].split(","))
    return (d / file).read_text().strip()


def at(clock, t_s: float) -> None:
    while clock.now() < t_s:
        time.sleep(0.005)


def test_memory_squeeze_at_scheduled_time_and_restored(renv, rctl):
    assert int(cg(renv, "target", "memory", "memory.limit_in_bytes")) == 256 << 20
    spec = FaultSpec(id="mem", kind="memory", target="target", params={"limit": 64 << 20, "swap": 0})
    assert rctl.preflight([spec]) == []
    at(rctl.rc.clock, 0.5)
    rec = rctl.apply(spec, "squeeze")
    assert int(cg(renv, "target", "memory", "memory.limit_in_bytes")) == 64 << 20
    assert 0.5 <= rec["applied_s"] <= 1.5
    at(rctl.rc.clock, 1.5)
    rctl.revert(spec)
    assert int(cg(renv, "target", "memory", "memory.limit_in_bytes")) == 256 << 20
    assert int(cg(renv, "target", "memory", "memory.memsw.limit_in_bytes")) == 512 << 20
    rec = rctl.records()[0]
    assert rec["backend"] == "docker" and 1.5 <= rec["reverted_s"] <= 2.5


def test_pause_stalls_requests_in_the_window_only(renv, rctl):
    ip = renv.ip("target")
    spec = FaultSpec(id="pause", kind="pause", target="target", params={})
    results = []

    def one():
        t0 = time.monotonic()
        helpers.get(ip, "/", timeout=10)
        results.append(time.monotonic() - t0)

    one()
    rctl.apply(spec, "pause")
    th = threading.Thread(target=one)
    th.start()
    time.sleep(1.5)
    rctl.revert(spec)
    th.join(10)
    one()
    assert results[0] < 0.2 and results[2] < 0.2, results
    assert 1.2 <= results[1] <= 2.5, results
    assert not renv.client.containers.get(renv.containers["target"].id).attrs["State"]["Paused"]


def test_cpu_quota_and_cpuset_changed_and_restored(renv, rctl):
    before_q = cg(renv, "target", "cpu", "cpu.cfs_quota_us")
    spec = FaultSpec(id="cpu", kind="cpu", target="target", params={"cpus": 0.5})
    rctl.apply(spec, "cpu")
    assert cg(renv, "target", "cpu", "cpu.cfs_quota_us") == "50000"
    rctl.revert(spec)
    assert cg(renv, "target", "cpu", "cpu.cfs_quota_us") == before_q == "-1"
    spec = FaultSpec(id="pin", kind="cpuset", target="target", params={"cpus": "0"})
    before = cg(renv, "target", "cpuset", "cpuset.cpus")
    rctl.apply(spec, "cpu")
    assert cg(renv, "target", "cpuset", "cpuset.cpus") == "0"
    rctl.revert(spec)
    assert cg(renv, "target", "cpuset", "cpuset.cpus") == before


def test_cpu_and_memory_pressure_inside_the_cgroup(renv, rctl):
    usage = lambda: int(cg(renv, "target", "cpuacct", "cpuacct.usage"))
    mem = lambda: int(cg(renv, "target", "memory", "memory.usage_in_bytes"))
    m0 = mem()
    spec = FaultSpec(id="press", kind="memory_pressure", target="target", params={"size": 64 << 20})
    rctl.apply(spec, "p")
    m1 = mem()
    rctl.revert(spec)
    assert m1 - m0 >= 56 << 20, (m0, m1)
    u = usage()
    time.sleep(1.0)
    idle = (usage() - u) / 1e9
    spec = FaultSpec(id="burn", kind="cpu_pressure", target="target", params={"workers": 1})
    rctl.apply(spec, "p")
    u0 = usage()
    time.sleep(1.0)
    busy = (usage() - u0) / 1e9
    rctl.revert(spec)
    time.sleep(0.3)
    u2 = usage()
    time.sleep(1.0)
    after = (usage() - u2) / 1e9
    # CPU seconds charged to the target's cgroup per second: idle, with a busy worker, after
    assert busy >= max(0.1, 5 * idle) and after < max(0.05, 3 * idle), (idle, busy, after)
    assert helpers.leftovers(renv.info("target").pid, make_tag(rctl.rc.run_id, "burn"))["procs"] == []
    assert helpers.leftovers(renv.info("target").pid, make_tag(rctl.rc.run_id, "press"))["procs"] == []


def test_kill_stop_restart(renv, rctl, docker_client):
    victim = renv.containers["victim"]
    state = lambda: docker_client.containers.get(victim.id).attrs["State"]
    spec = FaultSpec(id="stop", kind="stop", target="victim", params={"grace": 1.0})
    rctl.apply(spec, "s")
    assert not state()["Running"]
    rctl.revert(spec)
    assert state()["Running"]
    pid0 = state()["Pid"]
    spec = FaultSpec(id="restart", kind="restart", target="victim", params={"grace": 1.0})
    rctl.apply(spec, "s")
    assert state()["Running"] and state()["Pid"] != pid0
    rctl.revert(spec)
    spec = FaultSpec(id="kill", kind="kill", target="victim", params={"signal": "SIGKILL", "restore": True})
    rctl.apply(spec, "s")
    deadline = time.monotonic() + 10
    while state()["Running"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state()["ExitCode"] == 137
    rctl.revert(spec)
    assert state()["Running"]
