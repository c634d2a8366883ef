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
      - phase: fault                    # the incident: compared with the baseline phase
        verdict: {kind: waiting, line: main.go:57, profile: block, service: api}  # the FIRST finding
        rises: {p99: 5x, gc_per_s: 3x}  # at least x5 the baseline's (and above it)
        within: {cpu: 1.5x, p50: 2x}    # at most x1.5 the baseline's
      - phase: baseline                 # function latency (captures.functions, uprobes)
        function_latency: {function: main.handler, p99: 50ms, p50: 10ms}  # upper bounds per call
        calls: {function: main.handler, min: 100, max: 100000}            # calls in the phase

`verdict` matches the first finding of the phase's verdict (summary["verdict"]): kind is required,
line, profile and service narrow it. `rises` and `within` compare a metric (METRICS) of the phase
with the same metric of the baseline phase (summary["baseline_phase"]); a factor is a number or
"5x", "×5". A per-service metric is checked for the rule's `service`, else for every service in
the phase: `within` for each of them, `rises` passes when any of them rises.

`function_latency` bounds percentiles of the per-call latency of a probed function (p50, p90,
p99, p999, max, mean; like `latency`) and `calls` its number of calls in the phase (min, max); each
takes a mapping or a list of them. The function matches by its full name or a suffix after "." or
"/" (as `top`'s); `service` narrows it, else every service that probed it is checked.

A check that fails names the phase, what was measured, the bound, and by how much.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from harness.judge.records import Container, Phase, Runtime, Summary, Table
from harness.judge.verdict import CAUSE_ORDER
from harness.parse.context import ParseContext
from harness.parse.node import Node
from harness.report import units
from rundir.contract import PROFILE_KINDS

RULE_KEYS = ("phase", "service", "latency", "error_rate", "throughput", "memory_peak", "no_oom_kill", "top",
             "verdict", "rises", "within", "function_latency", "calls", "matches_production")
LATENCY_KEYS = ("p50", "p95", "p99", "max")
FUNCTION_BOUNDS = ("p50", "p90", "p99", "p999", "max", "mean")    # of a function latency file's latency_ms
FUNCTION_LATENCY_KEYS = ("function", "service", *FUNCTION_BOUNDS)
CALLS_KEYS = ("function", "service", "min", "max")
TOP_KEYS = ("profile", "function", "line", "n", "absent", "service")
VERDICT_KEYS = ("kind", "line", "profile", "service")
# The kinds of finding harness/judge/verdict.py makes that an expectation may name.
VERDICT_KINDS = (*CAUSE_ORDER, "symptom", "no-change")
# What a finding's evidence was read from: a profile kind, or "trace" (waits from the runtime trace).
VERDICT_PROFILES = (*PROFILE_KINDS, "trace")


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
class VerdictRule:
    kind: str
    line: str | None
    profile: str | None
    service: str | None
    where: str


@dataclass(frozen=True)
class RatioRule:
    """`rises` (observed >= factor x baseline, and above it) or `within` (observed <= factor x baseline)."""
    metric: str
    factor: float
    where: str


@dataclass(frozen=True)
class FunctionRule:
    """`function_latency` (bounds_ms: upper bounds per percentile) or `calls` (calls_min, calls_max)."""
    function: str
    service: str | None
    where: str
    bounds_ms: dict = field(default_factory=dict)      # "p99" -> bound in ms
    calls_min: int | None = None
    calls_max: int | None = None


@dataclass(frozen=True)
class MatchRule:
    """`matches_production`: the phase's fidelity score (of a profile kind, of latency, or without
    either its overall score) is at least min."""
    profile: str | None
    min: float
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
    phase_given: bool = True     # False: every phase (the incident checks then skip the baseline)
    verdict: VerdictRule | None = None
    rises: tuple[RatioRule, ...] = ()
    within: tuple[RatioRule, ...] = ()
    function_latency: tuple[FunctionRule, ...] = ()
    calls: tuple[FunctionRule, ...] = ()
    matches: tuple[MatchRule, ...] = ()


@dataclass(frozen=True)
class ExpectSpec:
    rules: tuple[Rule, ...] = ()

    def matches_production(self) -> list[MatchRule]:
        return [m for r in self.rules for m in r.matches]


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
    rule = Rule(phases=phases, phase_given="phase" in keys, where=where, service=service,
                latency_ms=latency,
                error_rate=fraction(keys["error_rate"]) if "error_rate" in keys else None,
                throughput=keys["throughput"].as_float(min=0) if "throughput" in keys else None,
                memory_peak=keys["memory_peak"].as_size(min=1) if "memory_peak" in keys else None,
                no_oom_kill=keys["no_oom_kill"].as_bool() if "no_oom_kill" in keys else False,
                top=tuple(_top(t, ctx) for t in keys["top"].as_list(allow_single=False))
                if "top" in keys else (),
                verdict=_verdict(keys["verdict"], ctx) if "verdict" in keys else None,
                rises=_ratios(keys.get("rises")), within=_ratios(keys.get("within")),
                function_latency=_function_rules(keys.get("function_latency"), ctx, _function_latency),
                calls=_function_rules(keys.get("calls"), ctx, _calls),
                matches=_function_rules(keys.get("matches_production"), ctx, _match))
    if not (rule.matches or rule.latency_ms or rule.error_rate is not None or rule.throughput is not None
            or rule.memory_peak or rule.no_oom_kill or rule.top or rule.verdict or rule.rises or rule.within
            or rule.function_latency or rule.calls):
        raise node.error("this expectation checks nothing",
                         hint="add latency, error_rate, throughput, memory_peak, no_oom_kill, top, "
                              "verdict, rises, within, function_latency, calls or matches_production")
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


def fraction(node: Node) -> float:
    """A fraction: 0.01 or "1%", from 0 to 1."""
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
    line = _line(keys["line"]) if "line" in keys else None
    return TopRule(profile=keys["profile"].as_enum(PROFILE_KINDS),
                   function=keys["function"].as_str() if "function" in keys else None, line=line,
                   n=keys["n"].as_int(min=1, max=1000) if "n" in keys else 10,
                   absent=keys["absent"].as_bool() if "absent" in keys else False,
                   service=ctx.check_service(keys["service"]) if "service" in keys else None,
                   where=str(node.mark))


def _line(node: Node) -> str:
    line = node.as_str()
    file, _, number = line.rpartition(":")
    if not file or not number.isdigit():
        raise node.error("expected file:line like main.go:40", seen=repr(line))
    return line


def _verdict(node: Node, ctx: ParseContext) -> VerdictRule:
    keys = node.keys(VERDICT_KEYS, required=["kind"])
    return VerdictRule(kind=keys["kind"].as_enum(VERDICT_KINDS),
                       line=_line(keys["line"]) if "line" in keys else None,
                       profile=keys["profile"].as_enum(VERDICT_PROFILES) if "profile" in keys else None,
                       service=ctx.check_service(keys["service"]) if "service" in keys else None,
                       where=str(node.mark))


def _function_rules(node: Node | None, ctx: ParseContext, one) -> tuple[FunctionRule, ...]:
    """A mapping or a list of mappings, each read by `one` (_function_latency or _calls)."""
    if node is None:
        return ()
    return tuple(one(item, ctx) for item in ([node] if node.is_map() else node.as_list()))


def _function_latency(node: Node, ctx: ParseContext) -> FunctionRule:
    keys = node.keys(FUNCTION_LATENCY_KEYS, required=["function"])
    bounds = {k: keys[k].as_duration(allow_zero=False) * 1000 for k in FUNCTION_BOUNDS if k in keys}
    if not bounds:
        raise node.error("function_latency bounds nothing", hint=f"add one of {', '.join(FUNCTION_BOUNDS)}, "
                         "e.g. p99: 50ms")
    return FunctionRule(keys["function"].as_str(), _service(keys, ctx), str(node.mark), bounds_ms=bounds)


def _calls(node: Node, ctx: ParseContext) -> FunctionRule:
    keys = node.keys(CALLS_KEYS, required=["function"])
    low = keys["min"].as_int(min=0) if "min" in keys else None
    high = keys["max"].as_int(min=0) if "max" in keys else None
    if low is None and high is None:
        raise node.error("calls bounds nothing", hint="add min, max or both, e.g. min: 100")
    if low is not None and high is not None and low > high:
        raise keys["max"].error(f"must be at least min ({low})", seen=str(high))
    return FunctionRule(keys["function"].as_str(), _service(keys, ctx), str(node.mark), calls_min=low,
                        calls_max=high)


MATCH_ASPECTS = (*PROFILE_KINDS, "latency")


def _match(node: Node, ctx: ParseContext) -> MatchRule:
    keys = node.keys(("profile", "min"))
    low = keys["min"].as_float(min=0, max=1) if "min" in keys else 0.7
    return MatchRule(keys["profile"].as_enum(MATCH_ASPECTS) if "profile" in keys else None, low, str(node.mark))


def _service(keys: dict, ctx: ParseContext) -> str | None:
    return ctx.check_service(keys["service"]) if "service" in keys else None


def _ratios(node: Node | None) -> tuple[RatioRule, ...]:
    """`{p99: 5x, cpu: 1.5}`: metric -> factor; an unknown metric gets the list and a "did you mean"."""
    if node is None:
        return ()
    return tuple(RatioRule(metric, _factor(v), str(v.mark)) for metric, v in node.keys(METRICS).items())


_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_FACTOR_RE = re.compile(rf"^\s*(?:[x×]\s*(?P<pre>{_NUMBER})|(?P<post>{_NUMBER})\s*[x×]?)\s*$", re.IGNORECASE)


def _factor(node: Node) -> float:
    """A factor: a number (2, 1.5) or text like "5x", "×5", "5X"; greater than 0."""
    if isinstance(node.value, str):
        m = _FACTOR_RE.match(node.value)
        if not m:
            raise node.expected("a factor like 5x, ×1.5 or 2")
        f = float(m["pre"] or m["post"])
        if not math.isfinite(f) or f <= 0:
            raise node.error("the factor must be greater than 0", seen=repr(node.value))
        return f
    if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
        raise node.expected("a factor like 5x, ×1.5 or 2")
    return node.as_float(min=0, min_exclusive=True)


# -- evaluation -----------------------------------------------------------------------------------

def evaluate(spec: ExpectSpec, summary: dict) -> dict:
    """{"passed": bool, "failed": n, "checks": [...]} for the rules against summary.json data."""
    s = Summary.of(summary)
    checks: list[dict] = []
    for rule in spec.rules:
        for name in rule.phases:
            phase = s.phase(name)
            if phase is None:   # the run ended before it (interrupted or failed): not judged, not failed
                checks.append({**_check(f"phase {name} ran", name, rule.where, False, None, None,
                                        f"not judged: phase {name} did not run"), "skipped": True})
                continue
            if phase.finished is False:  # cut short: its numbers are not the phase's
                checks.append(_skipped(f"phase {name} finished", name, rule.where,
                                       f"phase {name} did not finish (the run ended in it)"))
                continue
            checks += _rule_checks(rule, phase) + _incident_checks(rule, phase, s, summary)
            checks += [_match_check(m, name, summary) for m in rule.matches]
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


def _skipped(name: str, phase: str, where, why: str) -> dict:
    """A check that cannot be judged (not failed): junit's skipped."""
    return {**_check(name, phase, where, False, None, None, f"{name}: not judged: {why}"), "skipped": True}


def _idle(phase: Phase) -> str | None:
    return f"no request was sent in phase {phase.name}" if phase.load.sent_nothing() else None


def _rule_checks(rule: Rule, phase: Phase) -> list[dict]:
    name, where, load = phase.name, rule.where, phase.load
    out = [_upper(f"latency {k}", name, where, load.get(f"{k}_ms"), v, units.duration_ms)
           for k, v in rule.latency_ms.items()]
    if rule.error_rate is not None:
        out.append(_upper("error rate", name, where, load.error_rate, rule.error_rate, units.percent))
    idle = _idle(phase)
    if idle:        # a phase with no load has no latency, errors or throughput to hold to a bound
        out = [_skipped(c["name"], name, where, idle) for c in out]
    if rule.throughput is not None and idle:
        out.append(_skipped("throughput", name, where, idle))
    elif rule.throughput is not None:
        rps = load.rps
        ok = rps is not None and rps >= rule.throughput
        msg = (f"throughput: no measurement in phase {name}" if rps is None else
               f"throughput = {units.rate(rps, 'req')} (minimum {units.rate(rule.throughput, 'req')})"
               + ("" if ok else f", short by {units.rate(rule.throughput - rps, 'req')}"))
        out.append(_check("throughput", name, where, ok, rps, rule.throughput, msg))
    services = [rule.service] if rule.service else sorted(phase.containers)
    if rule.memory_peak:
        for svc in services:
            peak = phase.container(svc).mem_peak
            out.append(_upper(f"memory peak of {svc}", name, where, peak, rule.memory_peak, units.size))
    if rule.no_oom_kill:
        for svc in services or ["(any service)"]:
            n = phase.container(svc).oom_kills
            out.append(_check(f"no OOM kill of {svc}", name, where, n == 0, n, 0,
                              f"{n} OOM kill(s) of {svc}" if n else f"no OOM kill of {svc}"))
    for t in rule.top:
        out.append(_top_check(t, rule, phase))
    out += [c for f in rule.function_latency for c in _function_latency_checks(f, rule, phase)]
    out += [c for f in rule.calls for c in _calls_checks(f, rule, phase)]
    return out


def _top_check(t: TopRule, rule: Rule, phase: Phase) -> dict:
    name = phase.name
    what = t.function or t.line
    label = f"{what} {'not ' if t.absent else ''}in top {t.n} of {t.profile}"
    services = [t.service or rule.service] if (t.service or rule.service) else sorted(phase.profiles)
    tables = [(s, phase.table(s, t.profile)) for s in services]
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


def _rank(table: Table, t: TopRule) -> int | None:
    """1-based rank of the function/line among the top n own-code entries, or None."""
    if t.function:
        for i, e in enumerate(table.functions[: t.n], 1):
            if same_function(e.function, t.function):
                return i
        return None
    file, _, line = t.line.rpartition(":")
    for i, e in enumerate(table.lines[: t.n], 1):
        if e.line == int(line) and (e.file == file or (e.path or "").endswith("/" + file)
                                    or e.file.endswith("/" + file)):
            return i
    return None


def same_function(name, want: str) -> bool:
    """A function named by its full name or by a suffix after '.' or '/' (main.burn, burn)."""
    name = str(name or "")
    return name == want or name.endswith(("." + want, "/" + want))


def _match_check(m: MatchRule, phase: str, summary: dict) -> dict:
    """The phase's fidelity score (summary["fidelity"], harness/judge/fidelity.py) against `min`."""
    label = f"{m.profile or 'phase'} matches production"
    fid = (summary.get("fidelity") or {}).get("phases", {}).get(phase) or {}
    block = (fid if m.profile is None else fid.get("latency") if m.profile == "latency"
             else (fid.get("profiles") or {}).get(m.profile))
    score = (block or {}).get("score")
    if not isinstance(score, (int, float)):
        why = (block or {}).get("why") or f"no {m.profile} comparison with production in phase {phase}"
        return _check(label, phase, m.where, False, None, m.min, f"{label}: {why}")
    ok = score >= m.min
    return _check(label, phase, m.where, ok, score, m.min,
                  f"{label}: score {score:.2f} (minimum {m.min:.2f})" + ("" if ok else f", short by {m.min - score:.2f}"))


# -- function latency (uprobes): summary phases' `functions` ------------------------------------

def _probed(f: FunctionRule, rule: Rule, phase: Phase) -> tuple[list[tuple[str, dict]], str]:
    """(service, entry) of every probed function the rule names in the phase, and when there is
    none, why: no function latency at all, or which functions were probed."""
    service = f.service or rule.service
    by_service = phase.probed
    services = [service] if service else sorted(by_service)
    entries = [(svc, e) for svc in services for e in by_service.get(svc) or []]
    found = [(svc, e) for svc, e in entries if same_function(e.get("function"), f.function)]
    of = f" of {service}" if service else ""
    why = (f"no function latency for {f.function}{of} in phase {phase.name} "
           + (f"(probed: {', '.join(sorted({str(e.get('function')) for _s, e in entries}))})" if entries
              else "(captures.functions?)"))
    return found, why


def _function_label(entry: dict, svc: str, found: list) -> str:
    """The function's full name; with its service when more than one service probed it."""
    several = len({s for s, _e in found}) > 1
    return f"{entry.get('function')}" + (f" ({svc})" if several else "")


def _function_latency_checks(f: FunctionRule, rule: Rule, phase: Phase) -> list[dict]:
    name = phase.name
    found, why = _probed(f, rule, phase)
    if not found:
        return [_check(f"{f.function} {k}", name, f.where, False, None, v, why) for k, v in f.bounds_ms.items()]
    out = []
    for svc, entry in found:
        label = _function_label(entry, svc, found)
        if entry.get("incomplete"):
            out += [_skipped(f"{label} {k}", name, f.where, entry["incomplete"]) for k in f.bounds_ms]
            continue
        for k, limit in f.bounds_ms.items():
            if not entry.get("calls"):
                out.append(_check(f"{label} {k}", name, f.where, False, None, limit,
                                  f"{label} {k}: no calls in phase {name}"))
                continue
            observed = (entry.get("latency_ms") or {}).get(k)
            out.append(_upper(f"{label} {k}", name, f.where, observed, limit, units.duration_ms))
    return out


def _calls_checks(f: FunctionRule, rule: Rule, phase: Phase) -> list[dict]:
    name = phase.name
    low, high = f.calls_min, f.calls_max
    bounds = (f"between {units.count(low)} and {units.count(high)}" if low is not None and high is not None
              else f"minimum {units.count(low)}" if low is not None else f"maximum {units.count(high)}")
    limit = {"min": low, "max": high}
    found, why = _probed(f, rule, phase)
    if not found:
        return [_check(f"{f.function} calls", name, f.where, False, None, limit, why)]
    out = []
    for svc, entry in found:
        label = _function_label(entry, svc, found)
        if entry.get("incomplete"):
            out.append(_skipped(f"{label} calls", name, f.where, entry["incomplete"]))
            continue
        n = entry.get("calls") or 0
        msg = f"{label} calls = {units.count(n)} ({bounds})"
        if low is not None and n < low:
            msg += f", short by {units.count(low - n)}"
        elif high is not None and n > high:
            msg += f", over by {units.count(n - high)}"
        ok = (low is None or n >= low) and (high is None or n <= high)
        out.append(_check(f"{label} calls", name, f.where, ok, n, limit, msg))
    return out


# -- the incident: the verdict's first finding, and metrics against the baseline phase ------------

def _incident_checks(rule: Rule, phase: Phase, s: Summary, summary: dict) -> list[dict]:
    if not rule.phase_given and phase.name == s.baseline:
        return []       # a rule for every phase judges the incidents; the baseline is their reference
    name, base_name = phase.name, s.baseline
    base = s.phase(base_name)
    idle = _idle(phase) or (base is not None and _idle(base))
    out = []
    if rule.verdict:
        out.append(_skipped(f"first finding is {rule.verdict.kind}", name, rule.verdict.where, idle) if idle
                   else _verdict_check(rule.verdict, rule, phase, summary))
    ratios = [(r, True) for r in rule.rises] + [(r, False) for r in rule.within]
    if not ratios:
        return out
    why = ("the baseline cannot be compared with itself" if name == base_name else
           "no baseline phase in the summary" if base_name is None else
           f"the baseline phase {base_name} has no measurements" if base is None else None)
    for r, rises in ratios:
        if idle and not why and METRICS[r.metric][0] == "load":
            out.append(_skipped(_ratio_label(r, rises), name, r.where, idle))
        elif why:
            out.append(_check(_ratio_label(r, rises), name, r.where, False, None, r.factor,
                              f"{r.metric} in phase {name}: {why}"))
        elif METRICS[r.metric][0] == "load":
            out.append(_ratio_check(r, rises, phase, base, None))
        else:
            services = [rule.service] if rule.service else _metric_services(phase, r.metric)
            checks = [_ratio_check(r, rises, phase, base, svc) for svc in services or [None]]
            any_one = rises and not rule.service and len(checks) > 1
            out += [_any_service(r, name, checks)] if any_one else checks
    return out


def _ratio_label(r: RatioRule, rises: bool, svc: str | None = None) -> str:
    what = f"{r.metric} of {svc}" if svc else r.metric
    return f"{what} {'rises to at least' if rises else 'within'} ×{units.sig3(r.factor)} the baseline"


def _ratio_check(r: RatioRule, rises: bool, phase: Phase, base: Phase, svc: str | None) -> dict:
    """One metric of one service (or of the load) against the baseline phase's."""
    _scope, get, fmt = METRICS[r.metric]
    name, label = phase.name, _ratio_label(r, rises, svc)
    what = f"{r.metric} of {svc}" if svc else r.metric
    now, before = get(phase, svc), get(base, svc)
    if now is None:
        return _check(label, name, r.where, False, None, r.factor, f"{what}: no measurement in phase {name}")
    if before is None:
        return _check(label, name, r.where, False, now, r.factor,
                      f"{what} = {fmt(now)}: no baseline measurement (phase {base.name})")
    limit = r.factor * before
    ok = (now >= limit and now > before) if rises else now <= limit
    against = f"×{units.sig3(now / before)} the baseline's {fmt(before)}" if before else \
        f"the baseline's {fmt(before)}"
    bound = f"at least ×{units.sig3(r.factor)}" if rises else \
        f"at most ×{units.sig3(r.factor)}" + ("" if before else ": must stay 0")
    msg = f"{what} = {fmt(now)}, {against} ({bound})"
    if not ok:
        msg += (f", short by {fmt(limit - now)}" if now < limit else ", not above it") if rises else \
            f", over by {fmt(now - limit)}"
    return _check(label, name, r.where, ok, now, limit, msg)


def _any_service(r: RatioRule, phase: str, checks: list[dict]) -> dict:
    """`rises` with no service: one check, passed when any service rises."""
    risen = [c for c in checks if c["passed"]]
    label = f"{_ratio_label(r, True)} (any service)"
    if risen:
        return _check(label, phase, r.where, True, risen[0]["observed"], risen[0]["limit"],
                      "; ".join(c["message"] for c in risen) + " (any service may rise)")
    return _check(label, phase, r.where, False, None, r.factor,
                  "no service rises: " + "; ".join(c["message"] for c in checks))


def _metric_services(phase: Phase, metric: str) -> list[str]:
    return sorted({"containers": phase.containers, "runtime": phase.runtime, "sched": phase.sched}[METRICS[metric][0]])


def _container(phase: Phase, svc: str | None) -> Container | None:
    return phase.containers.get(svc) if svc else None


def _runtime(phase: Phase, svc: str | None) -> Runtime | None:
    return phase.runtime.get(svc) if svc else None


def _cpu(phase: Phase, svc: str | None) -> float | None:
    c = _container(phase, svc)
    return None if c is None or c.cpu_pct_mean is None else c.cpu_pct_mean / 100


def _throttled(phase: Phase, svc: str | None) -> float | None:
    """The share of CFS periods throttled, as the verdict reads it (records.Container)."""
    c = _container(phase, svc)
    return c.throttled_share(phase.seconds) if c else None


def _load(key: str):
    return lambda phase, _svc: phase.load.get(key)


def _of_container(key: str):
    return lambda phase, svc: getattr(_container(phase, svc), key, None)


def _of_runtime(key: str):
    return lambda phase, svc: getattr(_runtime(phase, svc), key, None)


# metric -> (where in a summary phase: load, containers, runtime or sched (traces); its value; human units)
METRICS = {
    **{k: ("load", _load(f"{k}_ms"), units.duration_ms) for k in LATENCY_KEYS},
    "error_rate": ("load", _load("error_rate"), units.percent),
    "rps": ("load", _load("rps"), lambda v: units.rate(v, "req")),
    "cpu": ("containers", _cpu, lambda v: f"{units.sig3(v)} cores"),
    "throttled": ("containers", _throttled, units.percent),
    "memory": ("containers", _of_container("mem_peak"), units.size),
    "oom_kills": ("containers", _of_container("oom_kills"), units.count),
    "restarts": ("containers", _of_container("restarts"), units.count),
    "goroutines": ("runtime", _of_runtime("goroutines_max"), units.count),
    "gc_per_s": ("runtime", _of_runtime("gc_per_s"), lambda v: f"{units.sig3(v)} GC/s"),
    "gc_pause": ("runtime", _of_runtime("gc_pause_ms_per_s"), lambda v: f"{units.duration_ms(v)}/s"),
    # scheduler latency (runnable -> running) from the runtime trace of the phase (captures.trace)
    "sched_p50": ("sched", lambda phase, svc: getattr(phase.sched.get(svc), "p50_ms", None), units.duration_ms),
    "sched_p99": ("sched", lambda phase, svc: getattr(phase.sched.get(svc), "p99_ms", None), units.duration_ms),
}


def _verdict_check(v: VerdictRule, rule: Rule, phase: Phase, summary: dict) -> dict:
    """The first finding of the phase's verdict against the expected kind, line, profile, service
    (the verdict is the judging's output, read as the dict it is written as)."""
    name, service = phase.name, v.service or rule.service
    want = _finding_text(v.kind, v.line, v.profile and f"({v.profile})", service)
    label = f"first finding is {want}"
    verdict = summary.get("verdict") or {}
    entry = next((e for e in verdict.get("phases") or [] if e.get("phase") == name), None)
    if entry is None or not entry.get("findings"):
        why = (": the baseline is not judged" if name == summary.get("baseline_phase") else
               ": the summary has no verdict" if not verdict else
               ": it has no findings" if entry is not None else "")
        return _check(label, name, v.where, False, None, want, f"no verdict for phase {name}{why}")
    first = entry["findings"][0]
    ev = first.get("evidence") if isinstance(first.get("evidence"), dict) else {}
    line = ev.get("line") if isinstance(ev.get("line"), dict) else {}
    at = f"{line['file']}:{line.get('line')}" if line.get("file") else None
    profile = line.get("profile") or ev.get("profile")
    ok = (first.get("kind") == v.kind and (v.line is None or _same_line(line, v.line))
          and (v.profile is None or profile == v.profile)
          and (service is None or ev.get("service") == service))
    got = _finding_text(first.get("kind"), at, profile and f"({profile} profile)",
                        ev.get("service") if service else None)
    msg = f"first finding = {got}" + ("" if ok else f", expected {want}; headline: {entry.get('headline')}")
    return _check(label, name, v.where, ok, got, want, msg)


def _finding_text(kind, at: str | None, profile: str | None, service: str | None) -> str:
    return " ".join(x for x in (kind, service and f"in {service}", at and f"at {at}", profile) if x)


def _same_line(line: dict, want: str) -> bool:
    file, _, number = want.rpartition(":")
    got = str(line.get("file") or "")
    return str(line.get("line")) == str(int(number)) and (got == file or got.endswith("/" + file))


_BOUNDS = {"type": ["number", "string"]}
_FACTOR = {"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                     {"type": "string", "pattern": r"^\s*([xX×]\s*\d*\.?\d+|\d+(\.\d*)?\s*[xX×]?)\s*$"}]}
_RATIOS = {"type": "object", "additionalProperties": False,
           "description": "metric -> factor of the baseline's (5x, ×1.5 or 2)",
           "properties": {k: _FACTOR for k in METRICS}}
def _one_or_list(item: dict) -> dict:
    return {"oneOf": [item, {"type": "array", "items": item}]}


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
            "verdict": {"type": "object", "additionalProperties": False, "required": ["kind"],
                        "description": "the first finding of the phase's verdict",
                        "properties": {"kind": {"enum": list(VERDICT_KINDS)},
                                       "line": {"type": "string", "pattern": r"^.+:\d+$"},
                                       "profile": {"enum": list(VERDICT_PROFILES)},
                                       "service": {"type": "string"}}},
            "rises": _RATIOS, "within": _RATIOS,
            "function_latency": _one_or_list({
                "type": "object", "additionalProperties": False, "required": ["function"],
                "description": "upper bounds on the per-call latency of a probed function (captures.functions)",
                "properties": {"function": {"type": "string"}, "service": {"type": "string"},
                               **{k: _BOUNDS for k in FUNCTION_BOUNDS}}}),
            "matches_production": _one_or_list({
                "type": "object", "additionalProperties": False,
                "description": "the phase's similarity to production's evidence (0-1) is at least min "
                               "(of a profile kind, of latency, or overall)",
                "properties": {"profile": {"enum": list(MATCH_ASPECTS)},
                               "min": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.7}}}),
            "calls": _one_or_list({
                "type": "object", "additionalProperties": False, "required": ["function"],
                "description": "bounds on the calls of a probed function in the phase (captures.functions)",
                "properties": {"function": {"type": "string"}, "service": {"type": "string"},
                               "min": {"type": "integer", "minimum": 0},
                               "max": {"type": "integer", "minimum": 0}}}),
        },
    },
}
