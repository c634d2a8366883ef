"""Two runs side by side: per phase, load numbers and the own-code lines/functions whose share
of each profile grew or shrank most from run A to run B (the same diff as "what changed")."""
from __future__ import annotations

import json
from pathlib import Path

from harness import outfile
from harness.errors import HarnessError
from harness.report import html, profiles, units
from harness.report.markup import escape
from harness.report.rundata import load_run
from harness.report.summary import _profile_tables, load_stats

SCHEMA_VERSION = 1
# (key in a phase's load, label, how it reads, True when larger is worse) for the symptom lines
SYMPTOM = (("p50_ms", "p50", units.duration_ms, True), ("p99_ms", "p99", units.duration_ms, True),
           ("error_rate", "errors", units.percent, True), ("rps", "throughput", units.rate, False))


def compare_runs(run_a: str | Path, run_b: str | Path, out_dir: str | Path) -> dict:
    """Write compare.json and compare.html into out_dir; return the comparison."""
    a, b = load_run(run_a), load_run(run_b)
    ta = _profile_tables(a, a.manifest.get("services", {}))
    tb = _profile_tables(b, b.manifest.get("services", {}))
    phases_b = {p["name"]: p for p in b.phases}
    result = {"schema_version": SCHEMA_VERSION, "run_a": a.manifest.get("run_id"), "run_b": b.manifest.get("run_id"),
              "phases": [], "changes": [], "problems": a.problems + b.problems}
    for p in a.phases:
        if p["name"] in phases_b:
            result["phases"].append({"name": p["name"], "load_a": _short(load_stats(a, p)),
                                     "load_b": _short(load_stats(b, phases_b[p["name"]]))})
    for key in sorted(set(ta) & set(tb), key=str):
        phase, service, kind = key
        result["changes"].append({"service": service, "kind": kind, "phase": phase, "baseline": phase,
                                  "sample_type": tb[key]["sample_type"], "unit": tb[key]["unit"],
                                  **profiles.changes(ta[key], tb[key])})
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HarnessError("cannot create the comparison's folder", where=str(out),
                           seen="a file, not a folder" if out.exists() else (e.strerror or str(e)),
                           hint="name a folder with --out") from None
    outfile.write(out / "compare.json", json.dumps(result, indent=1, default=str), what="compare.json")
    outfile.write(out / "compare.html", render(result), what="compare.html")
    return result


def _short(ld: dict) -> dict:
    return {k: ld.get(k) for k in ("requests", "rps", "error_rate", "p50_ms", "p95_ms", "p99_ms")}


def differences(c: dict, top: int = 3) -> list[dict]:
    """The main differences from A to B, per phase (for the terminal): the symptom (latency,
    errors, throughput A vs B with the factor) and, per service and profile kind (the kind whose
    own-code distribution moved most first), the own lines whose share grew or shrank most."""
    out = []
    for p in c.get("phases") or []:
        la, lb = p.get("load_a") or {}, p.get("load_b") or {}
        symptom = [{"name": label, "a": fmt(la.get(k)), "b": fmt(lb.get(k)),
                    "factor": units.factor(la.get(k), lb.get(k)), "worse": _worse(la.get(k), lb.get(k), bad_up)}
                   for k, label, fmt, bad_up in SYMPTOM]
        changes = [ch for ch in c.get("changes") or [] if ch.get("phase") == p.get("name")]
        kinds = [_kind(ch, top) for ch in sorted(changes, key=lambda ch: -profiles.moved(ch))]
        out.append({"phase": p.get("name"), "symptom": symptom,
                    "profiles": [k for k in kinds if k["grew"] or k["shrank"]]})
    return out


def _kind(ch: dict, top: int) -> dict:
    lines = ch.get("lines") or {}
    return {"service": ch.get("service"), "kind": ch.get("kind"), "moved": profiles.moved(ch),
            "grew": [_line(r, ch.get("unit")) for r in (lines.get("grew") or [])[:top]],
            "shrank": [_line(r, ch.get("unit")) for r in (lines.get("shrank") or [])[:top]]}


def _worse(a, b, bad_up: bool) -> bool | None:
    if a is None or b is None or a == b:
        return None
    return (b > a) == bad_up


def _line(r: dict, unit: str | None) -> dict:
    """A grown or shrunk line: key, function, shares, and its value per second (or total) A -> B."""
    value = units.profile_change(r.get("rate_before"), r.get("rate_after"), r.get("value_before"),
                                 r.get("value_after"), unit)
    return {"key": r.get("key"), "function": r.get("function"), "share_a": units.percent(r.get("share_before")),
            "share_b": units.percent(r.get("share_after")), "delta": units.points(r.get("delta")),
            "value": value}


def render(c: dict) -> str:
    a, b = str(c["run_a"]), str(c["run_b"])
    rows = "".join(f"<tr><td class='l'>{escape(p['name'])}</td>" + "".join(
        f"<td>{escape(fmt(p['load_a'].get(k)))}</td><td>{escape(fmt(p['load_b'].get(k)))}</td>"
        f"<td>{escape(units.factor(p['load_a'].get(k), p['load_b'].get(k)))}</td>"
        for k, _label, fmt, _bad in SYMPTOM) + "</tr>" for p in c["phases"])
    head = "".join(f"<th>{label} A</th><th>{label} B</th><th>B/A</th>" for _k, label, _f, _b in SYMPTOM)
    blocks = "".join(html.change_block(ch, left=f"A {ch['phase']}", right=f"B {ch['phase']}")
                     for ch in c["changes"])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>compare</title><style>{html.CSS}</style>"
            f"</head><body><h1>A = {escape(a)}<br>B = {escape(b)}</h1><h2>Load per phase</h2><table><tr>"
            f"<th class='l'>phase</th>{head}</tr>{rows}</table><h2>What changed from A to B</h2>"
            f"{blocks or '<div class=muted>no profiles in common</div>'}</body></html>")
