"""Top own-code functions and lines of a profile, and what changed between two profiles.

Own code is what lives under the service's source_root or its module path (from the
manifest); library and runtime time is charged to the own line that called it (the
`own` column of rundir.pprof.line_costs). Shares are of the profile's total, so profiles
of different lengths and sample counts compare; rates (value per second of the
window) are given beside them.
"""
from __future__ import annotations

from collections import defaultdict

from rundir import gosource
from rundir.contract import PROFILE_KINDS  # noqa: F401 - the report's order of kinds
from rundir.pprof import ProfileError, line_costs, load_profile

TOP_N = 10


def own_matcher(service: dict):
    """is_own(filename) for a service entry of the manifest (the one definition: rundir.gosource)."""
    return gosource.own_matcher(service.get("source_root"), service.get("module"))


def short(filename: str, service: dict) -> str:
    for prefix in (service.get("source_root"), service.get("module")):
        if prefix and filename.startswith(prefix.rstrip("/") + "/"):
            return filename[len(prefix.rstrip("/")) + 1:]
    return filename.rsplit("/", 1)[-1] if "/" in filename else filename


def profile_table(path: str, service: dict, seconds: float | None, rename=None) -> dict:
    """Top own lines and functions of a profile file, for its default sample type. `rename`
    (a profile's file name -> the service's own file, or None when not own) reads a profile
    built elsewhere (production's, harness/report/production.py)."""
    prof = load_profile(path)
    index = prof.default_index
    stype, unit = prof.sample_types[index]
    total = prof.total(index)
    costs = line_costs(prof, index, is_own=own_matcher(service) if rename is None
                       else (lambda f: rename(f) is not None))
    lines = sorted((c for c in costs.values() if c.own > 0), key=lambda c: -c.own)
    funcs: dict[str, int] = defaultdict(int)
    for c in lines:
        funcs[c.function] += c.own
    own_total = sum(c.own for c in lines)

    def entry(value: int) -> dict:
        return {"value": value, "share": round(value / total, 6) if total else 0.0,
                "rate": round(value / seconds, 3) if seconds else None}

    return {
        "sample_type": stype, "unit": unit, "total": total, "own_total": own_total,
        "own_share": round(own_total / total, 6) if total else 0.0, "seconds": seconds,
        "duration_s": prof.duration_ns / 1e9 if prof.duration_ns > 0 else None,
        "lines": [{"file": short(c.filename, service) if rename is None else rename(c.filename),
                   "path": c.filename, "line": c.line,
                   "function": c.function, **entry(c.own)} for c in lines],
        "functions": [{"function": f, **entry(v)} for f, v in sorted(funcs.items(), key=lambda kv: -kv[1])],
    }


def top(table: dict, n: int = TOP_N) -> dict:
    """The same table cut to the top n lines and functions (for summary.json)."""
    return {**table, "lines": table["lines"][:n], "functions": table["functions"][:n]}


def changes(before: dict, after: dict, n: int = TOP_N) -> dict:
    """Lines and functions whose share of the profile grew or shrank most from before to after."""
    return {"lines": _diff(before["lines"], after["lines"], lambda e: f"{e['file']}:{e['line']}", n),
            "functions": _diff(before["functions"], after["functions"], lambda e: e["function"], n),
            "total_before": before["total"], "total_after": after["total"],
            "rate_before": _rate(before), "rate_after": _rate(after)}


def moved(change: dict) -> float:
    """How far a profile's own-code distribution moved between the two sides of a change entry:
    the sum of |delta| of its (top grown and shrunk) line shares, 0..2."""
    lines = change.get("lines") or {}
    return sum(abs(r.get("delta") or 0) for r in (lines.get("grew") or []) + (lines.get("shrank") or []))


def _rate(table: dict):
    return round(table["total"] / table["seconds"], 3) if table.get("seconds") else None


def _diff(before: list[dict], after: list[dict], key, n: int) -> dict:
    b = {key(e): e for e in before}
    a = {key(e): e for e in after}
    rows = []
    for k in set(a) | set(b):
        eb, ea = b.get(k), a.get(k)
        sb, sa = (eb or {}).get("share", 0.0), (ea or {}).get("share", 0.0)
        ref = ea or eb
        rows.append({"key": k, "function": ref.get("function"), "share_before": sb, "share_after": sa,
                     "delta": round(sa - sb, 6), "rate_before": (eb or {}).get("rate"),
                     "rate_after": (ea or {}).get("rate"), "value_before": (eb or {}).get("value", 0),
                     "value_after": (ea or {}).get("value", 0)})
    grew = sorted((r for r in rows if r["delta"] > 0), key=lambda r: -r["delta"])[:n]
    shrank = sorted((r for r in rows if r["delta"] < 0), key=lambda r: r["delta"])[:n]
    return {"grew": grew, "shrank": shrank}


def safe_table(path, service, seconds, problems: list[str]) -> dict | None:
    try:
        return profile_table(str(path), service, seconds)
    except (ProfileError, OSError) as e:
        problems.append(f"{path}: {e}")
        return None
