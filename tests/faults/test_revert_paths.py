"""Faults revert on every path: end of window (other tests), SIGINT and SIGTERM of the
harness (its finally), SIGKILL (the detached watchdog, within a bounded time), and
`revert_open` on a leftover ledger (what `harness clean` calls)."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from harness.faults.spec import FaultSpec, Peer
from harness.faults.target import make_tag
from harness.undo import ledger

from . import helpers
from .conftest import HERE_DRIVER

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REVERT_BOUND_S = 2.0    # documented in docs/faults.md: poll 0.25 s + the undo steps
TEARDOWN_BOUND_S = 15.0  # + removing the environment's containers (docker rm -f)


def faults():
    return [
        FaultSpec(id="d", kind="delay", target="target", peer=Peer(service="peer_a", port=8080),
                  params={"latency": 0.2, "jitter": 0.0, "distribution": "uniform", "correlation": 0.0}),
        FaultSpec(id="p", kind="partition", target="target", peer=Peer(service="peer_b", protocol="all"),
                  params={}, direction="both"),
        FaultSpec(id="r", kind="rate", target="target", direction="ingress",
                  params={"rate": 1_000_000, "burst": 0, "queue": 0.4}),
    ]


def start_driver(env, run_dir, project):
    cfg = {"run_dir": str(run_dir), "run_id": f"t-{uuid.uuid4().hex[:8]}", "project": project,
           "services": {n: dataclasses.asdict(env.info(n)) for n in env.containers},
           "faults": [f.to_json() for f in faults()]}
    p = subprocess.Popen([sys.executable, str(HERE_DRIVER), json.dumps(cfg)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    line = p.stdout.readline()
    if "APPLIED" not in line:
        p.kill()
        raise AssertionError(line + p.stdout.read())
    return p, cfg


def assert_faults_active(env):
    r = helpers.probe(env.ip("target"), f"{env.ip('peer_a')}:8080", 3, keepalive=True)
    assert helpers.median(r["lat_ms"]) >= 190, r
    r = helpers.probe(env.ip("target"), f"{env.ip('peer_b')}:8080", 2, timeout_ms=300)
    assert r["errors"] == {"timeout": 2}, r


def assert_baseline(env, cfg):
    r = helpers.probe(env.ip("target"), f"{env.ip('peer_a')}:8080", 20, keepalive=True)
    assert helpers.median(r["lat_ms"]) < 100, r       # the 200 ms delay is gone
    r = helpers.probe(env.ip("target"), f"{env.ip('peer_b')}:8080", 5, timeout_ms=1000)
    assert len(r["lat_ms"]) == 5, r
    assert helpers.upload_rate(env.ip("target"), 2_000_000) > 20e6
    for f in faults():
        helpers.no_leftovers(env.info("target").pid, make_tag(cfg["run_id"], f.id))


def watchdog_gone(run_dir) -> bool:
    import psutil
    try:
        pid = int((run_dir / "faults" / "watchdog.pid").read_text().split()[0])
        return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except (OSError, ValueError, psutil.NoSuchProcess):
        return True


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_reverts_through_finally(env, tmp_path, sig):
    run_dir = tmp_path / "run"
    p, cfg = start_driver(env, run_dir, env.project)
    assert_faults_active(env)
    p.send_signal(sig)
    assert p.wait(30) == 0
    states = {e["id"]: e["state"] for e in ledger.latest(ledger.read(run_dir / "faults.ledger")).values()}
    assert states == {"d": "reverted", "p": "reverted", "r": "reverted", "tc-ingress/target/eth0": "reverted"}
    assert watchdog_gone(run_dir)
    assert_baseline(env, cfg)
    assert all(c.status == "running" for c in env.client.containers.list(filters={"label": f"io.harness.project={env.project}"}))


def test_sigkill_watchdog_reverts_and_tears_down_within_bound(env, tmp_path, docker_client, image):
    # the watchdog tears down the run's project: a sacrificial container stands for the environment
    project = f"hft-kill-{uuid.uuid4().hex[:6]}"
    victim = helpers.start(docker_client, image, env.network.name, f"{project}-env", project)
    try:
        run_dir = tmp_path / "run"
        p, cfg = start_driver(env, run_dir, project)
        assert_faults_active(env)
        t0, wall0 = time.monotonic(), time.time()
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
        deadline = t0 + 30
        while time.monotonic() < deadline and not (
                watchdog_gone(run_dir) and not ledger.unreverted(ledger.read(run_dir / "faults.ledger"))):
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        entries = ledger.read(run_dir / "faults.ledger")
        assert not ledger.unreverted(entries)
        assert watchdog_gone(run_dir)
        reverted = max(e["wall"] for e in entries if e["state"] == "reverted") - wall0
        print(f"SIGKILL: faults reverted {reverted:.2f}s and environment removed {elapsed:.2f}s after the kill")
        assert reverted <= REVERT_BOUND_S, reverted
        assert elapsed <= TEARDOWN_BOUND_S, elapsed
        assert not docker_client.containers.list(all=True, filters={"label": f"io.harness.project={project}"})
        assert_baseline(env, cfg)
    finally:
        try:
            victim.remove(force=True)
        except Exception:
            pass


def test_revert_open_replays_a_leftover_ledger(env, rc, controller):
    spec = faults()[1]
    controller.apply(spec, "fault")
    # the harness "dies" without reverting: drop the controller's memory of it
    controller._active.clear()
    done = ledger.revert_open(rc.run_dir)
    assert [d["state"] for d in done] == ["reverted"]
    helpers.no_leftovers(env.info("target").pid, make_tag(rc.run_id, spec.id))
    assert ledger.revert_open(rc.run_dir) == []
