"""The verdict: what happened in each phase, against the baseline, as ranked findings.

Input is the summary (harness/report/summary.py) of a run, read as typed records
(harness/judge/records.py); output is `summary["verdict"]`:

    {"version": 1, "thresholds": {...}, "phases": [{"phase", "baseline", "headline",
      "findings": [{"kind", "message", "evidence"}, ...]}]}

Per service, each cause is tested against thresholds (THRESHOLDS, documented in
docs/report.md) that noise does not reach:
  burning   CPU used grew (CPU profile, or container CPU)           -> the CPU profile's grown line
  waiting   time waiting grew at an own line: on the network, sync primitives or syscalls, from the
            runtime trace (classed by stack, harness/report/waits.py); else blocked time (block/mutex
            delay per second); else own-code goroutines in the phase-end snapshot -> the waiting line
  garbage   allocation rate grew (and GC cycles with it)             -> the grown allocating line
  squeezed  a resource fault is active, the container is throttled or near its memory limit,
            and the code's hot line did not change
  leak      own-code goroutines piled up at one line and are still there a phase later
  crash     OOM kills or restarts
The first finding is the cause with the most specific evidence (CAUSE_ORDER: crash, leak,
squeezed, garbage, burning, waiting); its message carries the symptom (latency, errors,
throughput against the baseline). With no cause and no symptom the phase gets one
"no-change" finding.
"""
from __future__ import annotations

import math

from harness.faults import registry
from harness.judge import fidelity
from harness.judge.records import Fault, Line, Phase, Sched, Summary, Table
from harness.judge.source import source_text
from harness.report import units

VERSION = 1
THRESHOLDS = {
    "latency_factor": 1.5,          # p50 or p95 at least x1.5 the baseline ...
    "latency_min_ms": 5.0,          # ... and at least 5 ms more
    "error_rate_min": 0.01,         # error rate up by at least 1 percentage point (and 5 failures)
    "throughput_drop": 0.2,         # achieved requests/s at least 20% below the baseline's
    "cpu_min_cores": 0.15,          # burning: CPU up by at least 0.15 cores ...
    "cpu_factor": 1.5,              # ... and x1.5
    "cpu_min_samples": 50,          # a CPU profile's line evidence needs 50 samples (0.5 s at 100 Hz)
    "wait_min_goroutines": 0.5,     # waiting: on average at least 0.5 goroutines blocked ...
    "wait_factor": 3.0,             # ... and x3 the baseline's
    "trace_wait_min_per_s": 0.2,    # waiting (runtime trace): an own line waits at least 0.2 s per second
                                    # (a fifth of a goroutine on average) ...
    "trace_wait_factor": 3.0,       # ... x3 the baseline's (floor 0.02 s/s), and a symptom to explain
    "wait_min_snapshot": 5,         # or, with neither profile growing: 5 goroutines of own code in the
                                    # phase-end goroutine snapshot, x3 the baseline's (network waits)
    "alloc_min_bytes_per_s": 10 << 20,   # garbage: at least 10 MiB/s allocated ...
    "alloc_factor": 3.0,            # ... and x3
    "throttled_min_share": 0.05,    # squeezed: throttled at least 5% of the phase ...
    "memory_near_limit": 0.9,       # ... or memory at 90% of the limit
    "hot_line_kept": 0.5,           # the code is unchanged: same hottest CPU line, holding half its share
    "leak_min_goroutines": 50,      # leak: 50 more own-code goroutines at one line than in the baseline,
                                    # at the end of the phase and still at the end of the next one ...
    "leak_kept": 0.8,               # ... at least 80% of them (a draining backlog shrinks) ...
    "leak_max_cpu_share": 0.05,     # ... at a line that holds under 5% of the next phase's CPU
    "leak_max_cpu_cores": 0.05,     # ... or burns under 0.05 cores there (not working: a few samples of a
                                    # small profile on a busy machine are 5% of it, not a backlog)
}
# Most specific first. Allocation churn costs CPU, so garbage comes before burning; a saturated
# CPU lengthens every blocking time (the block profile counts until the goroutine runs again),
# so waiting comes first only when the CPU did not grow.
CAUSE_ORDER = ("crash", "leak", "squeezed", "garbage", "burning", "waiting")


