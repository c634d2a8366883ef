"""Ledger (pure), capability probes and preflight (this host), netem (probed: applied only
where the kernel has it), and refusing to touch qdiscs the harness did not create."""
from __future__ import annotations

import io
import json

import pytest

from harness import proc
from harness.errors import CapabilityError, HarnessError
from harness.faults import capabilities
from harness.faults.controller import FaultController
from harness.faults.spec import FaultSpec, Peer
from harness.undo import ledger

from . import helpers

NETEM = capabilities.probe("qdisc-netem")


def test_ledger_last_state_wins_and_torn_lines_are_ignored(tmp_path):
    led = ledger.Ledger(tmp_path)
    led.write("a", "applying", undo=[{"op": "x"}])
    led.write("a", "applied", applied_s=1.0)
    led.write("b", "applying", undo=[])
    led.write("a", "reverted")
    with open(led.path, "a") as f:
        f.write('{"id": "b", "state": "rev')          # killed mid-write
    assert [e["id"] for e in led.unreverted()] == ["b"]
    merged = led.latest()
    assert merged["a"]["state"] == "reverted" and merged["a"]["undo"] == [{"op": "x"}]
    assert merged["a"]["applied_s"] == 1.0


def test_revert_open_reverts_newest_first_and_records_failures(tmp_path):
    led = ledger.Ledger(tmp_path)
    led.write("old", "applied", undo=[{"op": "o"}])
    led.write("new", "applying", undo=[{"op": "n"}])

    class Runner:
        seen = []

        def undo(self, steps):
            self.seen.append(steps[0]["op"])
            return ["boom"] if steps[0]["op"] == "o" else []

    done = ledger.revert_open(tmp_path, runner=Runner())
    assert Runner.seen == ["n", "o"]
    assert [(d["id"], d["state"]) for d in done] == [("new", "reverted"), ("old", "revert-failed")]
    assert [e["id"] for e in led.unreverted()] == ["old"]     # `harness clean` retries it


def test_probes_report_this_host():
    for name in ("tc", "qdisc-tbf", "qdisc-htb", "qdisc-ingress", "ifb", "iptables-statistic",
                 "iptables-reject", "iptables-redirect", "nsenter"):
        cap = capabilities.probe(name)
        assert cap.ok, cap
    if not NETEM.ok:
        assert "Specified qdisc kind is unknown" in NETEM.detail
        assert "sch_netem" in NETEM.hint and "backend: proxy" in NETEM.hint


@pytest.mark.skipif(NETEM.ok, reason="this kernel has netem: the preflight refusal cannot be shown")
def test_preflight_names_missing_netem_and_the_alternative(tmp_path):
    rc = helpers.run_context(tmp_path / "run", {}, "p")
    fc = FaultController(rc, docker_client=object())
    dup = FaultSpec(id="dup", kind="duplicate", target="api", params={"percent": 1.0, "correlation": 0.0},
                    where="s.yaml:9:7")
    with pytest.raises(CapabilityError) as e:
        fc.preflight([dup])
    assert e.value.where == "s.yaml:9:7" and "qdisc-netem" in e.value.seen and "allow_skip" in e.value.hint
    forced = FaultSpec(id="d", kind="delay", target="api", backend="netem",
                       params={"latency": 0.1, "jitter": 0.0, "distribution": "uniform", "correlation": 0.0})
    with pytest.raises(CapabilityError) as e:
        fc.preflight([forced])
    assert "try backend: proxy" in e.value.hint
    # auto picks the backend that works here
    auto = FaultSpec(id="a", kind="delay", target="api",
                     params={"latency": 0.1, "jitter": 0.0, "distribution": "uniform", "correlation": 0.0})
    assert fc.choose(auto) == ("proxy", "")
    skip = FaultSpec(id="s", kind="corrupt", target="api", params={"percent": 1.0, "correlation": 0.0},
                     allow_skip=True)
    notes = fc.preflight([skip])
    assert len(notes) == 1 and "will be skipped" in notes[0]
    rec = fc.apply(skip, "fault")
    assert rec["backend"] is None and "qdisc-netem" in rec["skipped"]
    assert [e["kind"] for e in rc.events.all()] == ["fault-skipped"]


@pytest.mark.docker
@pytest.mark.skipif(not NETEM.ok, reason=f"netem unavailable on this host: {NETEM.detail} ({NETEM.hint})")
def test_netem_delay_applies_and_reverts(env, rc, controller):
    spec = FaultSpec(id="nd", kind="delay", target="target", backend="netem", peer=Peer(service="peer_a"),
                     params={"latency": 0.05, "jitter": 0.0, "distribution": "uniform", "correlation": 0.0})
    with helpers.applied(controller, spec):
        r = helpers.probe(env.ip("target"), f"{env.ip('peer_a')}:8080", 20, keepalive=True)
    assert helpers.median(r["lat_ms"]) >= 45


@pytest.mark.docker
def test_a_foreign_root_qdisc_is_never_replaced_or_removed(env, rc, controller):
    pid = env.info("target").pid
    ns = ["nsenter", "-t", str(pid), "-n", "--"]
    proc.run([*ns, "tc", "qdisc", "add", "dev", "eth0", "root", "handle", "7:", "tbf", "rate", "1gbit",
              "burst", "100000", "latency", "50ms"], timeout=10)
    try:
        spec = FaultSpec(id="rt", kind="rate", target="target", params={"rate": 1_000_000, "burst": 0, "queue": 0.4})
        with pytest.raises(HarnessError) as e:
            controller.apply(spec, "fault")
        assert "did not create" in e.value.what and "tbf handle 7:" in e.value.seen
        roots = json.loads(proc.run([*ns, "tc", "-j", "qdisc", "show", "dev", "eth0"], timeout=10).stdout)
        assert [(q["kind"], q["handle"]) for q in roots if q.get("root")] == [("tbf", "7:")]
        assert ledger.read(rc.run_dir / "faults.ledger")[-1]["state"] == "reverted"
    finally:
        proc.run([*ns, "tc", "qdisc", "del", "dev", "eth0", "root", "handle", "7:"], timeout=10)


def test_doctor_rows_and_table():
    from rich.console import Console

    from harness.host import doctor
    rows = doctor.collect()
    caps = {r["name"]: r for r in rows if r["section"] == "capability"}
    kinds = {r["name"]: r for r in rows if r["section"] == "fault"}
    assert {"docker", "compose", "nsenter", "tc", "qdisc-netem", "ifb", "iptables-statistic", "perf", "go"} <= set(caps)
    assert caps["qdisc-netem"]["ok"] == NETEM.ok and "netem" in caps["qdisc-netem"]["backends"]
    assert caps["ifb"]["ok"] and "tbf" in caps["ifb"]["backends"]
    assert kinds["rate"]["detail"] == "egress: tbf, ingress: tbf"
    assert kinds["partition"]["detail"] == "egress: iptables, ingress: iptables"
    assert kinds["pause"]["detail"] == "docker"
    if not NETEM.ok:
        assert kinds["delay"]["detail"] == "egress: proxy, ingress: proxy"
        assert kinds["duplicate"]["status"] == "unavailable" and "qdisc-netem" in kinds["duplicate"]["hint"]
    console = Console(record=True, width=200, file=io.StringIO())
    doctor.render(rows, console)
    text = console.export_text()
    assert "qdisc netem" in text and "Fault kinds: backend used here" in text and "slow_close" in text
