"""tc in the target's network namespace: tbf for rate, netem for delay/loss/duplicate/corrupt/
reorder/rate, IFB for the inbound direction.

Changing a device's root or ingress qdisc makes the kernel swap in a qdisc that drops for a
moment (dev_deactivate): a packet of unrelated traffic sent then waits for a 200 ms TCP
retransmission. So the harness changes them once per run and interface, not per fault:

  shared (one per target interface, its own ledger entry, reverted last by revert_all):
    egress   root htb <R>: default 1, class <R>:1 at 10gbit (everything else, unshaped)
    ingress  ingress qdisc + the run's own IFB (hf<root tag>) with the same htb; a u32 filter
             redirects all inbound packets to the IFB
  per fault: an htb class <R>:<minor> at 10gbit, the fault's leaf qdisc (tbf ..., netem ...)
             under it, and a u32 filter (own prio) selecting the peer's packets (or all)
             into it; revert deletes the filter and the class (and so the leaf) only.

The shared root is added only when the root is the kernel default (checked before) and deleted
only if it still carries the run's handle; the ingress qdisc only when none existed, removed
only while it still redirects to the run's IFB. Qdiscs the harness did not create are never
replaced or removed.
"""
from __future__ import annotations

from harness.faults.backends.base import Backend
from harness.faults.steps import Plan

_TC = ("root", "nsenter", "tc")
_PEER = ("qdisc-htb", "tc-filter")                 # the fault's class and u32 filter
_INBOUND = ("qdisc-ingress", "tc-filter", "ifb")   # the run's ingress qdisc redirecting to its IFB
BACKENDS = (Backend("netem", (*_TC, "qdisc-netem"), shared=True, peer_egress=_PEER, inbound=_INBOUND),
            Backend("tbf", (*_TC, "qdisc-tbf"), shared=True, peer_egress=_PEER, inbound=_INBOUND))

UNLIMITED = "10gbit"   # the htb classes themselves never limit; the leaf qdisc does


def _ns(t, argv, **kw):
    return {"op": "ns", "container": t.container, "argv": argv, **kw}


def u32_match(t, direction: str) -> list[str]:
    """u32 selectors for the peer (egress: packets the target sends)."""
    egress = direction == "egress"
    m: list[str] = []
    if t.peer_ip:
        m += ["match", "ip", "dst" if egress else "src", f"{t.peer_ip}/32"]
    if t.protocol in ("tcp", "udp"):
        m += ["match", "ip", "protocol", "6" if t.protocol == "tcp" else "17", "0xff"]
    if t.peer_port:
        own = t.own_port
        field = ("sport" if own else "dport") if egress else ("dport" if own else "sport")
        m += ["match", "ip", field, str(t.peer_port), "0xffff"]
    return m or ["match", "u32", "0", "0"]


def tbf_args(rate_bit: int, burst: int | None, latency_ms: float) -> list[str]:
    b = burst or max(int(rate_bit / 8 * 0.01), 3200)   # 10 ms of traffic, at least two full frames
    return ["tbf", "rate", f"{rate_bit}bit", "burst", str(b), "latency", f"{latency_ms:g}ms"]


def shared_egress(t) -> tuple[str, Plan]:
    dev, r = t.dev, t.root_handle
    plan = Plan(backend="tc", do=[
        {"op": "tc-claim-root", "container": t.container, "dev": dev, "handle": r},
        _ns(t, ["tc", "qdisc", "add", "dev", dev, "root", "handle", r, "htb", "default", "1"]),
        _ns(t, ["tc", "class", "add", "dev", dev, "parent", r, "classid", r + "1", "htb", "rate", UNLIMITED]),
    ], undo=[{"op": "tc-release-root", "container": t.container, "dev": dev, "handle": r}])
    plan.detail = {"dev": dev, "handle": r}
    return f"tc-egress/{t.service}/{dev}", plan


def shared_ingress(t) -> tuple[str, Plan]:
    dev, ifb, r = t.dev, t.shared_ifb, t.root_handle
    plan = Plan(backend="tc", do=[
        {"op": "tc-claim-ingress", "container": t.container, "dev": dev},
        _ns(t, ["ip", "link", "add", ifb, "type", "ifb"]),
        _ns(t, ["ip", "link", "set", "dev", ifb, "up"]),
        _ns(t, ["tc", "qdisc", "add", "dev", ifb, "root", "handle", r, "htb", "default", "1"]),
        _ns(t, ["tc", "class", "add", "dev", ifb, "parent", r, "classid", r + "1", "htb", "rate", UNLIMITED]),
        _ns(t, ["tc", "qdisc", "add", "dev", dev, "handle", "ffff:", "ingress"]),
        _ns(t, ["tc", "filter", "add", "dev", dev, "parent", "ffff:", "protocol", "all", "prio", "1",
                "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", ifb]),
    ], undo=[
        {"op": "tc-release-ingress", "container": t.container, "dev": dev, "ifb": ifb},
        _ns(t, ["ip", "link", "del", ifb], ignore_errors=True),
    ])
    plan.detail = {"dev": dev, "ifb": ifb, "handle": r}
    return f"tc-ingress/{t.service}/{dev}", plan


def fault_class(t, dev: str, direction: str, leaf: list[str], backend: str) -> Plan:
    """The fault's own class, leaf qdisc and filter under the shared htb root of `dev`."""
    r = t.root_handle
    classid = r + t.class_minor
    prio = str(t.filter_prio)
    return Plan(backend=backend, do=[
        _ns(t, ["tc", "class", "add", "dev", dev, "parent", r, "classid", classid, "htb", "rate", UNLIMITED]),
        _ns(t, ["tc", "qdisc", "add", "dev", dev, "parent", classid, "handle", t.handle, *leaf]),
        _ns(t, ["tc", "filter", "add", "dev", dev, "parent", r, "protocol", "ip", "prio", prio,
                "u32", *u32_match(t, direction), "flowid", classid]),
    ], undo=[
        _ns(t, ["tc", "filter", "del", "dev", dev, "parent", r, "protocol", "ip", "prio", prio],
            ignore_errors=True),
        _ns(t, ["tc", "class", "del", "dev", dev, "classid", classid], ignore_errors=True),
    ])


def directional_plan(t, direction: str, leaf: list[str], backend: str) -> Plan:
    plan = Plan(backend=backend)
    parts = []
    if direction in ("egress", "both"):
        plan.shared.append(shared_egress(t))
        parts.append(fault_class(t, t.dev, "egress", leaf, backend))
    if direction in ("ingress", "both"):
        plan.shared.append(shared_ingress(t))
        parts.append(fault_class(t, t.shared_ifb, "ingress", leaf, backend))
    for p in parts:
        plan.do += p.do
        plan.undo[:0] = p.undo
    plan.detail = {"dev": t.dev, "class": t.root_handle + t.class_minor, "prio": t.filter_prio,
                   "shared": [sid for sid, _ in plan.shared]}
    return plan
