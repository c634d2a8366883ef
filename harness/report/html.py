"""report.html: one file, no network; charts are inline SVG (see plots.py), tables from summary.json."""
from __future__ import annotations

from html import escape

from harness.report import plots, profiles
from harness.report.rundir import RunData

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px} h4{font-size:13px;margin:12px 0 4px;color:#444}
table{border-collapse:collapse;font-size:12px;margin:4px 0 12px} td,th{border:1px solid #dde;padding:3px 7px;
text-align:right} th{background:#f3f5f8} td.l,th.l{text-align:left} .pass{color:#1a7f37;font-weight:bold}
.fail{color:#b00020;font-weight:bold} .muted{color:#777} .chart{display:block;margin:8px 0}
.grew{color:#b00020} .shrank{color:#1a7f37} code{font-size:12px}
.key span{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
"""


def render(summary: dict, run: RunData) -> str:
    parts = [(f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(str(summary.get('run_id')))}"
             f"</title><style>{CSS}</style></head><body>"), _header(summary), _charts(summary, run),
             _expect(summary), _phases(summary), _changes(summary), _events(summary), "</body></html>"]
    return "\n".join(parts)


def _header(s: dict) -> str:
    res = s.get("result") or {}
    exp = s.get("expect") or {}
    verdict = "" if not exp.get("total") and not exp.get("skipped") else (
        f"<span class='pass'>expectations passed ({exp['total']})</span>" if exp.get("passed")
        else f"<span class='fail'>{exp['failed']} of {exp['total']} expectation(s) failed</span>"
        if exp.get("failed") else f"<span class='muted'>{exp['skipped']} expectation(s) not judged: "
        "their phases did not run</span>")
    notes = "".join(f"<li>{escape(str(n))}</li>" for n in s.get("notes", []) + s.get("problems", []))
    return (f"<h1>Run {escape(str(s.get('run_id')))}</h1><div class='muted'>scenario "
            f"{escape(str(s.get('scenario')))} · started {escape(str(s.get('wall_t0_iso')))} · status "
            f"{escape(str(res.get('status')))} · exit code {escape(str(res.get('exit_code')))}"
            f"{' (' + escape(str(res['reason'])) + ')' if res.get('reason') else ''}"
            f" · baseline phase {escape(str(s.get('baseline_phase')))}</div>"
            f"<p>{verdict}</p>" + (f"<ul class='muted'>{notes}</ul>" if notes else ""))


def _charts(s: dict, run: RunData) -> str:
    common = {"t_end": run.end_s(), "phases": s["phases"], "faults": s.get("faults", []),
              "events": _chart_events(s)}
    h = run.history
    # A load history line covers the second [t_s, t_s + 1): draw it at the middle, so a change
    # that starts with a fault does not appear to start a second early.
    mid = lambda r: (r.get("t_s") or 0.0) + 0.5
    pts = lambda key, scale=1.0: [(mid(r), None if r.get(key) is None else r[key] * scale) for r in h]
    err = [(mid(r), (r.get("fps") or 0) / r["rps"] * 100 if r.get("rps") else 0.0) for r in h]
    charts = [
        plots.timeseries("Requests per second", [{"label": "req/s", "points": pts("rps")},
                                                 {"label": "failures/s", "points": pts("fps")}], **common),
        plots.timeseries("Latency", [{"label": k, "points": pts(f"{k}_ms")} for k in ("p50", "p95", "p99")],
                         unit=" ms", **common),
        plots.timeseries("Error rate", [{"label": "errors %", "points": err}], unit=" %", **common),
    ]
    by_svc: dict[str, list[dict]] = {}
    for row in run.containers:
        by_svc.setdefault(row.get("service"), []).append(row)
    cpt = lambda key: [{"label": svc, "points": [(r["t_s"], r.get(key)) for r in rows]}
                       for svc, rows in sorted(by_svc.items())]
    charts.append(plots.timeseries("Container CPU (% of one core)", cpt("cpu_pct"), unit=" %", **common))
    charts.append(plots.timeseries("CPU throttled (ms per interval)", cpt("throttled_ms"), unit=" ms", **common))
    mem = []
    for svc, rows in sorted(by_svc.items()):
        mem.append({"label": svc, "points": [(r["t_s"], r.get("mem_bytes")) for r in rows]})
        if any(r.get("mem_limit") for r in rows):
            mem.append({"label": f"{svc} limit", "dashed": True,
                        "points": [(r["t_s"], r.get("mem_limit")) for r in rows]})
    charts.append(plots.timeseries("Memory vs limit", mem, unit="B", **common))
    key = (f"<div class='key muted'>shading:<span style='background:{plots.PHASE_FILLS[0]}'></span>phase"
           f"<span style='background:{plots.FAULT_FILL}'></span>fault active; dashed verticals: events</div>")
    return "<h2>Over run time</h2>" + key + "\n".join(charts)


def _chart_events(s: dict) -> list[dict]:
    out = [e for e in s.get("events", []) if e.get("kind") != "capture-failed"]
    marked = {e.get("fault") for e in out if e.get("kind") == "fault-applied"}
    for f in s.get("faults", []):
        if f.get("applied_s") is not None and f.get("id") not in marked:
            out.append({"t_s": f["applied_s"], "kind": "fault-applied", "detail": f.get("id", "")})
    return out


def _expect(s: dict) -> str:
    checks = (s.get("expect") or {}).get("checks") or []
    if not checks:
        return ""
    rows = "".join(f"<tr><td class='l {_verdict(c)[0]}'>{_verdict(c)[1]}</td>"
                   f"<td class='l'>{escape(c['phase'] or '')}</td><td class='l'>{escape(c['name'])}</td>"
                   f"<td class='l'>{escape(c['message'])}</td><td class='l muted'>{escape(c.get('where') or '')}</td></tr>"
                   for c in checks)
    return ("<h2>Expectations</h2><table><tr><th class='l'>result</th><th class='l'>phase</th>"
            f"<th class='l'>check</th><th class='l'>detail</th><th class='l'>where</th></tr>{rows}</table>")


def _verdict(c: dict) -> tuple[str, str]:
    return ("muted", "not run") if c.get("skipped") else ("pass", "pass") if c["passed"] else ("fail", "FAIL")


def _num(v, digits=1):
    if v is None:
        return "<span class='muted'>–</span>"
    return f"{v:,.{digits}f}" if isinstance(v, float) else f"{v:,}"


def _phases(s: dict) -> str:
    return "<h2>Phases</h2>" + "".join(_phase(p) for p in s["phases"])


def _phase(p: dict) -> str:
    faults = ", ".join(map(str, p.get("faults") or [])) or "none"
    out = [(f"<h3>{escape(p['name'])} <span class='muted'>{p['start_s']:.2f}s – {p['end_s']:.2f}s · faults: "
           f"{escape(faults)}</span></h3>"), _load_table(p.get("load") or {}), _container_table(p.get("containers") or {})]
    for svc, kinds in sorted((p.get("profiles") or {}).items()):
        order = {k: i for i, k in enumerate(profiles.PROFILE_KINDS)}
        for kind, table in sorted(kinds.items(), key=lambda kv: order.get(kv[0], 99)):
            out.append(_profile_table(svc, kind, table))
    for svc, tr in sorted((p.get("traces") or {}).items()):
        out.append(_trace_table(svc, tr))
    return "\n".join(out)


def _load_table(ld: dict) -> str:
    head = "<h4>Load" + (" <span class='muted'>(percentiles approximated from per-second values)</span>"
                         if ld.get("approx") else "") + "</h4>"
    cols = ("requests", "failures", "rps", "error_rate", "p50_ms", "p95_ms", "p99_ms", "max_ms")
    row = "".join(f"<td>{_num(ld.get(c), 4 if c == 'error_rate' else 1)}</td>" for c in cols)
    rows = [f"<tr><td class='l'>all</td>{row}</tr>"]
    for e in ld.get("endpoints") or []:
        e = dict(e, error_rate=(e.get("failures") or 0) / e["requests"] if e.get("requests") else None)
        rows.append(f"<tr><td class='l'>{escape(str(e.get('method') or ''))} {escape(str(e.get('name')))}</td>"
                    + "".join(f"<td>{_num(e.get(c), 4 if c == 'error_rate' else 1)}</td>" for c in cols) + "</tr>")
    return head + "<table><tr><th class='l'>endpoint</th>" + "".join(f"<th>{c}</th>" for c in cols) + \
        "</tr>" + "".join(rows) + "</table>"


def _container_table(cs: dict) -> str:
    if not cs:
        return ""
    cols = ("cpu_pct_mean", "cpu_pct_max", "throttled_ms", "throttled_periods", "mem_peak", "mem_limit",
            "oom_kills", "restarts")
    rows = "".join(f"<tr><td class='l'>{escape(str(n))}</td>" + "".join(f"<td>{_num(v.get(c))}</td>" for c in cols)
                   + "</tr>" for n, v in sorted(cs.items()))
    return ("<h4>Containers</h4><table><tr><th class='l'>service</th>" + "".join(f"<th>{c}</th>" for c in cols)
            + f"</tr>{rows}</table>")


def _profile_table(svc: str, kind: str, t: dict) -> str:
    head = (f"<h4>{escape(kind)} · {escape(svc)} <span class='muted'>{escape(t['sample_type'])} "
            f"({escape(t['unit'])}), total {_num(t['total'])}, own code {t['own_share'] * 100:.1f}% · "
            f"<code>{escape(t.get('path', ''))}</code></span></h4>")
    if not t["lines"]:
        return head + "<div class='muted'>no samples in the service's own code</div>"
    lines = "".join(f"<tr><td class='l'><code>{escape(e['file'])}:{e['line']}</code></td><td class='l'>"
                    f"{escape(e['function'])}</td><td>{e['share'] * 100:.1f}%</td><td>{_num(e['value'])}</td></tr>"
                    for e in t["lines"])
    funcs = "".join(f"<tr><td class='l'>{escape(e['function'])}</td><td>{e['share'] * 100:.1f}%</td></tr>"
                    for e in t["functions"])
    return (head + "<table style='display:inline-table;margin-right:16px'><tr><th class='l'>own line</th>"
            f"<th class='l'>function</th><th>share</th><th>value</th></tr>{lines}</table>"
            "<table style='display:inline-table'><tr><th class='l'>own function</th><th>share</th></tr>"
            f"{funcs}</table>")


def _trace_table(svc: str, tr: dict) -> str:
    gc = tr.get("gc") or {}
    blocked = ", ".join(f"{escape(k)} {v:,.0f} ms" for k, v in list((tr.get("blocked_ms") or {}).items())[:6])
    return (f"<h4>runtime trace · {escape(svc)} <span class='muted'>{_num(tr.get('start_s'), 2)}s – "
            f"{_num(tr.get('end_s'), 2)}s</span></h4><table><tr><th>GC cycles</th><th>STW pauses</th>"
            "<th>STW total ms</th><th>STW max ms</th><th>goroutines created</th><th>syscall ms</th>"
            f"<th>runnable ms</th></tr><tr><td>{_num(gc.get('cycles'))}</td><td>{_num(gc.get('stw_pauses'))}</td>"
            f"<td>{_num(gc.get('stw_total_ms'), 2)}</td><td>{_num(gc.get('stw_max_ms'), 2)}</td>"
            f"<td>{_num(tr.get('goroutines_created'))}</td><td>{_num(tr.get('syscall_ms'))}</td>"
            f"<td>{_num(tr.get('runnable_ms'))}</td></tr></table><div class='muted'>time blocked by reason "
            f"(summed over goroutines): {blocked or 'none'}</div>")


def _changes(s: dict) -> str:
    items = s.get("changes") or []
    if not items:
        return "<h2>What changed</h2><div class='muted'>no profile pairs to compare with the baseline</div>"
    return "<h2>What changed</h2>" + "".join(change_block(c) for c in items)


def change_block(c: dict, left: str | None = None, right: str | None = None) -> str:
    left = left or c["baseline"]
    right = right or c["phase"]
    rows = []
    for direction in ("grew", "shrank"):
        for r in c["lines"][direction][:8]:
            rows.append(f"<tr><td class='l {direction}'>{direction}</td><td class='l'><code>{escape(r['key'])}</code>"
                        f"</td><td class='l'>{escape(str(r.get('function') or ''))}</td>"
                        f"<td>{r['share_before'] * 100:.1f}%</td><td>{r['share_after'] * 100:.1f}%</td>"
                        f"<td class='{direction}'>{r['delta'] * 100:+.1f} pts</td></tr>")
    funcs = []
    for direction in ("grew", "shrank"):
        for r in c["functions"][direction][:5]:
            funcs.append(f"<tr><td class='l {direction}'>{direction}</td><td class='l'>{escape(r['key'])}</td>"
                         f"<td>{r['share_before'] * 100:.1f}%</td><td>{r['share_after'] * 100:.1f}%</td>"
                         f"<td class='{direction}'>{r['delta'] * 100:+.1f} pts</td></tr>")
    return (f"<h3>{escape(c['kind'])} · {escape(str(c['service']))}: {escape(left)} → {escape(right)} "
            f"<span class='muted'>{escape(c['sample_type'])}; rate {_num(c.get('rate_before'))} → "
            f"{_num(c.get('rate_after'))} {escape(c['unit'])}/s</span></h3>"
            f"<table><tr><th></th><th class='l'>own line</th><th class='l'>function</th><th>{escape(left)}</th>"
            f"<th>{escape(right)}</th><th>change</th></tr>{''.join(rows)}</table>"
            f"<table><tr><th></th><th class='l'>own function</th><th>{escape(left)}</th><th>{escape(right)}</th>"
            f"<th>change</th></tr>{''.join(funcs)}</table>")


def _events(s: dict) -> str:
    evs = s.get("events", []) + s.get("capture_failures", [])
    if not evs:
        return ""
    rows = "".join(f"<tr><td>{e.get('t_s', 0):.2f}s</td><td class='l'>{escape(str(e.get('kind')))}</td>"
                   f"<td class='l'>{escape(str(e.get('detail', '')))}</td></tr>"
                   for e in sorted(evs, key=lambda e: e.get("t_s", 0)))
    return f"<h2>Events</h2><table><tr><th>t</th><th class='l'>kind</th><th class='l'>detail</th></tr>{rows}</table>"
