"""How close a reproduction is to production: summary.json's `fidelity` (docs/production.md).

Per phase of the run and per profile kind production gave, over the service's own code:

- the phase's **score**: the mean of its profile kinds' scores.
- a side with fewer than MIN_SAMPLES samples (events) in own code has no shape to speak of: the
  kind is not scored and says so (a phase with none at all, where production has some, scores 0).
- a kind's **score** (0-1): its shape score times its size score.
- **shape_score**: the mean of the line score and the function score, each 1 − the total
  variation distance between the two share vectors, which is Σ min(p_k, q_k) over own lines
  (functions). Shares are of own code's total, so a profile's length, sampling rate and the time
  outside own code (GC workers, the scheduler) do not count. 1: the same own lines in the same
  proportions; 0: no own line in common.
- **size_score**: how close the amounts are, own code's value per second of each profile (per
  request when production's rps is given and the phase has one): 1 within a factor of
  SIZE_TOLERANCE, then tolerance × smaller / larger (a 10x gap: 0.2). The same shape at a
  hundredth of the waiting is not the incident. Without a duration in production's profile (a
  cumulative /debug/pprof/block, say) the size is not known and the score is the shape's.
- **change_score** (0-1, with production baseline profiles): the cosine similarity of the two
  changes, production's incident minus its baseline against the phase minus the run's baseline
  phase, line by line; 0 when they point apart (clipped).
- **common**, **missing** and **extra**: production's top lines the phase shares; lines holding
  at least MISSING_SHARE of production's own cost that the phase gives less than a quarter of
  that (what the reproduction lacks), and the reverse; amounts per second (or request) when both
  sizes are known, so a line a hundred times quieter is missing whatever its share.
- **latency** (0-1): the mean of min/max of each quantile production gave (p50, p95, p99) and
  the phase's; **error_rate** and **rps** side by side.
"""
from __future__ import annotations

import math

from harness.judge.source import source_text

TOP_N = 10
MIN_SAMPLES = 20           # own samples (events) a side needs before its shape means anything
MISSING_SHARE = 0.02
SIZE_TOLERANCE = 2.0
MEASURE = ("score = shape x size; shape: mean of line and function similarity, each 1 - total variation "
           "distance of own-code share vectors (sum of min(p, q)); size: own code's value per second (per "
           f"request with production's rps) within x{SIZE_TOLERANCE:g} is 1, else {SIZE_TOLERANCE:g} x smaller / "
           "larger; change_score: cosine of the changes from the baselines")


def shares(table: dict | None, what: str) -> dict[str, float]:
    """Own-code shares of a profile table (profiles.profile_table) by line ('file:line') or function."""
    rows = (table or {}).get(what) or []
    key = (lambda e: f"{e.get('file')}:{e.get('line')}") if what == "lines" else (lambda e: str(e.get("function")))
    values: dict[str, float] = {}
    for e in rows:
        v = e.get("value") or 0
        if v > 0:
            values[key(e)] = values.get(key(e), 0.0) + v
    total = sum(values.values())
    return {k: v / total for k, v in values.items()} if total > 0 else {}


def similarity(p: dict[str, float], q: dict[str, float]) -> float:
    """1 − total variation distance: Σ min(p_k, q_k) for two distributions."""
    return sum(min(v, q.get(k, 0.0)) for k, v in p.items())


def change_similarity(prod: dict, prod_base: dict, repro: dict, repro_base: dict) -> float | None:
    keys = set(prod) | set(prod_base) | set(repro) | set(repro_base)
    a = [prod.get(k, 0.0) - prod_base.get(k, 0.0) for k in keys]
    b = [repro.get(k, 0.0) - repro_base.get(k, 0.0) for k in keys]
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    if na < 1e-9 or nb < 1e-9:
        return None
    return max(0.0, sum(x * y for x, y in zip(a, b)) / (na * nb))


