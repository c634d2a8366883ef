"""Runner-side merging of the workers' records: history lines and load/stats.json.

Pure logic (HdrHistograms decoded and added exactly; no Locust, no gevent).
"""
from __future__ import annotations

from collections import Counter

from harness.load import hist as H
from harness.load.recorder import CPU_SATURATED
from harness.load.schedule import PhaseTable

STATS_SCHEMA_VERSION = 1


def phase_label(phases: PhaseTable, t: float) -> tuple[str | None, bool]:
    """The phase a history second belongs to, and whether it lies after the load window."""
    name = phases.name_at(t)
    if name is not None:
        return name, False
    if phases.phases and t >= phases.end_s:
        return phases.phases[-1].name, True
    return (phases.phases[0].name if phases.phases else None), False


class HistoryMerger:
    """Collects per-second records from every worker; a second is complete when each worker
    that is still running has reported it."""

    def __init__(self, workers: int, phases: PhaseTable, sig: int = 3):
        self.workers = workers
        self.phases = phases
        self.sig = sig
        self.pending: dict[int, dict[int, dict]] = {}
        self.done: set[int] = set()

    def add(self, worker: int, rec: dict) -> list[dict]:
        self.pending.setdefault(int(rec["t"]), {})[worker] = rec
        return self._ready()

    def worker_done(self, worker: int) -> list[dict]:
        self.done.add(worker)
        return self._ready()

    def flush(self) -> list[dict]:
        out = [self.line(t, self.pending.pop(t)) for t in sorted(self.pending)]
        return out

    def _ready(self) -> list[dict]:
        out = []
        live = [w for w in range(self.workers) if w not in self.done]
        for t in sorted(self.pending):
            recs = self.pending[t]
            if any(w not in recs for w in live):
                break
            out.append(self.line(t, self.pending.pop(t)))
        return out

    def line(self, t: int, recs: dict[int, dict]) -> dict:
        rs = list(recs.values())
        h = H.merge([r["hist"] for r in rs], self.sig)
        lat = H.summary_ms(h)
        phase, drain = phase_label(self.phases, float(t))
        targets = [r.get("target_rps") for r in rs if r.get("target_rps") is not None]
        reasons = sorted({x for r in rs for x in r.get("reasons", [])})
        out = {"t_s": float(t), "phase": phase,
               "rps": float(sum(r["count"] for r in rs)), "fps": float(sum(r["failures"] for r in rs)),
               "p50_ms": lat["p50"], "p95_ms": lat["p95"], "p99_ms": lat["p99"], "max_ms": lat["max"],
               "users": sum(r.get("users") or 0 for r in rs),
               "inflight": sum(r.get("inflight") or 0 for r in rs),
               "target_rps": round(sum(targets), 3) if targets else None,
               "sent": sum(r.get("sent", 0) for r in rs),
               "dropped": sum(r.get("dropped", 0) for r in rs),
               "delayed": sum(r.get("delayed", 0) for r in rs),
               "backlog": sum(r.get("backlog", 0) for r in rs),
               "lag_ms": max(r.get("lag_ms", 0.0) for r in rs),
               "loop_late_ms": max(r.get("loop_late_ms", 0.0) for r in rs),
               "gen_cpu": max(r.get("cpu", 0.0) for r in rs),
               "gen_saturated": any(r.get("saturated") for r in rs), "gen_reasons": reasons}
        if drain:
            out["drain"] = True
        return out


# -- load/stats.json -----------------------------------------------------------------------------

class _Acc:
    """Merged counts and histograms of one (endpoint, phase) cell, or of a sum of cells."""

    def __init__(self, sig: int):
        self.count = 0
        self.failures = 0
        self.errors: Counter = Counter()
        self.intended = H.new_hist(sig)
        self.actual = H.new_hist(sig)

    def add_bucket(self, b: dict) -> None:
        self.count += b["count"]
        self.failures += b["failures"]
        self.errors.update(b.get("errors", {}))
        self.intended.decode_and_add(b["intended"].encode("ascii"))
        self.actual.decode_and_add(b["actual"].encode("ascii"))

    def add(self, other: _Acc) -> None:
        self.count += other.count
        self.failures += other.failures
        self.errors.update(other.errors)
        self.intended.add(other.intended)
        self.actual.add(other.actual)

    def to_json(self, basis: str) -> dict:
        out = {"requests": self.count, "failures": self.failures,
               "errors": dict(self.errors.most_common(20))}
        actual = H.summary_ms(self.actual)
        if basis == "intended":
            intended = H.summary_ms(self.intended)
            out.update(latency_ms=intended, intended_ms=intended, actual_ms=actual)
        else:
            out.update(latency_ms=actual, actual_ms=actual)
        # flat copies on the run's basis, the names history.jsonl uses (p99_ms, max_ms, ...)
        out.update({f"{k}_ms": out["latency_ms"][k] for k in ("p50", "p90", "p95", "p99", "p99.9", "max")})
        out["error_rate"] = round(self.failures / self.count, 6) if self.count else None
        return out


