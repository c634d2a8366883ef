"""The `expect:` section: what must hold per phase, and its evaluation against summary.json.

    expect:
      - phase: baseline                 # a name, a list of names, or omitted: every phase
        latency: {p99: 200ms, p50: 20ms} # upper bounds (p50, p95, p99, max)
        error_rate: 1%                  # upper bound: 0.01 or "1%"
        throughput: 50                  # lower bound, requests per second
        memory_peak: 200m               # upper bound per service (service: narrows it)
        no_oom_kill: true
        top:                            # own-code ranking in a profile (cpu, perf, heap, allocs, ...)
          - {profile: cpu, function: main.burn, n: 5}             # must be among the top 5
          - {profile: mutex, line: main.go:45, n: 3, absent: true}  # must not be among the top 3

A check that fails names the phase, what was measured, the bound, and by how much.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.parse.context import ParseContext
from harness.parse.node import Node
from harness.report import units
from lsp.rundir import PROFILE_KINDS

RULE_KEYS = ("phase", "service", "latency", "error_rate", "throughput", "memory_peak", "no_oom_kill", "top")
LATENCY_KEYS = ("p50", "p95", "p99", "max")
TOP_KEYS = ("profile", "function", "line", "n", "absent", "service")


@dataclass(frozen=True)
class TopRule:
    profile: str
    function: str | None
    line: str | None
    n: int
    absent: bool
    service: str | None
    where: str


@dataclass(frozen=True)
class Rule:
    phases: tuple[str, ...]
    where: str
    service: str | None = None
    latency_ms: dict = field(default_factory=dict)     # "p99" -> bound in ms
    error_rate: float | None = None
    throughput: float | None = None
    memory_peak: int | None = None
    no_oom_kill: bool = False
    top: tuple[TopRule, ...] = ()


@dataclass(frozen=True)
class ExpectSpec:
    rules: tuple[Rule, ...] = ()


def parse_expect(node: Node | None, ctx: ParseContext) -> ExpectSpec:
    if node is None or node.value is None:
        return ExpectSpec()
    items = node.as_list(allow_single=False) if not node.is_map() else [node]
    return ExpectSpec(tuple(_rule(item, ctx) for item in items))


def _rule(node: Node, ctx: ParseContext) -> Rule:
    keys = node.keys(RULE_KEYS)
    where = str(node.mark)
    service = ctx.check_service(keys["service"]) if "service" in keys else None
    phases = _phases(keys.get("phase"), ctx)
    latency = {}
    if "latency" in keys:
        for k, v in keys["latency"].keys(LATENCY_KEYS).items():
            latency[k] = v.as_duration(allow_zero=False) * 1000
    rule = Rule(phases=phases, where=where, service=service, latency_ms=latency,
                error_rate=_fraction(keys["error_rate"]) if "error_rate" in keys else None,
                throughput=keys["throughput"].as_float(min=0) if "throughput" in keys else None,
                memory_peak=keys["memory_peak"].as_size(min=1) if "memory_peak" in keys else None,
                no_oom_kill=keys["no_oom_kill"].as_bool() if "no_oom_kill" in keys else False,
                top=tuple(_top(t, ctx) for t in keys["top"].as_list(allow_single=False))
                if "top" in keys else ())
    if not (rule.latency_ms or rule.error_rate is not None or rule.throughput is not None
            or rule.memory_peak or rule.no_oom_kill or rule.top):
        raise node.error("this expectation checks nothing",
                         hint="add latency, error_rate, throughput, memory_peak, no_oom_kill or top")
    return rule


def _phases(node: Node | None, ctx: ParseContext) -> tuple[str, ...]:
    if node is None:
        return ctx.phase_names
    out = []
    for item in node.as_list(allow_single=True):
        name = item.as_str()
        if name not in ctx.phase_names:
            raise item.error(f"unknown phase '{name}'",
                             seen=f"phases in the scenario: {', '.join(ctx.phase_names)}")
        out.append(name)
    return tuple(out)


def _fraction(node: Node) -> float:
    v = node.value
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            f = float(v.strip()[:-1]) / 100
        except ValueError:
            raise node.expected("a fraction like 0.01 or a percentage like 1%") from None
    else:
        f = node.as_float(min=0)
    if not 0 <= f <= 1:
        raise node.error("must be between 0 and 1 (or 0% and 100%)", seen=str(v))
    return f


def _top(node: Node, ctx: ParseContext) -> TopRule:
    keys = node.keys(TOP_KEYS, required=["profile"])
    if ("function" in keys) == ("line" in keys):
        raise node.error("give exactly one of 'function' or 'line'",
                         hint="function: main.burn  or  line: main.go:40")
    line = keys["line"].as_str() if "line" in keys else None
    if line is not None and not line.rpartition(":")[2].isdigit():
        raise keys["line"].error("expected file:line like main.go:40", seen=repr(line))
    return TopRule(profile=keys["profile"].as_enum(PROFILE_KINDS),
                   function=keys["function"].as_str() if "function" in keys else None, line=line,
                   n=keys["n"].as_int(min=1, max=1000) if "n" in keys else 10,
                   absent=keys["absent"].as_bool() if "absent" in keys else False,
                   service=ctx.check_service(keys["service"]) if "service" in keys else None,
                   where=str(node.mark))


# -- evaluation -----------------------------------------------------------------------------------

def evaluate(spec: ExpectSpec, summary: dict) -> dict:
    """{"passed": bool, "failed": n, "checks": [...]} for the rules against summary.json data."""
    phases = {p["name"]: p for p in summary.get("phases", [])}
    checks: list[dict] = []
    for rule in spec.rules:
        for name in rule.phases:
            phase = phases.get(name)
            if phase is None:   # the run ended before it (interrupted or failed): not judged, not failed
                checks.append({**_check(f"phase {name} ran", name, rule.where, False, None, None,
                                        f"not judged: phase {name} did not run"), "skipped": True})
                continue
            checks += _rule_checks(rule, phase)
    skipped = sum(1 for c in checks if c.get("skipped"))
    failed = sum(1 for c in checks if not c["passed"] and not c.get("skipped"))
    return {"passed": failed == 0 and skipped == 0, "failed": failed, "skipped": skipped,
            "total": len(checks) - skipped, "checks": checks}


def _check(name, phase, where, passed, observed, limit, message) -> dict:
    return {"name": name, "phase": phase, "where": where, "passed": bool(passed), "observed": observed,
            "limit": limit, "message": message}


def _upper(name, phase, where, observed, limit, fmt=units.sig3) -> dict:
    """An upper bound; `fmt` reads the numbers in human units (units.duration_ms, units.size, ...)."""
    if observed is None:
        return _check(name, phase, where, False, None, limit, f"{name}: no measurement in phase {phase}")
    ok = observed <= limit
    by = observed - limit
    msg = f"{name} = {fmt(observed)} (limit {fmt(limit)})" + ("" if ok else f", over by {fmt(by)}")
    return _check(name, phase, where, ok, observed, limit, msg)


def _rule_checks(rule: Rule, phase: dict) -> list[dict]:
    name, where, load = phase["name"], rule.where, phase.get("load") or {}
    out = [_upper(f"latency {k}", name, where, load.get(f"{k}_ms"), v, units.duration_ms)
           for k, v in rule.latency_ms.items()]
    if rule.error_rate is not None:
        out.append(_upper("error rate", name, where, load.get("error_rate"), rule.error_rate, units.percent))
    if rule.throughput is not None:
        rps = load.get("rps")
        ok = rps is not None and rps >= rule.throughput
        msg = (f"throughput: no measurement in phase {name}" if rps is None else
               f"throughput = {units.rate(rps, 'req')} (minimum {units.rate(rule.throughput, 'req')})"
               + ("" if ok else f", short by {units.rate(rule.throughput - rps, 'req')}"))
        out.append(_check("throughput", name, where, ok, rps, rule.throughput, msg))
    containers = phase.get("containers") or {}
    services = [rule.service] if rule.service else sorted(containers)
    if rule.memory_peak:
        for svc in services:
            peak = (containers.get(svc) or {}).get("mem_peak")
            out.append(_upper(f"memory peak of {svc}", name, where, peak, rule.memory_peak, units.size))
    if rule.no_oom_kill:
        for svc in services or ["(any service)"]:
            n = (containers.get(svc) or {}).get("oom_kills") or 0
            out.append(_check(f"no OOM kill of {svc}", name, where, n == 0, n, 0,
                              f"{n} OOM kill(s) of {svc}" if n else f"no OOM kill of {svc}"))
    for t in rule.top:
        out.append(_top_check(t, rule, phase))
    return out


def _top_check(t: TopRule, rule: Rule, phase: dict) -> dict:
    name = phase["name"]
    what = t.function or t.line
    label = f"{what} {'not ' if t.absent else ''}in top {t.n} of {t.profile}"
    services = [t.service or rule.service] if (t.service or rule.service) else sorted(phase.get("profiles", {}))
    tables = [(s, (phase.get("profiles", {}).get(s) or {}).get(t.profile)) for s in services]
    tables = [(s, tb) for s, tb in tables if tb]
    if not tables:
        return _check(label, name, t.where, False, None, t.n, f"no {t.profile} profile in phase {name}")
    for svc, table in tables:
        rank = _rank(table, t)
        if not t.absent and rank is None:
            continue
        if t.absent and rank is not None:
            return _check(label, name, t.where, False, rank, t.n,
                          f"{what} is number {rank} in the {t.profile} profile of {svc} (must not be in top {t.n})")
        if not t.absent:
            return _check(label, name, t.where, True, rank, t.n, f"{what} is number {rank} of {svc}")
    if t.absent:
        return _check(label, name, t.where, True, None, t.n, f"{what} is not in the top {t.n}")
    return _check(label, name, t.where, False, None, t.n, f"{what} is not in the top {t.n} of {t.profile}")


def _rank(table: dict, t: TopRule) -> int | None:
    """1-based rank of the function/line among the top n own-code entries, or None."""
    if t.function:
        for i, e in enumerate(table.get("functions", [])[: t.n], 1):
            f = e["function"]
            if f == t.function or f.endswith(("." + t.function, "/" + t.function)):
                return i
        return None
    file, _, line = t.line.rpartition(":")
    for i, e in enumerate(table.get("lines", [])[: t.n], 1):
        if e["line"] == int(line) and (e["file"] == file or e.get("path", "").endswith("/" + file)
                                       or e["file"].endswith("/" + file)):
            return i
    return None


_BOUNDS = {"type": ["number", "string"]}
EXPECT_SCHEMA = {
    "description": "What must hold per phase; a failure makes the run exit non-zero.",
    "type": "array",
    "items": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "phase": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "service": {"type": "string"},
            "latency": {"type": "object", "additionalProperties": False,
                        "properties": {k: _BOUNDS for k in LATENCY_KEYS}},
            "error_rate": _BOUNDS, "throughput": {"type": "number", "minimum": 0},
            "memory_peak": _BOUNDS, "no_oom_kill": {"type": "boolean"},
            "top": {"type": "array", "items": {
                "type": "object", "additionalProperties": False, "required": ["profile"],
                "properties": {"profile": {"enum": list(PROFILE_KINDS)}, "function": {"type": "string"},
                               "line": {"type": "string"}, "n": {"type": "integer", "minimum": 1},
                               "absent": {"type": "boolean"}, "service": {"type": "string"}}}},
        },
    },
}
