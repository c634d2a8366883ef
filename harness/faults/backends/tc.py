"""tc in the target's network namespace: tbf for rate, netem for delay/loss/duplicate/corrupt/
reorder/rate, IFB for the inbound direction.

The fault owns everything it creates: a root qdisc with its own handle (only when the root
is the kernel default, checked before; deleted only if the root still carries that handle),
or an ingress qdisc plus its own IFB device. Peer-scoped faults use an htb root (class :2,
the default, unlimited) with the shaping qdisc under class :1, which a u32 filter on the
peer's address/port selects.
"""
from __future__ import annotations

from harness.faults.steps import Plan

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


def netem_args(kind: str, p: dict) -> list[str]:
    """netem's own arguments for one fault kind (see tc-netem(8))."""
    def pct(v):
        return f"{v:g}%"
    corr = [pct(p["correlation"])] if p.get("correlation") else []
    if kind == "delay":
        a = ["delay", f"{p['latency'] * 1000:g}ms"]
        if p.get("jitter"):
            a += [f"{p['jitter'] * 1000:g}ms", *corr]
            if p.get("distribution", "uniform") != "uniform":
                a += ["distribution", p["distribution"]]
        return a
    if kind == "loss":
        return ["loss", "random", pct(p["percent"]), *corr]
    if kind in ("duplicate", "corrupt"):
        return [kind, pct(p["percent"]), *corr]
    if kind == "reorder":
        a = ["delay", f"{p['latency'] * 1000:g}ms", "reorder", pct(p["percent"]), *corr]
        return a + (["gap", str(p["gap"])] if p.get("gap") else [])
    if kind == "rate":
        return ["rate", f"{p['rate']}bit"]
    raise ValueError(f"netem cannot do {kind}")


def egress_plan(t, leaf: list[str], backend: str) -> Plan:
    """The leaf qdisc (e.g. tbf ... or netem ...) on the target's egress, peer-scoped if needed."""
    plan = Plan(backend=backend)
    dev, h = t.dev, t.handle
    plan.do.append({"op": "tc-claim-root", "container": t.container, "dev": dev, "handle": h})
    if not t.has_peer:
        plan.do.append(_ns(t, ["tc", "qdisc", "add", "dev", dev, "root", "handle", h, *leaf]))
    else:
        major = h[:-1]
        hit, rest = f"{major}:1", f"{major}:2"
        child = "%x:" % (int(major, 16) + 1)
        plan.do += [
            _ns(t, ["tc", "qdisc", "add", "dev", dev, "root", "handle", h, "htb", "default", "2"]),
            _ns(t, ["tc", "class", "add", "dev", dev, "parent", h, "classid", hit, "htb", "rate", UNLIMITED]),
            _ns(t, ["tc", "class", "add", "dev", dev, "parent", h, "classid", rest, "htb", "rate", UNLIMITED]),
            _ns(t, ["tc", "qdisc", "add", "dev", dev, "parent", hit, "handle", child, *leaf]),
            _ns(t, ["tc", "filter", "add", "dev", dev, "parent", h, "protocol", "ip", "prio", "1",
                    "u32", *u32_match(t, "egress"), "flowid", hit]),
        ]
    plan.undo.append({"op": "tc-release-root", "container": t.container, "dev": dev, "handle": h})
    plan.detail = {"dev": dev, "handle": h}
    return plan


def ingress_plan(t, leaf: list[str], backend: str) -> Plan:
    """Inbound traffic redirected (ingress qdisc + mirred) to the fault's own IFB, shaped there."""
    plan = Plan(backend=backend)
    dev, ifb, h = t.dev, t.ifb, t.handle
    plan.do += [
        {"op": "tc-claim-ingress", "container": t.container, "dev": dev},
        _ns(t, ["ip", "link", "add", ifb, "type", "ifb"]),
        _ns(t, ["ip", "link", "set", "dev", ifb, "up"]),
        _ns(t, ["tc", "qdisc", "add", "dev", ifb, "root", "handle", h, *leaf]),
        _ns(t, ["tc", "qdisc", "add", "dev", dev, "handle", "ffff:", "ingress"]),
        _ns(t, ["tc", "filter", "add", "dev", dev, "parent", "ffff:", "protocol", "ip", "prio", "1",
                "u32", *u32_match(t, "ingress"), "action", "mirred", "egress", "redirect", "dev", ifb]),
    ]
    plan.undo += [
        {"op": "tc-release-ingress", "container": t.container, "dev": dev, "ifb": ifb},
        _ns(t, ["ip", "link", "del", ifb], ignore_errors=True),
    ]
    plan.detail = {"dev": dev, "ifb": ifb, "handle": h}
    return plan


def directional_plan(t, direction: str, leaf: list[str], backend: str) -> Plan:
    parts = []
    if direction in ("egress", "both"):
        parts.append(egress_plan(t, leaf, backend))
    if direction in ("ingress", "both"):
        parts.append(ingress_plan(t, leaf, backend))
    plan = Plan(backend=backend)
    for p in parts:
        plan.do += p.do
        plan.undo[:0] = p.undo
        plan.detail.update(p.detail)
    return plan
