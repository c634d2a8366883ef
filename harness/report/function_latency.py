"""Function latency (uprobes, docs/captures.md): summary.json's per-phase `functions` block and
report.html's "Function latency" section.

The files are read once (RunData.functions, through rundir.contract.read_functions); the summary keeps
the numbers, the section draws each function's latency by percentile from its HdrHistogram.
"""
from __future__ import annotations

import base64
import binascii
import struct
import zlib

from hdrh.histogram import HdrHistogram

from harness.report import plots, units
from harness.report.markup import escape
from harness.report.rundata import RunData

SUMMARY_KEYS = ("function", "file", "line", "calls", "calls_per_s", "unfinished", "latency_ms")
# Percentiles drawn: evenly on the "nines" scale from 0 to 99.99 (each tenth of a nine), and the median.
PERCENTILES = tuple(sorted({round(100 * (1 - 10 ** (-k / 10)), 6) for k in range(41)} | {50.0}))
MAX_PAYLOAD = 4 << 20          # a 3-digit, 1 ns .. 10 min histogram inflates to well under 1 MiB
MAX_HIGHEST_NS = 2 ** 42       # 73 minutes: the capture's histograms reach 10 minutes
_PAYLOAD_HEADER = struct.Struct(">IIIIQQd")   # cookie, length, offset, digits, lowest, highest, ratio
COLUMNS = (("calls", "calls", units.count), ("calls_per_s", "calls/s", units.rate),
           ("p50", "p50", units.duration_ms), ("p90", "p90", units.duration_ms),
           ("p99", "p99", units.duration_ms), ("p999", "p99.9", units.duration_ms),
           ("max", "max", units.duration_ms))


def phase_block(run: RunData, phase: str) -> dict:
    """summary.json's `functions` of a phase: {service: [{function, file, line, calls, calls_per_s,
    unfinished, latency_ms}]}, in the order of the files."""
    out: dict[str, list[dict]] = {}
    for (name, service), doc in sorted(run.functions.items()):
        if name == phase:
            incomplete = None if doc.get("complete", True) else (doc.get("why") or "the recording is partial")
            out[service] = [{**{k: f.get(k) for k in SUMMARY_KEYS}, "incomplete": incomplete}
                            for f in doc["functions"]]
            for f in doc["functions"]:
                _curve(run, f, f"{f['function']} ({service}, {phase})")
    return out


def _curve(run: RunData, entry: dict, what: str) -> None:
    """entry["percentiles"]: its histogram's latency by percentile, for the chart (decoded while the
    summary is built, so that a damaged histogram is listed under the summary's problems)."""
    entry["percentiles"] = []
    if not entry.get("histogram") or not entry.get("calls"):
        return
    try:
        entry["percentiles"] = percentiles(entry["histogram"])
    except ValueError as exc:
        run.problems.append(f"function latency of {what}: histogram left out: {exc}")


def percentiles(encoded: str) -> list[tuple[float, float]]:
    """(percentile, latency in ms) at PERCENTILES of a base64 HdrHistogram of nanoseconds; [] when it
    holds no value. ValueError when it is no such histogram or larger than one can be (the header's
    range and the inflated size are checked before hdrh allocates anything)."""
    try:
        raw = base64.b64decode(encoded, validate=True)
        inflate = zlib.decompressobj()
        payload = inflate.decompress(raw[8:], MAX_PAYLOAD)
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise ValueError(f"not an encoded histogram: {exc}") from None
    if inflate.unconsumed_tail or len(payload) < _PAYLOAD_HEADER.size:
        raise ValueError("not an encoded histogram: its payload is too large or too short")
    _cookie, _n, _offset, digits, lowest, highest, _ratio = _PAYLOAD_HEADER.unpack_from(payload)
    if not (1 <= digits <= 4 and 1 <= lowest and 2 * lowest <= highest <= MAX_HIGHEST_NS):
        raise ValueError(f"implausible histogram range: {lowest}..{highest} ns, {digits} digits")
    try:
        hist = HdrHistogram.decode(encoded)
    except Exception as exc:  # noqa: BLE001 - hdrh raises its own kinds for a damaged payload
        raise ValueError(f"not an encoded histogram: {type(exc).__name__}: {exc}") from None
    if not hist.get_total_count():
        return []
    values = hist.get_percentile_to_value_dict(list(PERCENTILES))
    return [(q, values[q] / 1e6) for q in PERCENTILES]