def build(summary: dict) -> dict:
    s = Summary.of(summary)
    base = s.phase(s.baseline)
    out = []
    for i, phase in enumerate(s.phases):
        if base is None or phase is base:
            continue
        idle = _not_judged(base, phase)
        if idle:
            out.append({"phase": phase.name, "baseline": s.baseline, "headline": f"not judged: {idle}",
                        "findings": [{"kind": "not-judged", "message": f"not judged: {idle}", "evidence": {}}]})
            continue
        nxt = s.phases[i + 1] if i + 1 < len(s.phases) else None
        prev = s.phases[i - 1] if i > 0 else None
        findings = phase_findings(s, base, phase, nxt, prev)
        out.append({"phase": phase.name, "baseline": s.baseline, "headline": headline(findings, base, phase),
                    "findings": findings})
    verdict = {"version": VERSION, "thresholds": dict(THRESHOLDS), "phases": out}
    line = fidelity.sentence(summary.get("fidelity"))
    if line:
        verdict["fidelity"] = line
    return verdict


def _not_judged(base: Phase, phase: Phase) -> str | None:
    """Why a phase cannot be judged against the baseline: one of them did not finish (the run
    ended in it: its numbers are not the phase's) or sent no request (a phase with no load has no
    symptom to explain)."""
    for p, who in ((phase, "this phase"), (base, f"the baseline ({base.name})")):
        if p.finished is False:
            return f"{who} did not finish (the run ended in it)"
        if p.load.sent_nothing():
            return f"no request was sent in {who}"
    return None


def phase_findings(summary: Summary, base: Phase, phase: Phase, nxt: Phase | None,
                   prev: Phase | None = None) -> list[dict]:
    symptom = _symptom(base, phase)
    causes = []
    for service in _services(summary, phase):
        ctx = _Ctx(summary, base, phase, nxt, service)
        for test in (_crash, _leak, _squeezed, _burning, _waiting, _garbage):
            found = test(ctx)
            if found:
                causes.append(found)
    causes.sort(key=_rank)
    findings = []
    if causes:
        first = dict(causes[0])
        if symptom:
            first["message"] = f"{first['message']}; {symptom['evidence']['summary']}"
        findings.append(first)
    if symptom:
        if not causes:
            symptom = {**symptom, "message": symptom["message"] + _unexplained(phase, prev)}
        findings.append(symptom)
    findings += causes[1:]
    faults = _faults(summary, phase)
    if faults and findings:
        findings.append(faults)
    if not findings:
        findings.append({"kind": "no-change", "message": f"no significant change against {base.name}: "
                         + _symptom_text(base, phase, QUIET_KEYS), "evidence": _load_evidence(base, phase)})
    for gen in _generator(base, phase):
        first = gen["evidence"]["mostly"] and findings[0]["kind"] == "symptom"
        findings.insert(0 if first else len(findings), gen)
    return findings


def _generator(base: Phase, phase: Phase) -> list[dict]:
    """The load generator, not the service, was the limit for some seconds (of this phase or of
    the baseline it is compared with): the latencies there are partly the generator's. First
    when it was so for half the phase or more and nothing captured explains the symptom, else a
    caveat after the other findings."""
    out = []
    for p, who in ((phase, "this phase"), (base, f"the baseline ({base.name})")):
        limited = p.load.generator_limited()
        if limited is None:
            continue
        n, of, reasons = limited
        why = f" ({'; '.join(reasons)})" if reasons else ""
        out.append({"kind": "generator",
                    "message": f"the load generator was the limit for {n} of {of} s of {who}{why}: latencies "
                               "there are partly the generator's, not the service's; spread the load over "
                               "more workers (load.workers) or lower the rate",
                    "evidence": {"phase": p.name, "saturated_s": n, "seconds": of, "reasons": reasons,
                                 "mostly": p is phase and 2 * n >= of}})
    return out


