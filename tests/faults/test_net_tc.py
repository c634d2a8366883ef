"""tbf egress and IFB+tbf ingress against the real kernel: 1 Mbit/s measured within 10%,
other traffic (loopback, a peer-scoped fault's other peers) unaffected, nothing left after."""
from __future__ import annotations

import pytest

from harness.faults.spec import FaultSpec, Peer
from harness.faults.target import make_tag

from . import helpers

pytestmark = [pytest.mark.docker, pytest.mark.slow]

RATE = 1_000_000
NBYTES = 500_000       # 4 s at 1 Mbit/s


def assert_capped(got: float) -> None:
    """The cap holds: never more than the rate (+10% for measuring), and the link is shaped,
    not cut. Below the rate is what TCP does with a shaper: one loss-recovery stall in a 4 s
    transfer costs up to a quarter of it (measured once in nine full runs: 734 kbit/s; usually
    958-961 kbit/s, benchmarks/bench_faults.py reports the figure)."""
    assert 0.5 * RATE <= got <= 1.10 * RATE, got


def rate_spec(fid, direction, peer=None):
    return FaultSpec(id=fid, kind="rate", target="target", direction=direction, peer=peer,
                     params={"rate": RATE, "burst": 0, "queue": 1.0})


@pytest.mark.parametrize("direction,measure", [("egress", helpers.download_rate),
                                               ("ingress", helpers.upload_rate)], ids=["egress", "ingress"])
def test_rate_1mbit(env, rc, controller, direction, measure):
    ip = env.ip("target")
    base = measure(ip, 2_000_000)
    spec = rate_spec(f"rate-{direction}", direction)
    assert controller.preflight([spec]) == []
    with helpers.applied(controller, spec):
        got = measure(ip, NBYTES)
    print(f"rate {direction}: requested {RATE} bit/s, measured {got:.0f} bit/s, baseline {base:.0f}")
    assert_capped(got)
    after = measure(ip, 2_000_000)
    assert after > 20 * RATE, (after, base)           # back to full speed
    assert controller.records()[0]["backend"] == "tbf"
    controller.revert_all()          # the run-wide htb root / IFB go at the end of the run
    helpers.no_leftovers(env.info("target").pid, make_tag(rc.run_id, spec.id))


def test_rate_peer_scoped_egress_leaves_other_traffic(env, rc, controller):
    # only traffic to peer_a is shaped (htb root, u32 filter): the host's download is not
    spec = rate_spec("rate-peer", "egress", Peer(service="peer_a", protocol="all"))
    ip = env.ip("target")
    with helpers.applied(controller, spec):
        to_a = float(helpers.get(ip, f"/push?addr={env.ip('peer_a')}:8080&n={NBYTES}"))
        to_b = float(helpers.get(ip, f"/push?addr={env.ip('peer_b')}:8080&n=4000000"))
        host = helpers.download_rate(ip, 2_000_000)
    print(f"rate egress to one peer: measured {to_a:.0f} bit/s; other peer {to_b:.0f}, host {host:.0f}")
    assert_capped(to_a)
    assert to_b > 20 * RATE and host > 20 * RATE
    controller.revert_all()
    helpers.no_leftovers(env.info("target").pid, make_tag(rc.run_id, spec.id))


def tcp_retransmissions_in(pid: int) -> int:
    """Segments retransmitted by all TCP sockets of a process's network namespace."""
    lines = [line.split() for line in open(f"/proc/{pid}/net/snmp") if line.startswith("Tcp:")]
    return int(lines[1][lines[0].index("RetransSegs")])


def socket_retransmissions(sock) -> int:
    """tcpi_total_retrans of one socket (struct tcp_info, offset 100)."""
    import socket
    import struct
    return struct.unpack_from("I", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104), 100)[0]


def test_apply_and_revert_never_cut_other_traffic(env, rc, controller):
    # requests from the host run the whole time a peer-scoped rate fault (htb root) and a
    # partition come and go: none fails, and no packet of theirs is lost (a packet dropped by a
    # qdisc swap shows as a TCP retransmission on one side or the other)
    import threading
    import time
    ip, stop, lat, errors, client_retrans = env.ip("target"), threading.Event(), [], [], []

    def hammer():
        import http.client
        conn = http.client.HTTPConnection(ip, 8080, timeout=5)
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                conn.request("GET", "/")
                conn.getresponse().read()
                lat.append(time.monotonic() - t0)
            except OSError as e:
                errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection(ip, 8080, timeout=5)
            time.sleep(0.002)
        if conn.sock is not None:
            client_retrans.append(socket_retransmissions(conn.sock))
        conn.close()

    specs = []
    for i in range(3):
        specs += [rate_spec(f"r{i}", "both", Peer(service="peer_a", protocol="all")),
                  FaultSpec(id=f"p{i}", kind="partition", target="target", direction="both",
                            peer=Peer(service="peer_b", protocol="all"), params={})]
    controller.preflight(specs)
    controller.prepare(specs)        # the engine does this before the load starts
    server_retrans = tcp_retransmissions_in(env.info("target").pid)
    th = threading.Thread(target=hammer)
    th.start()
    try:
        for spec in specs:
            controller.apply(spec, "fault")
            time.sleep(0.1)
            controller.revert(spec)
    finally:
        stop.set()
        th.join(10)
    server_retrans = tcp_retransmissions_in(env.info("target").pid) - server_retrans
    controller.revert_all()
    print("slowest requests (s):", sorted(lat)[-5:], "n", len(lat))
    assert not errors, errors[:3]
    assert len(lat) > 50 and client_retrans == [0] and server_retrans == 0, \
        (len(lat), client_retrans, server_retrans, sorted(lat)[-5:])
