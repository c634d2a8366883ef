"""summary.json: the run's results as data (versioned); the HTML and JUnit render it.

Per phase: load statistics (overall and per endpoint), container statistics per service,
top own-code functions and lines per profile, trace summaries, where goroutines waited by cause
and own line (from the trace, harness/report/waits.py), runtime state, function latency
(uprobes), events. Across phases:
"what changed" from the baseline phase to each other phase, per service and profile kind.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.judge import fidelity, verdict
from harness.report import function_latency, production, profiles, waits
from harness.report.rundata import RunData

SCHEMA_VERSION = 1
MARKED_EVENTS = ("oom-kill", "container-die", "container-restart", "container-start", "fault-applied",
                 "fault-reverted", "capture-failed")


def build(run: RunData) -> dict:
    m = run.manifest
    services = m.get("services", {})
    tables = _profile_tables(run, services)
    phases = [_phase(run, p, tables, services) for p in run.phases]
    data = {
        "schema_version": SCHEMA_VERSION,
        "run_id": m.get("run_id"),
        "scenario": (m.get("scenario") or {}).get("name"),
        "wall_t0_iso": (m.get("clock") or {}).get("wall_t0_iso"),
        "result": m.get("result") or {},
        "baseline_phase": run.baseline,
        "services": {n: {"limits": s.get("limits"), "source_root": s.get("source_root"),
                         "module": s.get("module")} for n, s in services.items()},
        "phases": phases,
        "changes": _changes(run, tables),
        "faults": m.get("faults", []),
        "events": [e for e in m.get("events", []) if e.get("kind") in MARKED_EVENTS],
        "capture_failures": [e for e in m.get("events", []) if e.get("kind") == "capture-failed"],
        "notes": [e.get("detail") for e in m.get("events", []) if e.get("kind") == "capture-note"],
    }
    given = production.inputs(run, tables, services)
    if given is not None:
        prod, prod_tables, repro, service = given
        data["fidelity"] = fidelity.build(prod, prod_tables, repro, {p["name"]: p.get("load") or {} for p in phases},
                                          source_root=service.get("source_root"))
    data["problems"] = list(run.problems)
    data["verdict"] = verdict.build(data)
    return data


# -- load ---------------------------------------------------------------------------------------

def load_stats(run: RunData, phase: dict) -> dict:
    """A phase's load figures. From load/stats.json when it has the phase (exact: requests,
    failures and quantiles of the requests whose intended send time lies in the phase's window;
    throughput = completions inside the window per second of it); from the per-second history
    only for a run without it (approx: rows straddle phase boundaries)."""
    stats = _stats_phase(run.load_stats, phase["name"])
    if not isinstance(stats.get("requests"), int) or isinstance(stats.get("requests"), bool):
        return _with_generator(_partial(run, phase, stats), run, phase)
    seconds = max(0.0, (phase.get("end_s") or 0) - (phase.get("start_s") or 0))
    requests = _number(stats.get("requests")) or 0
    out = {"seconds": round(seconds, 3), "requests": requests, "failures": _number(stats.get("failures")) or 0,
           "rps": _number(stats.get("achieved_rps")), "error_rate": None, "approx": False}
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
        out[key] = _number(stats.get(key)) if requests else None
    if requests:
        out["error_rate"] = round(out["failures"] / requests, 6)
    for key in ("target_rps", "sent", "completed_in_window"):
        if _number(stats.get(key)) is not None:
            out[key] = stats[key]
    out["endpoints"] = _endpoints(run.load_stats, phase["name"])
    return _with_generator(out, run, phase)


def _with_generator(out: dict, run: RunData, phase: dict) -> dict:
    gen = generator_figures([h for h in run.history if _in_phase(h, phase) and not h.get("drain")])
    if gen:
        out["generator"] = gen
    return out


def generator_figures(rows: list[dict]) -> dict | None:
    """The phase's seconds in which the load generator, not the service, was the limit (its
    CPU at 90% of a core, 50 ms behind schedule, or its event loop 50 ms late), with the
    reasons of its worst second; None when it never was."""
    hot = [r for r in rows if r.get("gen_saturated")]
    if not hot:
        return None
    worst = max(hot, key=lambda r: len(r.get("gen_reasons") or []))
    return {"saturated_s": len(hot), "seconds": len(rows),
            "max_cpu": max((_number(r.get("gen_cpu")) or 0.0 for r in rows), default=0.0),
            "reasons": list(worst.get("gen_reasons") or [])}


def _partial(run: RunData, phase: dict, stats: dict) -> dict:
    """Without the load runner's stats.json (an older run, a killed one, or a file another tool
    wrote with only some keys): the per-second history (drain rows left out), with what the
    file has taking its place."""
    out = _from_history([h for h in run.history if _in_phase(h, phase) and not h.get("drain")])
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "requests", "failures"):
        if _number(stats.get(key)) is not None:
            out[key] = stats[key]
    if stats:
        out["approx"] = False
        if out.get("requests"):
            out["error_rate"] = round((out.get("failures") or 0) / out["requests"], 6)
    out["endpoints"] = _endpoints(run.load_stats, phase["name"])
    return out


def _number(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _in_phase(row: dict, phase: dict) -> bool:
    if row.get("phase") is not None:
        return row["phase"] == phase["name"]
    t = row.get("t_s")
    return t is not None and phase["start_s"] <= t < phase["end_s"]


def _from_history(rows: list[dict]) -> dict:
    """Per-phase numbers from per-second rows; percentiles are request-weighted means (approx)."""
    if not rows:
        return {"seconds": 0, "requests": 0, "failures": 0, "rps": None, "error_rate": None,
                "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "approx": True}
    req = sum(r.get("rps") or 0 for r in rows)
    fail = sum(r.get("fps") or 0 for r in rows)

    def weighted(key):
        pts = [(r[key], r.get("rps") or 0) for r in rows if r.get(key) is not None]
        w = sum(x for _v, x in pts)
        return round(sum(v * x for v, x in pts) / w, 3) if w else None

    maxes = [r["max_ms"] for r in rows if r.get("max_ms") is not None]
    return {"seconds": len(rows), "requests": req, "failures": fail, "rps": round(req / len(rows), 3),
            "error_rate": round(fail / req, 6) if req else None, "p50_ms": weighted("p50_ms"),
            "p95_ms": weighted("p95_ms"), "p99_ms": weighted("p99_ms"),
            "max_ms": max(maxes) if maxes else None, "approx": True}


def _stats_phase(stats: dict, name: str) -> dict:
    """load/stats.json's block of a phase (`phases.<name>`, docs/load.md)."""
    phases = stats.get("phases")
    block = phases.get(name) if isinstance(phases, dict) else None
    return block if isinstance(block, dict) else {}