HEADLINES = {"burning": "burning CPU", "waiting": "waiting", "garbage": "making garbage",
             "squeezed": "squeezed by its limits", "leak": "leaking goroutines", "crash": "crashing"}


def headline(findings: list[dict], base: Phase, phase: Phase) -> str:
    """One short sentence: the cause, its service and line, and the symptom in numbers."""
    first = findings[0]
    kind, ev = first["kind"], first.get("evidence") or {}
    symptom = _symptom_text(base, phase, QUIET_KEYS if kind == "no-change" else ("p99",))
    if kind == "no-change":
        return f"no significant change ({symptom})"
    if kind == "generator":
        return f"the load generator was the limit for {ev['saturated_s']} of {ev['seconds']} s: {symptom}"
    if kind == "symptom":
        recovery = "recovery from" in first["message"]
        return f"{symptom}; " + ("recovering from the faults before" if recovery else "nothing captured explains it")
    line = ev.get("line") or {}
    at = f" at {line['file']}:{line['line']}" if line.get("file") else ""
    where = f" ({WAIT_ON.get(line.get('wait'), 'waiting')}, runtime trace)" if at and line.get("wait") else \
        f" ({line['profile']} profile)" if at and kind != "squeezed" else \
        " (the code's hot line unchanged)" if at else ""
    return f"{ev.get('service', '')} {HEADLINES.get(kind, kind)}{at}{where}: {symptom}".strip()


def _unexplained(phase: Phase, prev: Phase | None) -> str:
    if prev is not None and prev.fault_ids and not phase.fault_ids:
        return (f"; no fault is active here: this is the recovery from {prev.name} (work queued "
                "during its faults finishes in this phase)")
    waits = phase.waits or any(k in kinds for kinds in phase.profiles.values() for k in ("block", "mutex"))
    return "; no captured profile or signal explains it" + ("" if waits else (
        " (no runtime trace or block profile was captured: add captures.trace to see where requests "
        "wait, on the network too, or block and mutex profiles to captures.pprof, with captures.rates)"))


def _rank(f: dict) -> tuple:
    kind = f["kind"]
    return (CAUSE_ORDER.index(kind) if kind in CAUSE_ORDER else len(CAUSE_ORDER), -f.get("strength", 0.0))


def _services(summary: Summary, phase: Phase) -> list[str]:
    names = set(summary.service_names) | phase.services()
    return sorted(n for n in names if n)


class _Ctx:
    """One service in one phase against the baseline (and the phase after, for leaks)."""

    def __init__(self, summary: Summary, base: Phase, phase: Phase, nxt: Phase | None, service: str):
        self.summary, self.base, self.phase, self.nxt, self.service = summary, base, phase, nxt, service
        self.source_root = summary.source_roots.get(service)

    def profile(self, phase: Phase | None, kind: str) -> Table | None:
        return phase.table(self.service, kind) if phase is not None else None

    def change_grew(self, kind: str):
        change = self.summary.change(self.service, kind, self.phase.name)
        return change.grew if change else ()


# -- symptom ------------------------------------------------------------------------------------

def _symptom(base: Phase, phase: Phase) -> dict | None:
    b, a = base.load, phase.load
    t = THRESHOLDS
    worse = []
    # judged on p50 and p95: p99 of a few hundred requests is the third-worst request, which one
    # stall of a shared machine moves by tens of ms (seen: 2.7 -> 28 ms with no fault)
    for key in ("p50_ms", "p95_ms"):
        vb, va = b.get(key), a.get(key)
        if vb is not None and va is not None and va >= vb * t["latency_factor"] and va - vb >= t["latency_min_ms"]:
            worse.append(key)
    eb, ea = b.error_rate or 0.0, a.error_rate or 0.0
    # however high the baseline's errors: 61.8% -> 100% is an outage (every request failed)
    if ea - eb >= t["error_rate_min"] and (a.failures >= 5 or (ea >= 1.0 and a.failures >= 2)):
        worse.append("error_rate")
    # throughput as a share of the target rate when the load has one: an open model's phases may
    # ask for different rates (20/s asked and done is no drop from 40/s asked and done)
    rb, ra = b.kept_up(), a.kept_up()
    if rb and ra is not None and ra <= rb * (1 - t["throughput_drop"]):
        worse.append("rps")
    if not worse:
        return None
    text = _symptom_text(base, phase)
    return {"kind": "symptom", "message": f"the symptom: {text}",
            "evidence": {**_load_evidence(base, phase), "worse": worse, "summary": text}}


