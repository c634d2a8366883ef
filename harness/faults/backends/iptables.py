"""iptables rules in the target's network namespace, in chains the fault owns.

Each fault gets its own chain per hook (HF<tag>-O for OUTPUT, -I for INPUT, -P for
PREROUTING), entered by one jump rule with a comment; the chain first returns the target's
pprof traffic (the harness's own captures) untouched. Reverting deletes exactly that
jump rule, then flushes and deletes the fault's own chains: rules the harness did not
create are never touched (no flush of built-in chains).
"""
from __future__ import annotations

from harness.faults.backends.base import Backend
from harness.faults.steps import Plan

BACKENDS = (Backend("iptables", ("root", "nsenter", "iptables")),)

IPT = ["iptables", "-w", "5"]
HOOK_SUFFIX = {"OUTPUT": "O", "INPUT": "I", "PREROUTING": "P"}
PROXY_MARK = "0x4a17"


def peer_match(t, direction: str, *, protocol: str | None = None) -> list[str]:
    """Match the fault's traffic in one direction (egress: packets the target sends)."""
    egress = direction == "egress"
    m: list[str] = []
    if t.peer_ip:
        m += ["-d" if egress else "-s", f"{t.peer_ip}/32"]
    proto = protocol or t.protocol
    if proto in ("tcp", "udp"):
        m += ["-p", proto]
    if t.peer_port:
        if t.own_port:
            m += ["--sport" if egress else "--dport", str(t.peer_port)]
        else:
            m += ["--dport" if egress else "--sport", str(t.peer_port)]
    if not t.peer_ip and not t.peer_port:
        m += ["!", "-o" if egress else "-i", "lo"]
    return m


def hooks_for(direction: str) -> list[tuple[str, str]]:
    """(hook, match direction) pairs of the filter table for a fault direction."""
    out = []
    if direction in ("egress", "both"):
        out.append(("OUTPUT", "egress"))
    if direction in ("ingress", "both"):
        out.append(("INPUT", "ingress"))
    return out


def chains_plan(t, table: str, rules: dict[str, list[list[str]]], backend: str = "iptables") -> Plan:
    """Create one chain per hook holding `rules[hook]`, jumped to from the hook's first position."""
    plan = Plan(backend=backend)
    for hook, hook_rules in rules.items():
        chain = f"{t.chain}-{HOOK_SUFFIX[hook]}"
        jump = ["-m", "comment", "--comment", t.comment, "-j", chain]
        ns = lambda argv, **kw: {"op": "ns", "container": t.container, "argv": argv, **kw}
        plan.do.append(ns([*IPT, "-t", table, "-N", chain]))
        for r in [*capture_exemptions(t, hook), *hook_rules]:
            plan.do.append(ns([*IPT, "-t", table, "-A", chain, *r]))
        plan.do.append(ns([*IPT, "-t", table, "-I", hook, "1", *jump]))
        plan.undo[:0] = [ns([*IPT, "-t", table, "-D", hook, *jump], ignore_errors=True),
                         ns([*IPT, "-t", table, "-F", chain], ignore_errors=True),
                         ns([*IPT, "-t", table, "-X", chain], ignore_errors=True)]
    plan.detail = {"table": table, "chains": [f"{t.chain}-{HOOK_SUFFIX[h]}" for h in rules]}
    return plan


def capture_exemptions(t, hook: str) -> list[list[str]]:
    """Rules at the head of a fault's chain that return the harness's own capture traffic (the
    target's pprof port) to normal processing."""
    ports = getattr(t, "capture_ports", ()) or ()
    if not ports or (t.own_port and t.peer_port in ports):
        return []
    side = "--sport" if hook == "OUTPUT" else "--dport"
    return [["-p", "tcp", side, str(p), "-j", "RETURN"] for p in ports]


def filter_plan(t, direction: str, action: list[str], *, protocol: str | None = None) -> Plan:
    """One rule `<peer match> <action>` per hook of the direction, in the filter table."""
    return chains_plan(t, "filter", {hook: [[*peer_match(t, d, protocol=protocol), *action]]
                                     for hook, d in hooks_for(direction)})


def loss_action(percent: float | None, every_nth: int | None) -> list[str]:
    if every_nth:
        return ["-m", "statistic", "--mode", "nth", "--every", str(every_nth), "--packet", "0", "-j", "DROP"]
    return ["-m", "statistic", "--mode", "random", "--probability", f"{percent / 100:.6f}", "-j", "DROP"]


PARTITION_ACTION = ["-j", "DROP"]
RESET_ACTION = ["-j", "REJECT", "--reject-with", "tcp-reset"]


def redirect_rules(t, out_port: int, in_port: int) -> dict[str, list[list[str]]]:
    """nat rules that send the fault's TCP connections through the proxy in the target.

    OUTPUT: connections the target opens to the peer (the proxy's own upstream sockets carry
    PROXY_MARK and are excluded). PREROUTING: connections into the target (own-port peers or
    no peer). A peer service/ip scopes to connections the target opens to it.
    """
    rules: dict[str, list[list[str]]] = {}
    nomark = ["-m", "mark", "!", "--mark", PROXY_MARK]
    if not t.own_port:
        out = ["-p", "tcp"]
        out += ["-d", f"{t.peer_ip}/32"] if t.peer_ip else ["!", "-d", "127.0.0.0/8"]
        if t.peer_port:
            out += ["--dport", str(t.peer_port)]
        rules["OUTPUT"] = [[*out, *nomark, "-j", "REDIRECT", "--to-ports", str(out_port)]]
    if t.own_port or not t.has_peer:
        inn = ["-p", "tcp", "!", "-i", "lo"]
        if t.own_port:
            inn += ["--dport", str(t.peer_port)]
        rules["PREROUTING"] = [[*inn, "-j", "REDIRECT", "--to-ports", str(in_port)]]
    return rules