# -- report.html -----------------------------------------------------------------------------------

def section(s: dict, run: RunData) -> str:
    """"Function latency": per service a table (baseline first, the change of p99 against it) and
    per function its latency by percentile, one line per phase. Empty without function artifacts."""
    if not run.functions:
        return ""
    base = s.get("baseline_phase")
    names = [p["name"] for p in s.get("phases", [])]
    order = ([base] if base in names else []) + [n for n in names if n != base]
    rows: dict[str, dict[str, dict[str, dict]]] = {}     # service -> function -> phase -> row
    for p in s.get("phases", []):
        for svc, fns in (p.get("functions") or {}).items():
            for f in fns:
                rows.setdefault(svc, {}).setdefault(f["function"], {})[p["name"]] = f
    out = [("<h2>Function latency</h2><div class='muted'>every call of the probed functions, timed with "
            "uprobes (entry and every return); latency per call</div>")]
    for svc in sorted(rows):
        out.append(f"<h3>{escape(svc)}</h3>" + _table(rows[svc], order, base))
        for function, by_phase in rows[svc].items():
            out.append(_chart(run, svc, function, [n for n in order if n in by_phase]))
        out.append(_unfinished(rows[svc], order))
        out.append(_partial(rows[svc], order))
    return "\n".join(out)


def _partial(functions: dict[str, dict[str, dict]], order: list[str]) -> str:
    """The phases whose recording does not hold every call, and why (once per phase)."""
    why = {name: row["incomplete"] for by_phase in functions.values() for name in order
           if (row := by_phase.get(name)) and row.get("incomplete")}
    items = "".join(f"<li><b>{escape(name)}</b>: not every call was recorded: {escape(text)}</li>"
                    for name, text in why.items())
    return f"<ul class='warn'>{items}</ul>" if items else ""


def _table(functions: dict[str, dict[str, dict]], order: list[str], base: str | None) -> str:
    head = ("<table><tr><th class='l'>function</th><th class='l'>phase</th>"
            + "".join(f"<th>{h}</th>" for _k, h, _f in COLUMNS) + "<th>p99 vs baseline</th></tr>")
    body = []
    for function, by_phase in functions.items():
        phases = [n for n in order if n in by_phase]
        first = by_phase[phases[0]]
        where = f"{str(first.get('file') or '').rsplit('/', 1)[-1]}:{first['line']}" if first.get("line") else ""
        cell = (f"<td class='l' rowspan='{len(phases)}'>{escape(function)}"
                + (f" <code class='muted' title='{escape(str(first.get('file')))}'>{escape(where)}</code>"
                   if where else "") + "</td>")
        before = ((by_phase.get(base) or {}).get("latency_ms") or {}).get("p99")
        for i, name in enumerate(phases):
            f = by_phase[name]
            lat = f.get("latency_ms") or {}
            values = {"calls": f.get("calls"), "calls_per_s": f.get("calls_per_s"), **lat}
            change = "<span class='muted'>baseline</span>" if name == base else _cell(units.factor(before, lat.get("p99")))
            body.append(f"<tr>{cell if i == 0 else ''}<td class='l'>{escape(name)}</td>"
                        + "".join(f"<td>{_cell(fmt(values.get(k)))}</td>" for k, _h, fmt in COLUMNS)
                        + f"<td>{change}</td></tr>")
    return head + "".join(body) + "</table>"


def _chart(run: RunData, svc: str, function: str, phases: list[str]) -> str:
    series = []
    for name in phases:
        doc = run.functions.get((name, svc)) or {}
        entry = next((f for f in doc.get("functions", []) if f["function"] == function), None)
        if entry is not None and entry.get("percentiles"):
            series.append({"label": name, "points": entry["percentiles"]})
    return plots.percentile_chart(f"{function} · {svc}: latency per call by percentile", series,
                                  fmt=units.duration_ms)


def _unfinished(functions: dict[str, dict[str, dict]], order: list[str]) -> str:
    notes = [f"{escape(fn)} in {escape(name)}: {escape(units.count(row['unfinished']))}"
             for fn, by_phase in functions.items() for name in order
             if (row := by_phase.get(name)) and row.get("unfinished")]
    return (f"<div class='muted'>calls still running when the phase ended (not timed): {'; '.join(notes)}</div>"
            if notes else "")


def _cell(text: str) -> str:
    return f"<span class='muted'>{units.MISSING}</span>" if text == units.MISSING else escape(text)