def _symptom_text(base: Phase, phase: Phase, keys: tuple[str, ...] = ("p99",)) -> str:
    b, a = base.load, phase.load
    parts = []
    for k in keys:
        vb, va = b.get(f"{k}_ms"), a.get(f"{k}_ms")
        parts.append(f"{k} {_ms(vb)} → {_ms(va)}{_factor(vb, va)}")
    if (a.error_rate or 0) > 0 or (b.error_rate or 0) > 0:
        parts.append(f"errors {units.percent(b.error_rate or 0)} → {units.percent(a.error_rate or 0)}")
    if b.rps is not None and a.rps is not None:
        parts.append(f"throughput {_throughput(b.rps, b.target_rps)} → {_throughput(a.rps, a.target_rps)}")
    return ", ".join(parts)


def _throughput(rps: float, target: float | None) -> str:
    text = units.rate(rps, "req")
    return f"{text} (of {units.rate(target, 'req')} asked)" if target else text


QUIET_KEYS = ("p50", "p95")     # what "no significant change" was judged on (p99: see _symptom)


def _load_evidence(base: Phase, phase: Phase) -> dict:
    return {"before": base.load.evidence(), "after": phase.load.evidence()}


def _ms(v) -> str:
    return units.duration_ms(v)


def _factor(before, after) -> str:
    if not before or after is None:
        return ""
    f = after / before
    return f" (×{f:.3g})" if f >= 1.05 or f <= 0.95 else ""


# -- causes ---------------------------------------------------------------------------------------

def _crash(ctx: _Ctx) -> dict | None:
    c = ctx.phase.container(ctx.service)
    ooms, restarts = c.oom_kills, c.restarts
    if not ooms and not restarts:
        return None
    what = " and ".join(x for x in (f"{ooms} OOM kill(s)" if ooms else "",
                                    f"{restarts} restart(s)" if restarts else "") if x)
    limit = c.mem_limit
    return {"kind": "crash", "message": f"crash: {ctx.service} had {what}"
            + (f" (memory limit {units.size(limit)})" if limit else ""),
            "evidence": {"service": ctx.service, "oom_kills": ooms, "restarts": restarts, "mem_limit": limit}}


def _line_evidence(ctx: _Ctx, kind: str) -> dict | None:
    """The own line of `kind` that grew most (by value per second when the profile has a window,
    else by share), with its shares before and after and its source text."""
    grew = list(ctx.change_grew(kind))
    if all(r.rate_after is not None for r in grew):
        grew.sort(key=lambda r: -((r.rate_after or 0) - (r.rate_before or 0)))
    if not grew:
        return None
    top = grew[0]
    file, _, line = top.key.rpartition(":")
    return _line_ref(ctx, kind, file, int(line), top.function, top.share_before, top.share_after,
                     rate_before=top.rate_before, rate_after=top.rate_after)


def _line_ref(ctx: _Ctx, profile: str, file: str, line: int, function, share_before, share_after,
              **extra) -> dict:
    """A culprit line as evidence: where (the file as the report shows it, and as the profile names
    it, for an editor to find), its shares before and after, and its source text."""
    table = ctx.profile(ctx.phase, profile)
    entry = table.line((file, line)) if table else None
    path = extra.pop("path", None) or (entry.path if entry else None)
    return {"profile": profile, "file": file, "line": line, "function": function, "path": path,
            "share_before": share_before, "share_after": share_after, **extra,
            "text": source_text(ctx.source_root, file, line)}