def _endpoints(stats: dict, name: str) -> list[dict]:
    keys = ("name", "method", "requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms")
    entries = _stats_phase(stats, name).get("endpoints")
    if not isinstance(entries, list):
        return []
    return [{k: e.get(k) for k in keys} for e in entries if isinstance(e, dict)]


# -- containers -----------------------------------------------------------------------------------

def container_stats(run: RunData, phase: dict) -> dict:
    out = {}
    by_service: dict[str, list[dict]] = {}
    for row in run.containers:
        t = row.get("t_s")
        if t is not None and phase["start_s"] <= t < phase["end_s"]:
            by_service.setdefault(row.get("service"), []).append(row)
    for name, rows in by_service.items():
        cpu = [r["cpu_pct"] for r in rows if r.get("cpu_pct") is not None]
        mem = [r["mem_bytes"] for r in rows if r.get("mem_bytes") is not None]
        ooms = [r.get("oom_kills") or 0 for r in rows]
        restarts = [r.get("restarts") or 0 for r in rows]
        limit = next((r["mem_limit"] for r in rows if r.get("mem_limit")), None)
        out[name] = {"samples": len(rows), "cpu_pct_mean": round(sum(cpu) / len(cpu), 2) if cpu else None,
                     "cpu_pct_max": max(cpu) if cpu else None,
                     "throttled_ms": round(sum(r.get("throttled_ms") or 0 for r in rows), 3),
                     "throttled_periods": sum(r.get("throttled_periods") or 0 for r in rows),
                     "periods": sum(r.get("periods") or 0 for r in rows),
                     "mem_peak": max(mem) if mem else None, "mem_limit": limit,
                     "mem_peak_share": round(max(mem) / limit, 4) if mem and limit else None,
                     "oom_kills": max(ooms) - min(ooms) if ooms else 0,
                     "restarts": max(restarts) - min(restarts) if restarts else 0}
    # Docker's OOM events count every kill; the cgroup's counter starts again with a restarted
    # container, so a crash loop shows one kill in the stats and several events
    kills: dict[str, int] = {}
    for ev in run.manifest.get("events", []):
        if ev.get("kind") == "oom-kill" and phase["start_s"] <= ev.get("t_s", -1) < phase["end_s"]:
            kills[ev.get("service")] = kills.get(ev.get("service"), 0) + 1
    for service, n in kills.items():
        entry = out.setdefault(service, {"samples": 0, "oom_kills": 0})
        entry["oom_kills"] = max(entry.get("oom_kills") or 0, n)
    return out


# -- profiles ---------------------------------------------------------------------------------------

def _profile_tables(run: RunData, services: dict) -> dict:
    """(phase, service, kind) -> full own-code table, for every profile artifact."""
    tables = {}
    for a in run.manifest.get("artifacts", []):
        if a.get("kind") not in profiles.PROFILE_KINDS or not a.get("phase"):
            continue
        seconds = None
        if a.get("start_s") is not None and a.get("end_s") is not None and a.get("window") != "snapshot":
            seconds = max(1e-3, a["end_s"] - a["start_s"])
        table = profiles.safe_table(run.path / a["path"], services.get(a.get("service"), {}), seconds,
                                    run.problems)
        if table is not None:
            table.update({"path": a["path"], "start_s": a.get("start_s"), "end_s": a.get("end_s")})
            tables[(a["phase"], a.get("service"), a["kind"])] = table
    return tables


