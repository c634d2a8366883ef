"""Two runs side by side: per phase, load numbers and the own-code lines/functions whose share
of each profile grew or shrank most from run A to run B (the same diff as "what changed")."""
from __future__ import annotations

import json
from html import escape
from pathlib import Path

from harness.report import html, profiles
from harness.report.rundir import load_run
from harness.report.summary import _profile_tables, load_stats

SCHEMA_VERSION = 1


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
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "compare.html").write_text(render(result))
    return result


def _short(ld: dict) -> dict:
    return {k: ld.get(k) for k in ("requests", "rps", "error_rate", "p50_ms", "p95_ms", "p99_ms")}


def render(c: dict) -> str:
    a, b = str(c["run_a"]), str(c["run_b"])
    rows = "".join(f"<tr><td class='l'>{escape(p['name'])}</td>" + "".join(
        f"<td>{p['load_a'].get(k) if p['load_a'].get(k) is not None else '–'}</td>"
        f"<td>{p['load_b'].get(k) if p['load_b'].get(k) is not None else '–'}</td>"
        for k in ("rps", "p50_ms", "p99_ms", "error_rate")) + "</tr>" for p in c["phases"])
    head = "".join(f"<th>{k} A</th><th>{k} B</th>" for k in ("rps", "p50_ms", "p99_ms", "error_rate"))
    blocks = "".join(html.change_block(ch, left=f"A {ch['phase']}", right=f"B {ch['phase']}")
                     for ch in c["changes"])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>compare</title><style>{html.CSS}</style>"
            f"</head><body><h1>A = {escape(a)}<br>B = {escape(b)}</h1><h2>Load per phase</h2><table><tr>"
            f"<th class='l'>phase</th>{head}</tr>{rows}</table><h2>What changed from A to B</h2>"
            f"{blocks or '<div class=muted>no profiles in common</div>'}</body></html>")
