"""report.html: one file, no network; charts are inline SVG (see plots.py), tables from summary.json."""
from __future__ import annotations

from harness.report import flame_view, function_latency, plots, production_view, profiles, units, verdict_view
from harness.report.markup import bdi, escape
from harness.report.rundata import RunData

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px} h4{font-size:13px;margin:12px 0 4px;color:#444}
table{border-collapse:collapse;font-size:12px;margin:4px 0 12px} td,th{border:1px solid #dde;padding:3px 7px;
text-align:right} th{background:#f3f5f8} td.l,th.l{text-align:left} .pass{color:#1a7f37;font-weight:bold}
.fail{color:#b00020;font-weight:bold} .muted{color:#777} .chart{display:block;margin:8px 0}
.grew{color:#b00020} .shrank{color:#1a7f37} code{font-size:12px}
.key span{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
td{white-space:nowrap}
""" + verdict_view.CSS


def render(summary: dict, run: RunData) -> str:
    parts = [(f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(str(summary.get('run_id')))}"
             f"</title><style>{CSS}</style></head><body>"), _header(summary),
             verdict_view.html_section(summary), production_view.section(summary, run), _charts(summary, run), _runtime_charts(summary, run),
             _sched_charts(summary), function_latency.section(summary, run),
             _expect(summary), _phases(summary), _changes(summary), flame_view.section(run), _events(summary),
             "</body></html>"]
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
    return (f"<h1>Run {bdi(s.get('run_id'))}</h1><div class='muted'>scenario "
            f"{bdi(s.get('scenario'))} · started {escape(str(s.get('wall_t0_iso')))} · status "
            f"{escape(str(res.get('status')))} · exit code {escape(str(res.get('exit_code')))}"
            f"{' (' + escape(str(res['reason'])) + ')' if res.get('reason') else ''}"
            f" · baseline phase {bdi(s.get('baseline_phase'))}</div>"
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
                                                 {"label": "failures/s", "points": pts("fps")}],
                         fmt=units.rate, **common),
        plots.timeseries("Latency", [{"label": k, "points": pts(f"{k}_ms")} for k in ("p50", "p95", "p99")],
                         fmt=units.duration_ms, **common),
        plots.timeseries("Error rate", [{"label": "errors %", "points": err}], fmt=units.pct, **common),
    ]
    by_svc: dict[str, list[dict]] = {}
    for row in run.containers:
        by_svc.setdefault(row.get("service"), []).append(row)
    cpt = lambda key: [{"label": svc, "points": [(r["t_s"], r.get(key)) for r in rows]}
                       for svc, rows in sorted(by_svc.items())]
    charts.append(plots.timeseries("Container CPU (% of one core)", cpt("cpu_pct"), fmt=units.pct,
                                   **common))
    charts.append(plots.timeseries("CPU throttled (per interval)", cpt("throttled_ms"), fmt=units.duration_ms,
                                   **common))
    mem = []
    for svc, rows in sorted(by_svc.items()):
        mem.append({"label": svc, "points": [(r["t_s"], r.get("mem_bytes")) for r in rows]})
        if any(r.get("mem_limit") for r in rows):
            mem.append({"label": f"{svc} limit", "dashed": True,
                        "points": [(r["t_s"], r.get("mem_limit")) for r in rows]})
    charts.append(plots.timeseries("Memory vs limit", mem, fmt=units.size, **common))
    key = (f"<div class='key muted'>shading:<span style='background:{plots.PHASE_FILLS[0]}'></span>phase"
           f"<span style='background:{plots.FAULT_FILL}'></span>fault active; dashed verticals: events</div>")
    return "<h2>Over run time</h2>" + key + "\n".join(charts)


def _runtime_charts(s: dict, run: RunData) -> str:
    """Goroutines and heap in use per service over the run clock, and the goroutine profiles kept at
    each phase's peak count (runtime/<service>.jsonl, goroutine-peak artifacts)."""
    charts = plots.runtime_charts(run.runtime, t_end=run.end_s(), phases=s["phases"],
                                  faults=s.get("faults", []), events=_chart_events(s))
    if not charts:
        return ""
    peaks = "".join(f"<li>{escape(str(a.get('phase')))} · {escape(str(a.get('service')))}: "
                    f"{escape(units.count(a.get('goroutines')))} goroutines at {_num(a.get('t_s'), 1)}s · "
                    f"<code>{escape(str(a.get('path')))}</code></li>" for a in run.artifacts("goroutine-peak"))
    return ("<h2>Runtime over run time</h2><div class='muted'>read from each service's pprof pages every "
            "interval (goroutines: the index page; heap in use: heap?debug=1)</div>" + "\n".join(charts)
            + (f"<h4>Goroutine profiles at the phases' peak counts</h4><ul>{peaks}</ul>" if peaks else ""))


def _sched_charts(s: dict) -> str:
    """Scheduler latency by percentile per traced service, one line per phase (the runtime
    trace's runnable -> running waits, summary phases[].traces[svc].sched_latency)."""
    by_svc: dict[str, list[dict]] = {}
    for p in s.get("phases") or []:
        for svc, tr in sorted((p.get("traces") or {}).items()):
            curve = ((tr or {}).get("sched_latency") or {}).get("percentiles") or []
            if curve:
                by_svc.setdefault(svc, []).append({"label": str(p.get("name")),
                                                   "points": [(q, v) for q, v in curve if q < 100]})
    charts = [plots.percentile_chart(f"{svc}: scheduler latency (runnable → running) by percentile", series,
                                     fmt=units.duration_ms, of="goroutine wake-ups") for svc, series in by_svc.items()]
    charts = [c for c in charts if c]
    if not charts:
        return ""
    return ("<h2>Scheduler latency</h2><div class='muted'>how long goroutines waited to run once runnable, "
            "from each phase's runtime trace (captures.trace): a CPU quota squeeze or a saturated CPU "
            "moves the whole curve up</div>" + "\n".join(charts))


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
                   f"<td class='l'>{bdi(c['phase'] or '')}</td><td class='l'>{escape(c['name'])}</td>"
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


def _cell(text: str) -> str:
    """A table cell's text in human units (units.py); a missing value is muted."""
    return f"<span class='muted'>{units.MISSING}</span>" if text == units.MISSING else escape(text)


def endpoint_label(method, name) -> str:
    """"GET /checkout": the method, then the statistics' name. Runs before the load spec's fix
    named a request "GET /checkout" by default; the method is not repeated for them."""
    method, name = str(method or "").strip(), str(name if name is not None else "").strip()
    if not method or name.upper().startswith(method.upper() + " "):
        return name
    return f"{method} {name}"


LOAD_COLS = (("requests", "requests", units.count), ("failures", "failures", units.count),
             ("rps", "throughput", units.rate), ("error_rate", "errors", units.percent),
             ("p50_ms", "p50", units.duration_ms), ("p95_ms", "p95", units.duration_ms),
             ("p99_ms", "p99", units.duration_ms), ("max_ms", "max", units.duration_ms))
CONTAINER_COLS = (("cpu_pct_mean", "CPU mean", units.pct), ("cpu_pct_max", "CPU max", units.pct),
                  ("throttled_ms", "throttled", units.duration_ms),
                  ("throttled_periods", "throttled periods", units.count),
                  ("mem_peak", "memory peak", units.size), ("mem_limit", "memory limit", units.size),
                  ("oom_kills", "OOM kills", units.count), ("restarts", "restarts", units.count))


def _phases(s: dict) -> str:
    return "<h2>Phases</h2>" + "".join(_phase(p) for p in s["phases"])


def _phase(p: dict) -> str:
    faults = ", ".join(map(str, p.get("faults") or [])) or "none"
    out = [(f"<h3>{bdi(p['name'])} <span class='muted'>{p['start_s']:.2f}s – {p['end_s']:.2f}s · faults: "
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
    cells = lambda d: "".join(f"<td>{_cell(fmt(d.get(k)))}</td>" for k, _h, fmt in LOAD_COLS)
    rows = [f"<tr><td class='l'>all</td>{cells(ld)}</tr>"]
    for e in ld.get("endpoints") or []:
        e = dict(e, error_rate=(e.get("failures") or 0) / e["requests"] if e.get("requests") else None)
        rows.append(f"<tr><td class='l'>{bdi(endpoint_label(e.get('method'), e.get('name')))}</td>"
                    f"{cells(e)}</tr>")
    return head + "<table><tr><th class='l'>endpoint</th>" + "".join(f"<th>{h}</th>" for _k, h, _f in LOAD_COLS) \
        + "</tr>" + "".join(rows) + "</table>"


def _container_table(cs: dict) -> str:
    if not cs:
        return ""
    rows = "".join(f"<tr><td class='l'>{escape(str(n))}</td>"
                   + "".join(f"<td>{_cell(fmt(v.get(k)))}</td>" for k, _h, fmt in CONTAINER_COLS)
                   + "</tr>" for n, v in sorted(cs.items(), key=lambda kv: str(kv[0])))
    return ("<h4>Containers</h4><table><tr><th class='l'>service</th>"
            + "".join(f"<th>{h}</th>" for _k, h, _f in CONTAINER_COLS) + f"</tr>{rows}</table>")


def _profile_table(svc: str, kind: str, t: dict) -> str:
    unit = t.get("unit")
    rate = f" ({units.profile_rate(t['total'] / t['seconds'], unit)})" if t.get("seconds") else ""
    head = (f"<h4>{escape(kind)} · {escape(svc)} <span class='muted'>{escape(t['sample_type'])}, total "
            f"{escape(units.profile_value(t['total'], unit))}{escape(rate)}, own code "
            f"{units.percent(t['own_share'])} · <code>{escape(t.get('path', ''))}</code></span></h4>")
    if not t["lines"]:
        return head + "<div class='muted'>no samples in the service's own code</div>"
    lines = "".join(f"<tr><td class='l'><code>{escape(e['file'])}:{e['line']}</code></td><td class='l'>"
                    f"{escape(e['function'])}</td><td>{units.percent(e['share'])}</td>"
                    f"<td>{_cell(units.profile_value(e['value'], unit))}</td></tr>" for e in t["lines"])
    funcs = "".join(f"<tr><td class='l'>{escape(e['function'])}</td><td>{units.percent(e['share'])}</td></tr>"
                    for e in t["functions"])
    return (head + "<table style='display:inline-table;margin-right:16px'><tr><th class='l'>own line</th>"
            f"<th class='l'>function</th><th>share</th><th>value</th></tr>{lines}</table>"
            "<table style='display:inline-table'><tr><th class='l'>own function</th><th>share</th></tr>"
            f"{funcs}</table>")


def _trace_table(svc: str, tr: dict) -> str:
    gc = tr.get("gc") or {}
    blocked = ", ".join(f"{escape(str(k))} {escape(units.duration_ms(v))}"
                        for k, v in list((tr.get("blocked_ms") or {}).items())[:6])
    cols = ((gc.get("cycles"), units.count), (gc.get("stw_pauses"), units.count),
            (gc.get("stw_total_ms"), units.duration_ms), (gc.get("stw_max_ms"), units.duration_ms),
            (tr.get("goroutines_created"), units.count), (tr.get("syscall_ms"), units.duration_ms),
            (tr.get("runnable_ms"), units.duration_ms))
    return (f"<h4>runtime trace · {escape(svc)} <span class='muted'>{_num(tr.get('start_s'), 2)}s – "
            f"{_num(tr.get('end_s'), 2)}s</span></h4><table><tr><th>GC cycles</th><th>STW pauses</th>"
            "<th>STW total</th><th>STW max</th><th>goroutines created</th><th>in syscalls</th>"
            "<th>runnable</th></tr><tr>" + "".join(f"<td>{_cell(fmt(v))}</td>" for v, fmt in cols)
            + "</tr></table><div class='muted'>time blocked by reason "
            f"(summed over goroutines): {blocked or 'none'}{_sched_line(tr)}</div>")


def _sched_line(tr: dict) -> str:
    sched = tr.get("sched_latency") or {}
    if not sched.get("count"):
        return ""
    return (f"; scheduler latency (runnable → running, {escape(units.count(sched['count']))} wake-ups): p50 "
            f"{escape(units.duration_ms(sched.get('p50_ms')))}, p99 {escape(units.duration_ms(sched.get('p99_ms')))}, "
            f"max {escape(units.duration_ms(sched.get('max_ms')))}")


def _changes(s: dict) -> str:
    items = s.get("changes") or []
    if not items:
        return "<h2>What changed</h2><div class='muted'>no profile pairs to compare with the baseline</div>"
    return "<h2>What changed</h2>" + "".join(change_block(c) for c in items)


def change_block(c: dict, left: str | None = None, right: str | None = None) -> str:
    left = left or c["baseline"]
    right = right or c["phase"]
    rows = [_change_row(r, d, True) for d in ("grew", "shrank") for r in c["lines"][d][:8]]
    funcs = [_change_row(r, d, False) for d in ("grew", "shrank") for r in c["functions"][d][:5]]
    unit = c.get("unit")
    has_rate = c.get("rate_before") is not None or c.get("rate_after") is not None
    amount = ("rate " if has_rate else "total ") + units.profile_change(
        c.get("rate_before"), c.get("rate_after"), c.get("total_before"), c.get("total_after"), unit)
    # a table with no rows is left out (a profile whose own code did not move has neither)
    lines = (f"<table><tr><th></th><th class='l'>own line</th><th class='l'>function</th><th>{escape(left)}</th>"
             f"<th>{escape(right)}</th><th>change</th></tr>{''.join(rows)}</table>") if rows else ""
    functions = (f"<table><tr><th></th><th class='l'>own function</th><th>{escape(left)}</th>"
                 f"<th>{escape(right)}</th><th>change</th></tr>{''.join(funcs)}</table>") if funcs else ""
    still = "" if rows or funcs else "<div class='muted'>no own line or function changed its share</div>"
    return (f"<h3>{escape(c['kind'])} · {escape(str(c['service']))}: {escape(left)} → {escape(right)} "
            f"<span class='muted'>{escape(c['sample_type'])}; {escape(amount)}</span></h3>{lines}{functions}{still}")


def _change_row(r: dict, direction: str, line: bool) -> str:
    key = f"<code>{escape(r['key'])}</code>" if line else escape(r["key"])
    func = f"<td class='l'>{escape(str(r.get('function') or ''))}</td>" if line else ""
    return (f"<tr><td class='l {direction}'>{direction}</td><td class='l'>{key}</td>{func}"
            f"<td>{units.percent(r['share_before'])}</td><td>{units.percent(r['share_after'])}</td>"
            f"<td class='{direction}'>{units.points(r['delta'])}</td></tr>")


def _events(s: dict) -> str:
    evs = s.get("events", []) + s.get("capture_failures", [])
    if not evs:
        return ""
    rows = "".join(f"<tr><td>{e.get('t_s', 0):.2f}s</td><td class='l'>{escape(str(e.get('kind')))}</td>"
                   f"<td class='l'>{escape(str(e.get('detail', '')))}</td></tr>"
                   for e in sorted(evs, key=lambda e: e.get("t_s", 0)))
    return f"<h2>Events</h2><table><tr><th>t</th><th class='l'>kind</th><th class='l'>detail</th></tr>{rows}</table>"
