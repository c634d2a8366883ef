"""Inline SVG time-series charts (no plotting library, no network): one x axis in run seconds
from where the load starts (a set-up before it is one narrow labelled band), phases shaded in
alternating greys, fault windows shaded in FAULT_FILL, events as vertical marks. The colours are opaque so a screenshot shows them exactly. `percentile_chart` draws
latency by percentile (function latency) with the same lines and legend."""
from __future__ import annotations

import math

from harness.report.markup import escape

FAULT_FILL = "#ffc8c8"
PHASE_FILLS = ("#eef2f7", "#f8f9fb")
EVENT_COLOURS = {"oom-kill": "#b00020", "container-die": "#b00020", "container-restart": "#e67e00",
                 "container-start": "#e67e00", "fault-applied": "#c0392b", "fault-reverted": "#7f8c8d",
                 "capture-failed": "#8e44ad"}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
W, H, L, R, T, B = 1000, 220, 64, 16, 24, 30


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** len(str(int(v))) / 10 if v >= 1 else 1.0
    for step in (1, 2, 2.5, 5, 10):
        if v <= step * mag:
            return step * mag
    return v


def _fmt(v: float) -> str:
    if v >= 1e9:
        return f"{v / 2**30:.1f}G" if v >= 2**30 else f"{v:.3g}"
    if v >= 1e6:
        return f"{v / 2**20:.0f}M"
    return f"{v:g}" if v == int(v) else f"{v:.3g}"


def timeseries(title: str, series: list[dict], *, t_end: float, phases: list[dict], faults: list[dict],
               events: list[dict], unit: str = "", y_max: float | None = None, fmt=None) -> str:
    """series: [{"label", "points": [(t, v)], "dashed": bool}] -> an <svg> string. `fmt` turns a
    y value into its axis label with its unit (units.duration_ms, units.size, ...); without it the
    top label carries `unit`."""
    t_end = max(t_end, 1e-3)
    vals = [v for s in series for _t, v in s["points"] if v is not None]
    top = _nice_max(y_max if y_max is not None else max(vals, default=0) * 1.05)
    ph = H - T - B
    t0 = _load_start(phases, t_end)
    x = _time_axis(t0, t_end)
    y = lambda v: T + ph * (1 - min(v, top) / top)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
           f'class="chart" role="img"><title>{escape(title)}</title>'),
           f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>']
    out += _setup_band(t0, ph)
    out += _shading(phases, faults, x, ph)
    out += _axes(top, t0, t_end, x, y, unit, title, fmt)
    for i, s in enumerate(series):
        out.append(_line(s, PALETTE[i % len(PALETTE)], x, y))
    out += _event_marks(events, x, ph)
    out += _legend(series)
    out.append("</svg>")
    return "\n".join(out)


SETUP_W = 56           # px: the band that stands for the set-up before the first phase


def _load_start(phases: list[dict], t_end: float) -> float:
    """Where the time axis starts: the first phase (the load) when the set-up before it took a
    real part of the run (bringing the environment up can take 20 s of a 50 s run), else 0."""
    first = min((p["start_s"] for p in phases if p.get("start_s") is not None), default=0.0)
    return first if 0 < first < t_end and first >= 0.05 * t_end else 0.0


def _time_axis(t0: float, t_end: float):
    """Run seconds -> x: [t0, t_end] over the plot; before t0 (the set-up) squeezed into SETUP_W."""
    pw = W - L - R
    if not t0:
        return lambda t: L + pw * max(0.0, min(t, t_end)) / t_end

    def x(t: float) -> float:
        t = max(0.0, min(t, t_end))
        if t < t0:
            return L + SETUP_W * t / t0
        return L + SETUP_W + (pw - SETUP_W) * (t - t0) / (t_end - t0)
    return x