def build_stats(finals: list[dict], history: list[dict], *, model: str, basis: str, sig: int,
                phases: PhaseTable, rate_of, target_url: str, incomplete: bool) -> dict:
    """load/stats.json from the workers' final records and the merged history.

    rate_of(phase) gives a phase's mean target rate (open model) or None.
    """
    cells: dict[tuple[str, str, str], _Acc] = {}
    for fin in finals:
        for b in fin.get("buckets", []):
            key = (b["name"], b["method"], b["phase"])
            cells.setdefault(key, _Acc(sig)).add_bucket(b)
    counts = _phase_counts(finals)
    completed = _completed(finals)
    total = _Acc(sig)
    by_phase: dict[str, _Acc] = {}
    by_endpoint: dict[tuple[str, str], dict[str, _Acc]] = {}
    for (name, method, phase), acc in sorted(cells.items()):
        total.add(acc)
        by_phase.setdefault(phase, _Acc(sig)).add(acc)
        by_endpoint.setdefault((name, method), {})[phase] = acc
    return {
        "schema_version": STATS_SCHEMA_VERSION, "model": model, "latency_basis": basis,
        "precision": H.precision_note(sig), "target": target_url, "workers": len(finals),
        "incomplete": incomplete,
        "window": {"start_s": phases.start_s, "end_s": phases.end_s},
        "totals": _with_counts(total.to_json(basis), _sum_counts(counts.values()),
                               phases.end_s - phases.start_s, None,
                               sum(completed[(None, None, p.name)] for p in phases.phases)),
        "phases": {p.name: _with_counts(by_phase.get(p.name, _Acc(sig)).to_json(basis),
                                        counts.get(p.name, {}), p.end_s - p.start_s, rate_of(p.name),
                                        completed[(None, None, p.name)])
                   | {"start_s": p.start_s, "end_s": p.end_s,
                      "endpoints": _phase_endpoints(by_endpoint, p.name, basis, p.end_s - p.start_s,
                                                   completed)}
                   for p in phases.phases},
        "endpoints": [_endpoint(name, method, per_phase, basis, sig)
                      for (name, method), per_phase in sorted(by_endpoint.items())],
        "generator": _generator(finals, history),
        "skipped_late_start": sum(f.get("skipped_late_start", 0) for f in finals),
    }


def _endpoint(name: str, method: str, per_phase: dict[str, _Acc], basis: str, sig: int) -> dict:
    total = _Acc(sig)
    for acc in per_phase.values():
        total.add(acc)
    out = {"name": name, "method": method}
    out.update(total.to_json(basis))
    out["phases"] = {phase: acc.to_json(basis) for phase, acc in sorted(per_phase.items())}
    return out


def _phase_endpoints(by_endpoint: dict, phase: str, basis: str, duration: float,
                     completed: Counter) -> list[dict]:
    """Per endpoint of a phase: its requests (issued in the phase) and rps (completed inside it)."""
    out = []
    for (name, method), per_phase in sorted(by_endpoint.items()):
        if phase in per_phase:
            block = {"name": name, "method": method} | per_phase[phase].to_json(basis)
            done = completed[(name, method, phase)]
            block["completed_in_window"] = done
            block["rps"] = round(done / duration, 3) if duration > 0 else None
            out.append(block)
    return out


def _phase_counts(finals: list[dict]) -> dict[str, dict]:
    out: dict[str, Counter] = {}
    for fin in finals:
        for phase, c in fin.get("phase_counts", {}).items():
            out.setdefault(phase, Counter()).update(c)
    return {k: dict(v) for k, v in out.items()}


def _sum_counts(items) -> dict:
    total: Counter = Counter()
    for c in items:
        total.update(c)
    return dict(total)


def _completed(finals: list[dict]) -> Counter:
    """Completions per (name, method, phase of their completion time) and per phase (name and
    method None), summed over the workers: exact, not the per-second history, whose rows
    straddle phase boundaries."""
    out: Counter = Counter()
    for fin in finals:
        for c in fin.get("completed") or []:
            out[(c["name"], c["method"], c["phase"])] += c["count"]
            out[(None, None, c["phase"])] += c["count"]
    return out


def _with_counts(block: dict, counts: dict, duration: float, target_rps, completed: int) -> dict:
    """achieved_rps: completions inside the phase's window per second of it (throughput: a phase
    the service cannot keep up with shows its drop); requests counts every request *issued* in
    the phase (its intended send time), including those that completed after it."""
    block.update(sent=counts.get("sent", 0), dropped=counts.get("dropped", 0),
                 delayed=counts.get("delayed", 0), completed_in_window=completed,
                 achieved_rps=round(completed / duration, 3) if duration > 0 else None)
    block["rps"] = block["achieved_rps"]
    if target_rps is not None:
        block["target_rps"] = round(target_rps, 3)
    return block


def _generator(finals: list[dict], history: list[dict]) -> dict:
    cpu: dict[int, float] = {}
    for fin in finals:
        for t, frac in fin.get("cpu", []):
            cpu[t] = max(cpu.get(t, 0.0), frac)
    saturated = [{"t_s": h["t_s"], "reasons": h.get("gen_reasons", [])}
                 for h in history if h.get("gen_saturated")]
    per_worker = []
    for k, fin in enumerate(finals):
        fracs = [frac for _t, frac in fin.get("cpu", [])]
        per_worker.append({"worker": fin.get("worker", k), "host": fin.get("host"), "priority": fin.get("priority"),
                           "requests": sum(b.get("count", 0) for b in fin.get("buckets", ())),
                           "mean_cpu": round(sum(fracs) / len(fracs), 3) if fracs else None,
                           "max_cpu": max(fracs, default=None),
                           "busy_seconds": sum(1 for f in fracs if f >= CPU_SATURATED),
                           "cpu_per_second": [[float(t), c] for t, c in fin.get("cpu", [])],
                           **({"remote": fin["remote"]} if fin.get("remote") else {})})
    return {"per_worker": per_worker,
            "cpu_per_second": [[float(t), c] for t, c in sorted(cpu.items())],
            "max_cpu": max(cpu.values(), default=0.0),
            "max_lag_ms": max((h.get("lag_ms", 0.0) for h in history), default=0.0),
            "saturated": bool(saturated), "saturated_seconds": saturated}