def _where(ev: dict) -> str:
    text = f" `{ev['text']}`" if ev.get("text") else ""
    return (f"{ev['file']}:{ev['line']}{text} ({units.percent(ev.get('share_before') or 0)} → "
            f"{units.percent(ev.get('share_after') or 0)} of the {ev['profile']} profile)")


def _strength(before: float, after: float, floor: float) -> float:
    return math.log2(max(after, floor) / max(before, floor))


def _burning(ctx: _Ctx) -> dict | None:
    t = THRESHOLDS
    pb, pa = ctx.profile(ctx.base, "cpu"), ctx.profile(ctx.phase, "cpu")
    if pb and pa and pb.seconds and pa.seconds:
        before, after = pb.per_second() / 1e9, pa.per_second() / 1e9
        samples = pa.total / 1e7
    else:
        cb, ca = ctx.base.container(ctx.service).cpu_pct_mean, ctx.phase.container(ctx.service).cpu_pct_mean
        if cb is None or ca is None:
            return None
        before, after, samples = cb / 100, ca / 100, 0
    if after - before < t["cpu_min_cores"] or after < before * t["cpu_factor"]:
        return None
    ev = _line_evidence(ctx, "cpu") if samples >= t["cpu_min_samples"] else None
    msg = (f"burning: {ctx.service} used {after:.2f} CPU cores (baseline {before:.2f})"
           + (f"; the CPU went to {_where(ev)}" if ev else ""))
    return {"kind": "burning", "message": msg, "strength": _strength(before, after, 0.05),
            "evidence": {"service": ctx.service, "cores_before": before, "cores_after": after,
                         "line": ev, "profile": "cpu"}}


def _waiting(ctx: _Ctx) -> dict | None:
    """Time waiting at an own line from the runtime trace when both phases have one; else
    goroutines blocked on average, from the block profile, else the mutex profile (the block
    profile holds mutex waits too, at the line that waited; the mutex profile names the line
    that unlocked), else a goroutine snapshot: waits on the network (a slow dependency, one
    round trip per item) are in no block profile, only in the goroutines' stacks."""
    traced = _trace_waiting(ctx)
    if traced:
        return traced
    for kind in ("block", "mutex", "goroutine"):
        found = _blocked(ctx, kind)
        if found:
            break
    else:
        return None
    kind, before, after, table = found
    if kind == "goroutine":
        how, ev = f"waiting in its code ({table} profile)", _top_line(ctx, table)
    else:
        how, ev = f"blocked on average ({kind} profile)", _line_evidence(ctx, kind)
    msg = (f"waiting: in {ctx.service}, {after:.3g} goroutines were {how}; baseline {before:.2g}"
           + (f"; they waited at {_where(ev)}" if ev else ""))
    msg += _peak(ctx)
    return {"kind": "waiting", "message": msg, "strength": _strength(before, after, 0.05),
            "evidence": {"service": ctx.service, "profile": kind, "blocked_before": before,
                         "blocked_after": after, "line": ev}}


def _peak(ctx: _Ctx) -> str:
    peak = ctx.phase.runtime_of(ctx.service).goroutines_max
    return f"; goroutines peaked at {peak:,}" if peak is not None else ""


WAIT_ON = {"network": "on the network", "sync": "on locks and channels", "syscall": "in syscalls"}