def _setup_band(t0: float, ph: float) -> list[str]:
    if not t0:
        return []
    return [f'<rect class="setup" x="{L}" y="{T}" width="{SETUP_W}" height="{ph}" fill="#e4e4e4">'
            f'<title>set-up before the load: {t0:.1f} s</title></rect>',
            f'<text x="{L + SETUP_W / 2:.1f}" y="{T + ph / 2:.1f}" font-size="10" text-anchor="middle" '
            f'fill="#555">set-up</text>',
            f'<text x="{L + SETUP_W / 2:.1f}" y="{T + ph / 2 + 12:.1f}" font-size="10" text-anchor="middle" '
            f'fill="#555">{t0:.0f} s</text>']


def _shading(phases, faults, x, ph) -> list[str]:
    out, labels = [], []
    for i, p in enumerate(phases):
        x0, x1 = x(p["start_s"]), x(p["end_s"])
        out.append(f'<rect class="phase" x="{x0:.1f}" y="{T}" width="{max(0.5, x1 - x0):.1f}" height="{ph}" '
                   f'fill="{PHASE_FILLS[i % 2]}"><title>{escape(p["name"])}</title></rect>')
        labels.append(f'<text x="{x0 + 3:.1f}" y="{T + 12}" font-size="11" fill="#555">{escape(p["name"])}</text>')
    for f in faults:
        a = f.get("applied_s")
        if a is None:
            continue
        b = f.get("reverted_s")
        if b is None:          # not reverted (the run ended first): shade to the phase end
            b = _phase_end(phases, f.get("phase"), a)
        x0, x1 = x(a), x(b)
        label = escape(f"fault {f.get('id', '')} {f.get('kind', '')}".strip())
        out.append(f'<rect class="fault" x="{x0:.1f}" y="{T}" width="{max(1.0, x1 - x0):.1f}" height="{ph}" '
                   f'fill="{FAULT_FILL}"><title>{label}</title></rect>')
    return out + labels


def _phase_end(phases, name, default):
    return next((p["end_s"] for p in phases if p["name"] == name), default + 1)


def _axes(top, t0, t_end, x, y, unit, title, fmt=None) -> list[str]:
    out = [f'<text x="{L}" y="14" font-size="13" font-weight="bold" fill="#222">{escape(title)}</text>']
    for k in range(5):
        v = top * k / 4
        yy = y(v)
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#d0d4da" stroke-width="0.6"/>')
        out.append(f'<text x="{L - 4}" y="{yy + 4:.1f}" font-size="10" text-anchor="end" fill="#444">'
                   f'{escape(fmt(v)) if fmt else _fmt(v) + (escape(unit) if k == 4 else "")}</text>')
    step = _nice_max((t_end - t0) / 8)
    t = math.ceil(t0 / step - 1e-9) * step
    while t <= t_end + 1e-9:
        out.append(f'<text x="{x(t):.1f}" y="{H - 12}" font-size="10" text-anchor="middle" fill="#444">'
                   f'{t:g}s</text>')
        t += step
    out.append(f'<line x1="{L}" x2="{W - R}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#888"/>')
    return out


def _line(s: dict, colour: str, x, y) -> str:
    pts = [(t, v) for t, v in s["points"] if v is not None and t is not None]
    if not pts:
        return ""
    path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in sorted(pts))
    dash = ' stroke-dasharray="6 4"' if s.get("dashed") else ""
    return (f'<polyline fill="none" stroke="{colour}" stroke-width="1.6"{dash} points="{path}">'
            f'<title>{escape(s["label"])}</title></polyline>')


def _event_marks(events, x, ph) -> list[str]:
    out = []
    for e in events:
        colour = EVENT_COLOURS.get(e.get("kind"), "#555")
        xx = x(e.get("t_s", 0))
        out.append(f'<line class="event" x1="{xx:.1f}" x2="{xx:.1f}" y1="{T}" y2="{T + ph}" stroke="{colour}" '
                   f'stroke-width="1.4" stroke-dasharray="3 2"><title>{escape(e.get("kind", ""))} '
                   f'{escape(str(e.get("detail", "")))} at {e.get("t_s", 0):.2f}s</title></line>')
    return out


def _legend(series) -> list[str]:
    out, xx = [], W - R
    for i in reversed(range(len(series))):
        label = series[i]["label"]
        xx -= 14 + 7 * len(label)
        out.append(f'<rect x="{xx}" y="6" width="10" height="3" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{xx + 13}" y="11" font-size="10" fill="#333">{escape(label)}</text>')
    return out


