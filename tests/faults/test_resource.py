"""Resource and process faults against the real engine: memory squeeze at a scheduled time
and restored, pause stalls requests during the window only, CPU quota/cpuset changed and
restored, pressure helpers inside the target's cgroup, kill/stop/restart."""
from __future__ import annotations

import threading
import time

import pytest

from harness.faults.controller import FaultController
from harness.faults.spec import FaultSpec
from harness.faults.target import make_tag

from . import helpers
from .cgroups import Cgroup
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


def cg(renv, name: str) -> Cgroup:
    """What the kernel enforces on the service (cgroup v1 or v2)."""
    return Cgroup.of(renv.info(name).pid)


def at(clock, t_s: float) -> None:
    while clock.now() < t_s:
        time.sleep(0.005)


def test_memory_squeeze_at_scheduled_time_and_restored(renv, rctl):
    assert cg(renv, "target").memory_limit() == 256 << 20
    spec = FaultSpec(id="mem", kind="memory", target="target", params={"limit": 64 << 20, "swap": 0})
    assert rctl.preflight([spec]) == []
    clock = rctl.rc.clock
    at(clock, 0.5)
    rec = rctl.apply(spec, "squeeze")
    applied_by = clock.now()
    assert cg(renv, "target").memory_limit() == 64 << 20
    assert 0.5 <= rec["applied_s"] <= applied_by          # stamped while it was applied, not before
    at(clock, 1.5)
    rctl.revert(spec)
    reverted_by = clock.now()
    assert cg(renv, "target").memory_limit() == 256 << 20
    assert cg(renv, "target").memsw_limit() == 512 << 20
    rec = rctl.records()[0]
    assert rec["backend"] == "docker" and 1.5 <= rec["reverted_s"] <= reverted_by


def test_pause_stalls_requests_in_the_window_only(renv, rctl):
    ip = renv.ip("target")
    spec = FaultSpec(id="pause", kind="pause", target="target", params={})
    answered = []

    def one():
        helpers.get(ip, "/", timeout=30)
        answered.append(time.monotonic())

    one()                                   # answered before the pause
    rctl.apply(spec, "pause")
    th = threading.Thread(target=one)
    th.start()
    th.join(1.0)                            # the pause window: no answer may come in it
    assert th.is_alive() and len(answered) == 1, "a paused service answered"
    unpaused = time.monotonic()
    rctl.revert(spec)
    th.join(30)
    one()                                   # answered after the pause
    assert len(answered) == 3 and answered[1] >= unpaused, answered
    assert not renv.client.containers.get(renv.containers["target"].id).attrs["State"]["Paused"]


def test_cpu_quota_and_cpuset_changed_and_restored(renv, rctl):
    before_q = cg(renv, "target").cpu_quota()
    spec = FaultSpec(id="cpu", kind="cpu", target="target", params={"cpus": 0.5})
    rctl.apply(spec, "cpu")
    quota, period = cg(renv, "target").cpu_quota()
    assert quota / period == 0.5
    rctl.revert(spec)
    assert cg(renv, "target").cpu_quota() == before_q and before_q[0] is None
    spec = FaultSpec(id="pin", kind="cpuset", target="target", params={"cpus": "0"})
    before = cg(renv, "target").cpuset()
    rctl.apply(spec, "cpu")
    assert cg(renv, "target").cpuset() == "0"
    rctl.revert(spec)
    assert cg(renv, "target").cpuset() == before


def test_cpu_and_memory_pressure_inside_the_cgroup(renv, rctl):
    usage = lambda: cg(renv, "target").cpu_usage_ns()
    mem = lambda: cg(renv, "target").memory_usage()
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
    # revert returns once the helpers are gone: nothing to wait for before measuring again
    assert helpers.leftovers(renv.info("target").pid, make_tag(rctl.rc.run_id, "burn"))["procs"] == []
    assert helpers.leftovers(renv.info("target").pid, make_tag(rctl.rc.run_id, "press"))["procs"] == []
    u2 = usage()
    time.sleep(1.0)
    after = (usage() - u2) / 1e9
    # CPU seconds charged to the target's cgroup per second: idle, with a busy worker, after
    assert busy >= max(0.1, 5 * idle) and after < max(0.05, 3 * idle), (idle, busy, after)


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