def size(table: dict, rps: float | None) -> float | None:
    """Own code's value per second of the profile, per request with a request rate."""
    seconds, own = table.get("seconds"), table.get("own_total")
    if not seconds or own is None:
        return None
    return own / seconds / rps if rps else own / seconds


def size_score(prod: float | None, repro: float | None) -> float | None:
    if prod is None or repro is None:
        return None
    low, high = sorted((prod, repro))
    if high <= 0:
        return 1.0
    return min(1.0, SIZE_TOLERANCE * low / high)


def compare(prod: dict, repro: dict | None, prod_base: dict | None = None, repro_base: dict | None = None,
            rps: tuple[float | None, float | None] = (None, None)) -> dict:
    """One profile kind: production's table against the phase's (None: the phase has no such profile);
    rps: production's and the phase's request rates (the size per request when both are known)."""
    if not repro:
        return {"score": None, "why": "the phase has no such profile"}
    pl, rl = shares(prod, "lines"), shares(repro, "lines")
    if not pl:
        return {"score": None, "why": "production's profile has no line of the service's own code "
                                      "(path_map: production's build paths)"}
    few = [f"{who} {t['own_count']}" for who, t in (("production", prod), ("the phase", repro))
           if isinstance(t.get("own_count"), int) and t["own_count"] < MIN_SAMPLES and (rl or who == "production")]
    if few:
        return {"score": None, "why": f"too few samples in own code to compare ({', '.join(few)}; "
                                      f"at least {MIN_SAMPLES} needed): a longer profile, or a busier service"}
    if not rl:
        return {"score": 0.0, "shape_score": 0.0, "why": "the phase's profile has no own code: nothing in common",
                "missing": [{"line": k, "function": None, "production": round(pl[k], 4), "reproduction": 0.0}
                            for k in sorted(pl, key=lambda k: -pl[k]) if pl[k] >= MISSING_SHARE][:TOP_N]}
    line_score, func_score = similarity(pl, rl), similarity(shares(prod, "functions"), shares(repro, "functions"))
    funcs = {f"{e.get('file')}:{e.get('line')}": e.get("function") for e in (prod.get("lines") or []) + (repro.get("lines") or [])}

    def row(k: str) -> dict:
        return {"line": k, "function": funcs.get(k), "production": round(pl.get(k, 0.0), 4),
                "reproduction": round(rl.get(k, 0.0), 4)}
    top_prod = sorted(pl, key=lambda k: -pl[k])
    shape = (line_score + func_score) / 2
    per_request = all(rps)
    sizes = (size(prod, rps[0] if per_request else None), size(repro, rps[1] if per_request else None))
    fit = size_score(*sizes)
    # a line's amount on the phase's side relative to production's: its share times how much larger
    # the phase's own code is (1 without both sizes): "missing" is a quarter of production's or less
    scale = sizes[1] / sizes[0] if sizes[0] and sizes[1] is not None else 1.0
    out = {"score": round(shape * (fit if fit is not None else 1.0), 3), "shape_score": round(shape, 3),
           "size_score": round(fit, 3) if fit is not None else None,
           "size": {"production": _round(sizes[0]), "reproduction": _round(sizes[1]), "unit": prod.get("unit"),
                    "per": "request" if per_request else "second"},
           "line_score": round(line_score, 3), "function_score": round(func_score, 3),
           "common": [row(k) for k in top_prod[:TOP_N] if rl.get(k, 0.0) > 0],
           "missing": [row(k) for k in top_prod if pl[k] >= MISSING_SHARE and rl.get(k, 0.0) * scale < pl[k] / 4][:TOP_N],
           "extra": [row(k) for k in sorted(rl, key=lambda k: -rl[k])
                     if rl[k] >= MISSING_SHARE and pl.get(k, 0.0) < rl[k] * scale / 4][:TOP_N],
           "production_total": prod.get("total"), "reproduction_total": repro.get("total"),
           "sample_type": prod.get("sample_type"), "unit": prod.get("unit")}
    if prod_base and repro_base:
        ch = change_similarity(pl, shares(prod_base, "lines"), rl, shares(repro_base, "lines"))
        out["change_score"] = round(ch, 3) if ch is not None else None
    return out