def runtime_charts(runtime: dict[str, list[dict]], **common) -> list[str]:
    """Goroutines (a count) and heap in use (MiB) per service, from runtime/<service>.jsonl rows
    (instant readings, drawn at their t_s); `common` as for timeseries (t_end, phases, faults, events)."""
    if not runtime:
        return []
    count = [{"label": svc, "points": [(r["t_s"], r.get("goroutines")) for r in rows]}
             for svc, rows in sorted(runtime.items())]
    mib = lambda v: None if v is None else v / 2**20
    heap = [{"label": svc, "points": [(r["t_s"], mib(r.get("heap_inuse_bytes"))) for r in rows]}
            for svc, rows in sorted(runtime.items())]
    return [timeseries("Goroutines", count, fmt=lambda v: f"{v:,.4g}", **common),
            timeseries("Heap in use", heap, fmt=lambda v: f"{v:,.4g} MiB", **common)]


NINES = (0.0, 50.0, 90.0, 99.0, 99.9, 99.99)     # the percentile axis' ticks


def _nines(q: float) -> float:
    """A percentile on the "nines" scale: 0 -> 0, 90 -> 1, 99 -> 2, 99.9 -> 3, 99.99 -> 4."""
    return math.log10(100 / (100 - min(q, NINES[-1])))


def percentile_chart(title: str, series: list[dict], *, fmt, of: str = "calls") -> str:
    """Latency by percentile: x from 0 to 99.99% on the nines scale (each tick ten times rarer
    than the one before), y logarithmic in decades; series: [{"label", "points": [(percentile,
    value)]}], one line each; `fmt` labels the y ticks (units.duration_ms). "" without values."""
    vals = [v for s in series for _q, v in s["points"] if v is not None and v > 0]
    if not vals:
        return ""
    lo = 10 ** math.floor(math.log10(min(vals)))
    hi = max(10 ** math.ceil(math.log10(max(vals))), lo * 10)
    pw, ph = W - L - R, H - T - B
    span = math.log10(hi / lo)
    x = lambda q: L + pw * _nines(q) / _nines(NINES[-1])
    y = lambda v: T + ph * (1 - math.log10(max(v, lo) / lo) / span)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
           f'class="chart percentiles" role="img"><title>{escape(title)}</title>'),
           f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>',
           f'<text x="{L}" y="14" font-size="13" font-weight="bold" fill="#222">{escape(title)}</text>']
    out += _log_ticks(lo, hi, y, fmt)
    for q in NINES:
        out.append(f'<line x1="{x(q):.1f}" x2="{x(q):.1f}" y1="{T}" y2="{T + ph}" stroke="#d0d4da" '
                   f'stroke-width="0.6"/><text x="{x(q):.1f}" y="{H - 12}" font-size="10" text-anchor="middle" '
                   f'fill="#444">{q:g}%</text>')
    out.append(f'<text x="{W - R}" y="{H - 1}" font-size="10" text-anchor="end" fill="#777">percentile '
               f'(of {escape(of)} at or below the latency)</text>')
    for i, s in enumerate(series):
        out.append(_line(s, PALETTE[i % len(PALETTE)], x, y))
    out += _legend(series)
    out.append("</svg>")
    return "\n".join(out)


def _log_ticks(lo: float, hi: float, y, fmt) -> list[str]:
    """Grid lines and labels at every decade from lo to hi, and at 2 and 5 of each when the
    axis spans at most two decades."""
    decades = round(math.log10(hi / lo))
    steps = (1,) if decades > 2 else (1, 2, 5)
    out = []
    for d in range(decades + 1):
        for m in steps:
            v = lo * 10 ** d * m
            if v > hi * 1.0001:
                break
            yy = y(v)
            out.append(f'<line x1="{L}" x2="{W - R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#d0d4da" '
                       f'stroke-width="{0.9 if m == 1 else 0.4}"/><text x="{L - 4}" y="{yy + 4:.1f}" font-size="10" '
                       f'text-anchor="end" fill="#444">{escape(fmt(v))}</text>')
    return out
