"""iptables backend against the real kernel: loss (random and every-nth), partition, reset,
each scoped to one peer and measured from inside the target."""
from __future__ import annotations

import uuid

import pytest

from harness.faults.spec import FaultSpec, Peer
from harness.faults.target import make_tag

from . import helpers

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def udp_loss(env, peer: str, n: int) -> float:
    tag = uuid.uuid4().hex[:10]
    # a packet dropped in OUTPUT makes send() fail with EPERM: count attempts, not successes
    helpers.get(env.ip("target"), f"/udpsend?addr={env.ip(peer)}:9000&n={n}&tag={tag}&gap_us=150")
    got = int(helpers.get(env.ip(peer), f"/udpcount?tag={tag}"))
    return 1 - got / n


def test_loss_20_percent_measured_on_4000_packets_other_peer_untouched(env, rc, controller):
    spec = FaultSpec(id="loss", kind="loss", target="target", peer=Peer(service="peer_a", protocol="all"),
                     params={"percent": 20.0, "correlation": 0.0})
    assert controller.preflight([spec]) == []
    with helpers.applied(controller, spec):
        loss_a = udp_loss(env, "peer_a", 4000)
        loss_b = udp_loss(env, "peer_b", 1000)
    assert abs(loss_a - 0.20) <= 0.03, loss_a
    assert loss_b <= 0.005, loss_b
    assert udp_loss(env, "peer_a", 1000) <= 0.005
    helpers.no_leftovers(env.info("target").pid, make_tag(rc.run_id, "loss"))
    rec = controller.records()[0]
    assert rec["backend"] == "iptables" and rec["applied_s"] < rec["reverted_s"]


def test_loss_every_nth_is_exact(env, rc, controller):
    spec = FaultSpec(id="nth", kind="loss", target="target", peer=Peer(service="peer_a", protocol="udp", port=9000),
                     params={"every_nth": 4, "correlation": 0.0})
    with helpers.applied(controller, spec):
        loss = udp_loss(env, "peer_a", 400)
    assert loss == pytest.approx(0.25, abs=0.0051)


def test_partition_fails_every_request_to_that_peer_only(env, rc, controller):
    spec = FaultSpec(id="part", kind="partition", target="target", peer=Peer(service="peer_a", protocol="all"),
                     params={}, direction="both")
    with helpers.applied(controller, spec):
        a = helpers.probe(env.ip("target"), f"{env.ip('peer_a')}:8080", 20, timeout_ms=300)
        b = helpers.probe(env.ip("target"), f"{env.ip('peer_b')}:8080", 50, timeout_ms=1000)
    assert a["lat_ms"] == [] and a["errors"] == {"timeout": 20}, a["errors"]
    assert len(b["lat_ms"]) == 50 and not b["errors"]
    after = helpers.probe(env.ip("target"), f"{env.ip('peer_a')}:8080", 20, timeout_ms=1000)
    assert len(after["lat_ms"]) == 20
    helpers.no_leftovers(env.info("target").pid, make_tag(rc.run_id, "part"))


def test_reset_refuses_connections_at_once(env, rc, controller):
    spec = FaultSpec(id="rst", kind="reset", target="target", peer=Peer(service="peer_a", port=8080),
                     params={"after": 0.0})
    with helpers.applied(controller, spec):
        a = helpers.probe(env.ip("target"), f"{env.ip('peer_a')}:8080", 20, timeout_ms=2000)
        b = helpers.probe(env.ip("target"), f"{env.ip('peer_b')}:8080", 20, timeout_ms=2000)
    assert a["errors"] == {"refused": 20}, a["errors"]
    assert max(a["err_ms"]) < 1000, a["err_ms"]       # refused, not a 2 s timeout
    assert len(b["lat_ms"]) == 20
    helpers.no_leftovers(env.info("target").pid, make_tag(rc.run_id, "rst"))


def test_a_whole_service_partition_leaves_the_harness_capture_port_open(env, docker_client, tmp_path):
    """The target's pprof port (here: its 8080, named by the pprof URL) is the harness's own
    observation channel: a partition of everything still lets the host read it, while the
    target's own traffic to a peer is cut."""
    import dataclasses

    from harness.faults.controller import FaultController
    info = dataclasses.replace(env.info("target"), published={8080: 65000},
                               pprof_url="http://127.0.0.1:65000/debug/pprof")
    rc = helpers.run_context(tmp_path / "run", {**env.services(), "target": info}, env.project)
    fc = FaultController(rc, docker_client=docker_client)
    spec = FaultSpec(id="cut-all", kind="partition", target="target", params={}, direction="both",
                     peer=None)
    try:
        with helpers.applied(fc, spec):
            assert helpers.get(env.ip("target"), "/", timeout=5) == b"ok"        # the capture port answers
            cut = helpers.probe(env.ip("target"), f"{env.ip('peer_a')}:8080", 5, timeout_ms=300)
    finally:
        fc.revert_all()
    assert cut["lat_ms"] == [] and cut["errors"] == {"timeout": 5}, cut
    helpers.no_leftovers(info.pid, make_tag(rc.run_id, "cut-all"))