def _round(v: float | None) -> float | None:
    return None if v is None else float(f"{v:.4g}")


def latency(prod_ms: dict, load: dict) -> dict:
    pairs = {q: (v, load.get(f"{q}_ms")) for q, v in prod_ms.items()}
    ratios = [min(a, b) / max(a, b) for a, b in pairs.values() if isinstance(b, (int, float)) and a > 0 and b > 0]
    return {"score": round(sum(ratios) / len(ratios), 3) if ratios else None,
            "quantiles": {q: {"production_ms": a, "reproduction_ms": b} for q, (a, b) in pairs.items()},
            **({} if ratios else {"why": "the phase has no latency figures"})}


def build(production: dict, prod_tables: dict, repro: dict, loads: dict, source_root: str | None = None) -> dict:
    """production: the manifest's block; prod_tables: {"incident"|"baseline": {kind: table}};
    repro: {phase: {kind: table}} of the service; loads: {phase: summary load block}; source_root:
    where the service's source is on this machine (the lines' text)."""
    base_phase = production.get("baseline_phase")
    phases = {}
    for name, kinds in repro.items():
        block: dict = {"profiles": {}}
        for kind, prod in (prod_tables.get("incident") or {}).items():
            block["profiles"][kind] = compare(prod, kinds.get(kind), (prod_tables.get("baseline") or {}).get(kind),
                                              (repro.get(base_phase) or {}).get(kind),
                                              (production.get("rps"), (loads.get(name) or {}).get("rps")))
        scores = [b["score"] for b in block["profiles"].values() if isinstance(b.get("score"), (int, float))]
        block["score"] = round(sum(scores) / len(scores), 3) if scores else None
        load = loads.get(name) or {}
        if production.get("latency_ms"):
            block["latency"] = latency(production["latency_ms"], load)
        if production.get("error_rate") is not None:
            block["error_rate"] = {"production": production["error_rate"], "reproduction": load.get("error_rate")}
        if production.get("rps") is not None:
            block["rps"] = {"production": production["rps"], "reproduction": load.get("rps")}
        phases[name] = block
    _add_text(phases, source_root)
    return {"service": production.get("service"), "phase": production.get("phase"), "baseline_phase": base_phase,
            "measure": MEASURE, "phases": phases}


def _add_text(phases: dict, root: str | None) -> None:
    cache: dict[str, str | None] = {}
    for block in phases.values():
        for kind in (block.get("profiles") or {}).values():
            for row in (kind.get("missing") or []) + (kind.get("extra") or []) + (kind.get("common") or []):
                key = row["line"]
                if key not in cache:
                    file, _, n = key.rpartition(":")
                    cache[key] = source_text(root, file, int(n)) if n.isdigit() else None
                row["text"] = cache[key]


def sentence(fidelity: dict | None) -> str | None:
    """The verdict's one line: the incident phase's scores."""
    if not fidelity:
        return None
    phase = fidelity.get("phase")
    block = (fidelity.get("phases") or {}).get(phase) or {}
    parts = [f"{kind} {b['score']:.2f}" for kind, b in (block.get("profiles") or {}).items()
             if isinstance(b.get("score"), (int, float))]
    lat = (block.get("latency") or {}).get("score")
    if isinstance(lat, (int, float)):
        parts.append(f"latency {lat:.2f}")
    if not parts:
        return f"reproduction vs production ({phase}): nothing to compare"
    missing = next((b["missing"][0] for b in (block.get("profiles") or {}).values() if b.get("missing")), None)
    tail = (f"; production's {missing['line']} ({missing['production']:.0%}) is missing here"
            if missing else "")
    return f"reproduction vs production ({phase}, {fidelity.get('service')}): {', '.join(parts)} (0-1){tail}"