def _trace_waiting(ctx: _Ctx) -> dict | None:
    """The own line whose waiting (network, sync, syscall; not runnable) grew most, from the
    runtime trace of the phase against the baseline's, when it passes the thresholds and there is
    a symptom to explain (a stall of a shared machine moves a dependency's waits too)."""
    t = THRESHOLDS
    wb, wa = ctx.base.waits_of(ctx.service), ctx.phase.waits_of(ctx.service)
    if not wb or not wa or _symptom(ctx.base, ctx.phase) is None:
        return None
    before_at = {r.at: r.per_s for r in wb.lines}
    best = None
    for r in wa.lines:
        after, before = r.per_s, before_at.get(r.at, 0.0)
        if after < t["trace_wait_min_per_s"] or after < max(before, 0.02) * t["trace_wait_factor"]:
            continue
        if best is None or after - before > best[0]:
            best = (after - before, r, before)
    if best is None:
        return None
    _grown, r, before = best
    after, cls = r.per_s, r.wait or "sync"
    ev = _line_ref(ctx, "trace", r.file, r.line, r.function, None, None, path=r.path, wait=cls,
                   waiting_before=before, waiting_after=after)
    text = f" `{ev['text']}`" if ev.get("text") else ""
    func = f" in {r.function}" if r.function else ""
    msg = (f"waiting: {ctx.service} waited {WAIT_ON.get(cls, cls)} at {r.file}:{r.line}{text}{func}: "
           f"{waiting_change(before, after)} (runtime trace)") + _peak(ctx)
    return {"kind": "waiting", "message": msg, "strength": _strength(before, after, 0.02),
            "evidence": {"service": ctx.service, "profile": "trace", "wait": cls, "waiting_before": before,
                         "waiting_after": after, "line": ev}}


def waiting_change(before: float, after: float) -> str:
    """Seconds of waiting per second, before -> after: "12 ms → 1.23 s of waiting per second"."""
    return f"{units.duration_s(before)} → {units.duration_s(after)} of waiting per second"


def _blocked(ctx: _Ctx, kind: str) -> tuple[str, float, float, str] | None:
    """(kind, goroutines waiting in the baseline, in the phase, the profile read) when the phase's
    number is over the thresholds. Block and mutex profiles give the average (delay per second).
    A goroutine snapshot gives one instant (the phase's peak when the runtime sampler took one,
    else its end), so it needs wait_min_snapshot goroutines of own code and only explains a symptom."""
    t = THRESHOLDS
    table = kind
    pb, pa = ctx.profile(ctx.base, kind), ctx.profile(ctx.phase, kind)
    if kind == "goroutine":
        if ctx.profile(ctx.phase, "goroutine-peak"):
            table, pa = "goroutine-peak", ctx.profile(ctx.phase, "goroutine-peak")
        pb = ctx.profile(ctx.base, "goroutine-peak") or pb
        if not pa or not pb or _symptom(ctx.base, ctx.phase) is None:
            return None
        after, before = pa.own_total, pb.own_total
        floor, least = t["wait_min_snapshot"], 1
    else:
        if not pa or not pa.seconds:
            return None
        after = pa.per_second() / 1e9
        before = pb.per_second() / 1e9 if pb and pb.seconds else 0.0
        floor, least = t["wait_min_goroutines"], 0.01
    if after < floor or after < max(before, least) * t["wait_factor"]:
        return None
    return kind, before, after, table


def _top_line(ctx: _Ctx, table: str) -> dict | None:
    """The own line holding the most goroutines in the phase's `table` snapshot, as evidence."""
    snapshot = ctx.profile(ctx.phase, table)
    if not snapshot or not snapshot.lines:
        return None
    top = snapshot.lines[0]
    before = _line_entry(ctx.profile(ctx.base, "goroutine"), top.at)
    return _line_ref(ctx, table, top.file, top.line, top.function, before.share if before else 0, top.share)


def _garbage(ctx: _Ctx) -> dict | None:
    t = THRESHOLDS
    pb, pa = ctx.profile(ctx.base, "allocs"), ctx.profile(ctx.phase, "allocs")
    if not pa or not pa.seconds or pa.unit != "bytes":
        return None
    after = pa.per_second()
    before = pb.per_second() if pb and pb.seconds else 0.0
    if after < t["alloc_min_bytes_per_s"] or after < max(before, 1 << 20) * t["alloc_factor"]:
        return None
    ev = _line_evidence(ctx, "allocs")
    rb, ra = ctx.base.runtime_of(ctx.service), ctx.phase.runtime_of(ctx.service)
    gc = ""
    if ra.gc_per_s is not None:
        gc = f"; {ra.gc_per_s:.3g} GC cycles/s (baseline {rb.gc_per_s or 0:.3g})"
    msg = (f"garbage: {ctx.service} allocated {units.size(after)}/s (baseline {units.size(before)}/s){gc}"
           + (f"; the allocations come from {_where(ev)}" if ev else ""))
    return {"kind": "garbage", "message": msg, "strength": _strength(before, after, 1 << 20),
            "evidence": {"service": ctx.service, "alloc_bytes_per_s_before": before,
                         "alloc_bytes_per_s_after": after, "gc_per_s_before": rb.gc_per_s,
                         "gc_per_s_after": ra.gc_per_s, "line": ev, "profile": "allocs"}}