def _phase(run: RunData, p: dict, tables: dict, services: dict) -> dict:
    name = p["name"]
    prof: dict[str, dict] = {}
    for (phase, service, kind), table in tables.items():
        if phase == name:
            prof.setdefault(service, {})[kind] = profiles.top(table)
    return {"name": name, "start_s": p["start_s"], "end_s": p["end_s"], "faults": p.get("faults", []),
            "finished": _finished(run, name),
            "load": load_stats(run, p), "containers": container_stats(run, p), "profiles": prof,
            "traces": _traces(run, name), "waits": waits.phase_block(run, name, services),
            "runtime": _runtime(run, p),
            "functions": function_latency.phase_block(run, name),
            "events": [e for e in run.manifest.get("events", [])
                       if e.get("kind") in MARKED_EVENTS and p["start_s"] <= e.get("t_s", -1) < p["end_s"]]}


def _finished(run: RunData, name: str) -> bool:
    """Whether the phase ran to its end: its phase-end event (a run interrupted in it has none).
    A manifest without phase events (written by hand or by an older harness) counts as finished."""
    kinds = [(e.get("kind"), e.get("detail")) for e in run.manifest.get("events", [])]
    if not any(k in ("phase-start", "phase-end") for k, _d in kinds):
        return True
    return ("phase-end", name) in kinds


def _runtime(run: RunData, phase: dict) -> dict:
    """Per service with runtime samples in the phase (runtime/<service>.jsonl): goroutines and heap in
    use (first, last, min, max, mean; the time of the highest count), GC cycles and pause time per
    second between the phase's first and last sample (counters summed over increments, so a
    restart's reset counts from zero), the highest GC CPU fraction and the phase's goroutine-peak
    profile (its path, or None when the count never rose enough to take one)."""
    peaks = {a.get("service"): a.get("path") for a in run.artifacts("goroutine-peak", phase["name"])}

    def series(rows: list[dict], key: str) -> list[tuple[float, float]]:
        return [(r["t_s"], r[key]) for r in rows if r.get(key) is not None]

    def levels(rows: list[dict], key: str, digits: int | None) -> dict:
        pts = series(rows, key)
        if not pts:
            return dict.fromkeys(("first", "last", "min", "max", "mean", "t_max_s"))
        vals = [v for _t, v in pts]
        t_max, top = max(pts, key=lambda tv: tv[1])
        return {"first": vals[0], "last": vals[-1], "min": min(vals), "max": top,
                "mean": round(sum(vals) / len(vals), digits), "t_max_s": t_max}

    def per_s(rows: list[dict], key: str, scale: float = 1.0) -> float | None:
        pts = series(rows, key)
        if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
            return None
        vals = [v for _t, v in pts]
        grown = sum(vals[i] - vals[i - 1] if vals[i] >= vals[i - 1] else vals[i] for i in range(1, len(vals)))
        return round(grown * scale / (pts[-1][0] - pts[0][0]), 4)

    out = {}
    for svc, rows in sorted(run.runtime.items()):
        rows = [r for r in rows if _in_phase(r, phase)]
        if not rows:
            continue
        heap = levels(rows, "heap_inuse_bytes", None)
        frac = [v for _t, v in series(rows, "gc_cpu_fraction")]
        out[svc] = {"samples": len(rows), "goroutines": levels(rows, "goroutines", 1),
                    "heap_inuse_bytes": {k: heap[k] for k in ("first", "last", "max", "mean")},
                    "gc_per_s": per_s(rows, "num_gc"),
                    "gc_pause_ms_per_s": per_s(rows, "gc_pause_total_ns", 1e-6),
                    "gc_cpu_fraction_max": max(frac) if frac else None,
                    "peak_profile": peaks.get(svc)}
    return out


def _traces(run: RunData, phase: str) -> dict:
    out = {}
    for a in run.artifacts("trace", phase):
        path = run.path / (a.get("summary") or Path(a["path"]).with_name("summary.json"))
        try:
            out[a.get("service")] = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            run.problems.append(f"{path}: {e}")
    return out


def _changes(run: RunData, tables: dict) -> list[dict]:
    base = run.baseline
    out = []
    for (phase, service, kind), table in sorted(tables.items(), key=lambda kv: str(kv[0])):
        if phase == base or (base, service, kind) not in tables:
            continue
        before = tables[(base, service, kind)]
        out.append({"service": service, "kind": kind, "sample_type": table["sample_type"],
                    "unit": table["unit"], "baseline": base, "phase": phase,
                    **profiles.changes(before, table)})
    return out
