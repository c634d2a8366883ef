"""The report's "Reproduction vs production": summary.json's fidelity as a table of scores per phase,
the incident phase's missing and extra lines with their source, latency side by side, and a
differential flame graph per profile kind from production to the phase (docs/production.md)."""
from __future__ import annotations

from harness.report import flame_view, units
from harness.report.markup import escape
from harness.report.production import PathMap
from harness.report.profiles import own_matcher, short
from harness.report.rundata import RunData
from rundir.pprof import ProfileError, load_profile
from rundir.pprof.flame import MIN_FRACTION, build_flame


def _score(v) -> str:
    return f"{v:.2f}" if isinstance(v, (int, float)) else "–"


def section(summary: dict, run: RunData) -> str:
    fid = summary.get("fidelity")
    if not fid:
        return ""
    phase = fid.get("phase")
    blocks = fid.get("phases") or {}
    kinds = sorted({k for b in blocks.values() for k in (b.get("profiles") or {})})
    head = "".join(f"<th>{escape(k)}</th>" for k in kinds)
    has_lat = any(b.get("latency") for b in blocks.values())
    rows = []
    for name, b in blocks.items():
        cells = "".join(f"<td>{_score(((b.get('profiles') or {}).get(k) or {}).get('score'))}</td>" for k in kinds)
        lat = f"<td>{_score((b.get('latency') or {}).get('score'))}</td>" if has_lat else ""
        mark = " <span class='muted'>(the incident)</span>" if name == phase else ""
        rows.append(f"<tr><td class='l'>{escape(name)}{mark}</td><td><b>{_score(b.get('score'))}</b></td>{cells}{lat}</tr>")
    table = (f"<table><tr><th class='l'>phase</th><th>score</th>{head}{'<th>latency</th>' if has_lat else ''}</tr>"
             + "".join(rows) + "</table>")
    return ("<h2 id='vs-production'>Reproduction vs production</h2>"
            f"<div class='muted'>Service {escape(str(fid.get('service')))}; 0–1, 1 = the same own lines in the same "
            f"proportions ({escape(str(fid.get('measure')))}).</div>" + table
            + _incident(blocks.get(phase) or {}, phase) + _graphs(run, fid))


def _incident(b: dict, phase) -> str:
    out = []
    for kind, k in (b.get("profiles") or {}).items():
        if k.get("why"):
            out.append(f"<h4>{escape(kind)}</h4><div class='muted'>{escape(k['why'])}</div>")
        elif k.get("shape_score") is not None:
            out.append(f"<h4>{escape(kind)}: {_score(k.get('score'))}</h4><div>shape {_score(k.get('shape_score'))} × "
                       f"size {_score(k.get('size_score'))}{_sizes(k.get('size') or {})}"
                       + (f"; change {_score(k['change_score'])}" if "change_score" in k else "") + "</div>")
        for what, title in (("missing", "production has, the phase lacks"), ("extra", "the phase has, production lacks")):
            rows = k.get(what) or []
            if rows:
                out.append(f"<h4>{escape(kind)}: {title}</h4>" + _lines(rows))
    for q, v in ((b.get("latency") or {}).get("quantiles") or {}).items():
        out.append(f"<div>latency {escape(q)}: production {units.duration_ms(v.get('production_ms'))}, "
                   f"phase {units.duration_ms(v.get('reproduction_ms'))}</div>")
    for key in ("error_rate", "rps"):
        v = b.get(key)
        if v:
            fmt = units.percent if key == "error_rate" else units.rate
            out.append(f"<div>{key.replace('_', ' ')}: production {fmt(v.get('production'))}, phase "
                       f"{fmt(v.get('reproduction'))}</div>")
    return f"<h3>Phase {escape(str(phase))}</h3>" + "".join(out) if out else ""


def _sizes(size: dict) -> str:
    """" (production 55 s/s, phase 57 s/s)": own code's amount per second or per request."""
    p, r = size.get("production"), size.get("reproduction")
    if p is None or r is None:
        return ""
    unit, per_request = size.get("unit"), size.get("per") == "request"

    def fmt(v) -> str:
        return units.profile_value(v, unit) + " a request" if per_request else units.profile_rate(v, unit)
    return f" (production {fmt(p)}, phase {fmt(r)})"


def _lines(rows: list[dict]) -> str:
    body = "".join(f"<tr><td class='l'><code>{escape(r['line'])}</code></td><td class='l'>{escape(str(r.get('function') or ''))}"
                   f"</td><td>{units.percent(r.get('production'))}</td><td>{units.percent(r.get('reproduction'))}</td>"
                   f"<td class='l'><code>{escape(str(r.get('text') or ''))}</code></td></tr>" for r in rows)
    return ("<table><tr><th class='l'>line</th><th class='l'>function</th><th>production</th><th>phase</th>"
            f"<th class='l'>source</th></tr>{body}</table>")


# -- differential flame graphs: production -> the incident phase ----------------------------------

def _graphs(run: RunData, fid: dict) -> str:
    prod = run.manifest.get("production") or {}
    name, phase = prod.get("service"), fid.get("phase")
    service = (run.manifest.get("services") or {}).get(name) or {}
    arts = {a.get("kind"): run.path / a["path"] for a in run.manifest.get("artifacts", [])
            if a.get("phase") == phase and a.get("service") == name and a.get("path") and not a.get("empty")}
    graphs = []
    for kind, rel in (prod.get("profiles") or {}).items():
        if kind not in arts:
            continue
        try:
            graphs.append(_graph(kind, phase, name, run.path / rel, arts[kind], service, prod))
        except (ProfileError, OSError, ValueError) as e:
            run.problems.append(f"production flame graph {kind}: {e}")
    if not graphs:
        return ""
    return ("<h3>From production to the phase</h3><div class='muted'>Differential flame graphs: width is the "
            "phase's value, colour the change of share from production's profile. File names are put on the "
            "service's own (path_map) and the Go toolchain's relative paths so that frames line up.</div>"
            + flame_view.embed(graphs, "flame-production"))


def _graph(kind: str, phase: str, service_name: str, prod_path, phase_path, service: dict, prod: dict) -> dict:
    repro = load_profile(phase_path)
    base = load_profile(prod_path)
    own = own_matcher(service)
    known = {short(f, service) for f, _l in repro.lines if own(f)}
    rename = PathMap(service, prod.get("path_map") or [], known)
    _rename_files(repro, lambda f: short(f, service) if own(f) else None)
    _rename_files(base, rename)
    tree = build_flame(repro, None, base=base, is_own=lambda f: f in known, min_fraction=MIN_FRACTION,
                       max_nodes=flame_view.REPORT_MAX_NODES)
    return {"dims": {"profile": kind, "compare": "against production"}, "tree": tree,
            "title": f"{kind} · {service_name} · {phase} against production (differential)"}


def _rename_files(prof, own_name) -> None:
    """A profile's file names as both sides share them: own files relative to the service, the rest
    relative to their Go source tree (GOROOT/src or the module cache), so the two builds' frames match."""
    prof.lines = [(_common(f, own_name), line) for f, line in prof.lines]
    prof._cache.clear()


def _common(f: str, own_name) -> str:
    mapped = own_name(f)
    if mapped:
        return mapped
    for marker in ("/pkg/mod/", "/src/"):
        i = f.rfind(marker)
        if i >= 0:
            return f[i + len(marker):]
    return f