def _squeezed(ctx: _Ctx) -> dict | None:
    t = THRESHOLDS
    faults = [f for f in ctx.summary.faults_in(ctx.phase) if f.target == ctx.service and _kind(f).resource]
    if not faults:
        return None
    c = ctx.phase.container(ctx.service)
    throttled = c.throttled_share(ctx.phase.seconds) or 0.0
    near = (c.mem_peak_share or 0) >= t["memory_near_limit"]
    if throttled < t["throttled_min_share"] and not near:
        return None
    kept = _hot_line_kept(ctx)
    if kept is False:
        return None
    what = "; ".join(_fault_text(f) for f in faults)
    msg = f"squeezed: {what}"
    if throttled >= t["throttled_min_share"]:
        msg += (f"; {ctx.service} was throttled in {units.percent(throttled)} of its CPU periods "
                f"({units.duration_ms(c.throttled_ms)} held back)")
    sb, sa = ctx.base.sched.get(ctx.service), ctx.phase.sched.get(ctx.service)
    sched = _sched_change(sb, sa)
    if sched:
        msg += f"; {sched}"
    if near:
        msg += f"; memory reached {units.percent(c.mem_peak_share)} of its limit"
    if kept:
        msg += f"; the code did not change: the hottest line is still {_where(kept)}"
    return {"kind": "squeezed", "message": msg, "strength": 10.0,
            "evidence": {"service": ctx.service, "faults": [f.id for f in faults],
                         "throttled_share": throttled, "mem_peak_share": c.mem_peak_share,
                         "sched_p99_ms_before": sb.p99_ms if sb else None,
                         "sched_p99_ms_after": sa.p99_ms if sa else None, "line": kept or None}}


def _sched_change(sb: Sched | None, sa: Sched | None) -> str:
    """Scheduler latency before -> during from the runtime traces ("goroutines waited p50 ... p99
    ... to run"), when both phases have one and the p99 grew; "" otherwise."""
    if not sb or not sa or sb.p99_ms is None or sa.p99_ms is None or sa.p99_ms <= sb.p99_ms:
        return ""
    return (f"goroutines waited longer to run (runnable → running, runtime trace): p50 "
            f"{units.duration_ms(sb.p50_ms)} → {units.duration_ms(sa.p50_ms)}, p99 {units.duration_ms(sb.p99_ms)} → "
            f"{units.duration_ms(sa.p99_ms)}")


def _hot_line_kept(ctx: _Ctx) -> dict | bool | None:
    """The CPU profile's hottest own line when it is the same before and during (holding at least
    half its share); False when it moved; None when there are no CPU profiles to tell."""
    pb, pa = ctx.profile(ctx.base, "cpu"), ctx.profile(ctx.phase, "cpu")
    if not pb or not pa or not pb.lines or not pa.lines:
        return None
    lb, la = pb.lines[0], pa.lines[0]
    if lb.at != la.at or la.share < lb.share * THRESHOLDS["hot_line_kept"]:
        return False
    return _line_ref(ctx, "cpu", la.file, la.line, la.function, lb.share, la.share)


