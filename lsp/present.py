"""Building what the editor shows, from an Analysis and a document (pure).

Each function takes plain data (entries placed on the document's current
lines by lsp.placement) and returns lsprotocol objects or the JSON of the
custom notifications.
"""
from __future__ import annotations

from lsprotocol import types

from lsp.analysis import Analysis, FuncLens, LineDetail, LineEntry
from lsp.placement import Placed, Placement
from lsp.render import format_share, format_value, label
from lsp.session import Finding, FunctionLatency


def visible(placed: list[Placed], analysis: Analysis, threshold: float) -> list[Placed]:
    return [p for p in placed if abs(p.entry.share) >= threshold and p.entry.value]


def _what(analysis: Analysis) -> str:
    return f"{analysis.mode} {analysis.sample_type}" + (" change" if analysis.diff else "")


def inlay_hints(placed: list[Placed], analysis: Analysis, current: list[str],
                rng: types.Range | None) -> list[types.InlayHint]:
    hints = []
    for p in placed:
        if rng is not None and not rng.start.line <= p.line <= rng.end.line:
            continue
        text = p.entry.label + (" (stale)" if p.stale else "")
        char = len(current[p.line]) if p.line < len(current) else 0
        e = p.entry
        parts = [f"{name} {format_value(v, analysis.unit)}" for name, v in
                 (("own", e.own), ("flat", e.flat), ("cum", e.cum)) if v or e.flat or e.cum]
        tip = f"{e.function}: {', '.join(parts)} ({_what(analysis)})"
        hints.append(types.InlayHint(position=types.Position(p.line, char), label=text,
                                     padding_left=True, tooltip=tip))
    return hints


def heat_payload(uri: str, version: int | None, placed: list[Placed], analysis: Analysis | None) -> dict:
    lines = []
    if analysis is not None:
        top = analysis.max_abs or 1.0
        for p in placed:
            lines.append({"line": p.line, "heat": min(1.0, p.entry.weight / top),
                          "value": p.entry.value, "share": p.entry.share, "label": p.entry.label,
                          "stale": p.stale})
    return {"uri": uri, "version": version, "sampleType": analysis.sample_type if analysis else None,
            "unit": analysis.unit if analysis else None, "lines": lines}


def code_lenses(lenses: list[FuncLens], placement: Placement) -> list[types.CodeLens]:
    out = []
    for lens in lenses:
        where = placement.to_document(lens.line)
        if where is None:
            continue
        line = where[0]
        rng = types.Range(types.Position(line, 0), types.Position(line, 0))
        cmd = types.Command(title=f"{lens.name}: {lens.title}", command="harness.hotLines",
                            arguments=[{"limit": 20}])
        out.append(types.CodeLens(range=rng, command=cmd))
    return out


def hover_markdown(detail: LineDetail, phases: list[tuple[str, int, int]], entry: LineEntry | None,
                   analysis: Analysis, stale: bool) -> str:
    rows = [f"**{detail.function}**" + (" — *stale: the line changed since the profile*" if stale else ""),
            "", "| sample type | flat | cum | own |", "|---|---|---|---|"]
    for t, unit, flat, cum, total, own in detail.per_type:
        cells = [f"{format_value(v, unit)} ({format_share(v / total if total else 0)})" for v in (flat, cum, own)]
        rows.append(f"| {t} | {' | '.join(cells)} |")
    if entry is not None and analysis.diff:
        rows += ["", f"change vs baseline ({analysis.mode} {analysis.sample_type}): {entry.label}"]
    if phases:
        rows += ["", f"per phase ({analysis.mode} {analysis.sample_type}):"]
        rows += [f"- {ph}: {label(v, v / t if t else 0, analysis.unit)}" for ph, v, t in phases]
    if not detail.edges_ready:
        rows += ["", "*callers and callees: still being computed for this large profile*"]
    if detail.callees:
        rows += ["", "top callees from this line:"]
        rows += [f"- {fn}: {format_value(v, detail.unit)}" for fn, v in detail.callees]
    if detail.callers:
        rows += ["", f"top callers of {detail.function}:"]
        rows += [f"- {fn}: {format_value(v, detail.unit)}" for fn, v in detail.callers]
    return "\n".join(rows)


def findings_markdown(items: list[Finding]) -> str:
    """The hover's "What happened" part for a line the run's verdict names: the finding as the
    report words it (the first finding of a phase is its cause)."""
    rows = []
    for f in items:
        against = f" vs {f.baseline}" if f.baseline else ""
        lead = "the cause" if f.first else "also"
        rows += [f"**What happened** · {f.phase}{against} *({lead})*", "", f.message, ""]
    return "\n".join(rows).rstrip()


def function_latency_markdown(items: list[FunctionLatency]) -> str:
    """The hover's "Function latency" part for the first line of probed functions: per call p50
    and p99 and the calls per second in the selected phase, and in the baseline beside it."""
    rows = []
    for it in items:
        service = f" ({it.service})" if it.service else ""
        rows += [f"**Function latency** · {it.function}{service} *(uprobes, per call)*", "",
                 "| phase | p50 | p99 | calls/s |", "|---|---|---|---|", _latency_row(it.phase, it.stats)]
        if it.baseline is not None:
            name = it.baseline if it.baseline == "baseline" else f"{it.baseline} (baseline)"
            rows.append(_latency_row(name, it.baseline_stats))
        rows.append("")
    return "\n".join(rows).rstrip()


def _latency_row(phase: str, stats: dict | None) -> str:
    if stats is None:
        return f"| {phase} | not measured | | |"
    lat = stats.get("latency_ms") or {}
    ms = lambda v: "–" if v is None else format_value(v, "milliseconds")
    rate = stats.get("calls_per_s")
    calls = "–" if rate is None else f"{format_value(rate, 'count')}/s"
    if not stats.get("calls"):
        return f"| {phase} | no calls | | {calls} |"
    return f"| {phase} | {ms(lat.get('p50'))} | {ms(lat.get('p99'))} | {calls} |"


def diagnostic(p: Placed, analysis: Analysis, current: list[str] | None) -> types.Diagnostic:
    end = len(current[p.line]) if current is not None and p.line < len(current) else 0
    severity = types.DiagnosticSeverity.Information if abs(p.entry.share) >= 0.1 \
        else types.DiagnosticSeverity.Hint
    msg = f"{'changed' if analysis.diff else 'hot'} line: {p.entry.label} ({_what(analysis)}) in " \
          f"{p.entry.function}" + (" [stale]" if p.stale else "")
    return types.Diagnostic(range=types.Range(types.Position(p.line, 0), types.Position(p.line, end)),
                            message=msg, severity=severity, source="harness")