def _leak(ctx: _Ctx) -> dict | None:
    """Goroutines of the service's own code that piled up at one line in this phase and are
    still there at the end of the next one (the goroutine snapshots at phase end). The total
    count is not enough: the load generator's idle keep-alive connections keep server
    goroutines alive too, in library code only."""
    t = THRESHOLDS
    after = ctx.profile(ctx.nxt, "goroutine")
    if not after or not after.lines:
        return None
    top = after.lines[0]
    base_entry = _line_entry(ctx.profile(ctx.base, "goroutine"), top.at)
    base = base_entry.value if base_entry else 0
    now_entry = _line_entry(ctx.profile(ctx.phase, "goroutine-peak") or ctx.profile(ctx.phase, "goroutine"), top.at)
    now = now_entry.value if now_entry else 0
    stayed = top.value
    if stayed - base < t["leak_min_goroutines"] or now - base < t["leak_min_goroutines"]:
        return None
    # a backlog still being worked off shrinks and burns CPU at its line; leaked goroutines neither
    if stayed < now * t["leak_kept"] or _working(ctx.profile(ctx.nxt, "cpu"), top.at):
        return None
    peak_max = ctx.phase.runtime_of(ctx.service).goroutines_max
    ev = _line_ref(ctx, "goroutine", top.file, top.line, top.function,
                   base_entry.share if base_entry else 0, top.share)
    peak = f"; {peak_max:,} goroutines in all at the phase's peak" if peak_max is not None else ""
    msg = (f"leak: {stayed:,.0f} goroutines of {ctx.service} still wait at {_where(ev)} at the end of "
           f"the next phase, {ctx.nxt.name} (baseline {base:,.0f}){peak}")
    return {"kind": "leak", "message": msg, "strength": 20.0,
            "evidence": {"service": ctx.service, "goroutines_baseline": base, "goroutines_phase": now,
                         "goroutines_after": stayed, "line": ev}}


def _working(cpu: Table | None, at: tuple[str, int]) -> bool:
    """Whether the own line `at` burns CPU in a phase's CPU profile: a real share of the profile
    and a real amount of CPU (cores); the share alone when the profile has no duration."""
    e = _line_entry(cpu, at)
    if e is None or e.share < THRESHOLDS["leak_max_cpu_share"]:
        return False
    if e.rate is None or cpu.unit != "nanoseconds":
        return True
    return e.rate / 1e9 >= THRESHOLDS["leak_max_cpu_cores"]


def _line_entry(table: Table | None, at: tuple[str, int]) -> Line | None:
    """A profile table's entry for the own line `at` (file, line), or None when it has none."""
    return table.line(at) if table else None


# -- faults -----------------------------------------------------------------------------------------

def _fault_text(f: Fault | dict) -> str:
    f = Fault.of(f) if isinstance(f, dict) else f
    units_of = _kind(f).units
    params = ", ".join(f"{k} {_param(units_of.get(k), v)}" for k, v in f.params.items()
                       if v not in (None, 0, 0.0, "", False))
    peer = f.peer
    to = f" to {peer.get('service') or peer.get('ip') or ''}{':' + str(peer['port']) if peer.get('port') else ''}" \
        if peer else ""
    return f"{f.kind} on {f.target}{to}" + (f" ({params})" if params else "")


def _kind(fault: Fault) -> registry.Kind:
    """The fault's kind (its own file says which parameters are what and whether it is a resource
    fault); a kind this version does not know (an older run's) reads as plain numbers."""
    return registry.get(fault.kind) or registry.Kind()


# a fault parameter in human units, by the unit its kind gives it (scenario units: seconds, bytes,
# bits per second)
PARAM_UNITS = {
    "duration": units.duration_s,
    "size": units.size,
    "bits": lambda v: f"{units.sig3(v / 1e6)} Mbit/s",
    "percent": lambda v: f"{units.sig3(v)}%",
}


def _param(unit: str | None, value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return PARAM_UNITS.get(unit or "", units.sig3)(value)


def _faults(summary: Summary, phase: Phase) -> dict | None:
    faults = summary.faults_in(phase)
    if not faults:
        return None
    return {"kind": "faults", "message": "faults active: " + "; ".join(_fault_text(f) for f in faults),
            "evidence": {"faults": [f.id for f in faults]}}
