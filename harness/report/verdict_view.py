"""The verdict (summary["verdict"], built by verdict.py) as the report's opening section, as plain
text lines (junit.xml, the terminal) -- tolerant of a missing or partial verdict (older runs
have none; any field may be absent or of the wrong type).

    phases(summary)        -> [{"phase", "baseline", "headline", "findings": [{kind, message, evidence}]}]
    html_section(summary)  -> "<section>What happened ...</section>" ("" without a verdict)
    text_lines(summary)    -> ["fault (vs baseline): <headline>", "  1. [waiting] <message>", ...]
"""
from __future__ import annotations

from harness.report import units
from harness.report.markup import escape

CALM = ("no-change",)
CSS = """
.verdict{margin:18px 0 8px;border:1px solid #d8dde6;border-radius:6px;padding:4px 16px 10px;
page-break-inside:avoid;break-inside:avoid} .verdict h2{margin-top:10px}
.vphase{margin:12px 0 16px} .vphase .where{font-size:12px;color:#555;text-transform:uppercase;letter-spacing:.04em}
.headline{font-size:18px;font-weight:600;margin:4px 0 8px;line-height:1.35} .headline.calm{color:#1a5e2f;font-weight:normal}
.findings{margin:0;padding-left:22px} .findings li{margin:5px 0;line-height:1.4;break-inside:avoid}
.findings li.first{font-weight:600;border-left:4px solid #b00020;padding-left:8px;margin-left:-12px}
.findings li.calm{color:#1a5e2f;font-weight:normal;border-left:4px solid #9cc9a8;padding-left:8px;margin-left:-12px}
.fkind{display:inline-block;min-width:70px;font-size:11px;font-weight:600;text-transform:uppercase;color:#555}
.culprit{font-weight:normal;margin:3px 0 2px;font-size:13px} .culprit code{background:#f3f5f8;padding:1px 4px}
.culprit pre{margin:3px 0;padding:5px 8px;background:#f6f8fa;border:1px solid #e1e4e8;font-size:12px;
white-space:pre-wrap} .tags{color:#777;font-size:11px;font-weight:normal}
@media print{.verdict{border-color:#999}.findings li.first{border-left-color:#000}
.culprit pre,.culprit code{background:none}}
"""


def phases(summary: dict | None) -> list[dict]:
    """The verdict's phases, each with headline and findings normalised (empty list without one)."""
    verdict = (summary or {}).get("verdict")
    raw = verdict.get("phases") if isinstance(verdict, dict) else None
    out = []
    for p in raw if isinstance(raw, list) else []:
        if not isinstance(p, dict):
            continue
        found = [_finding(f) for f in p.get("findings") or [] if isinstance(f, dict)] \
            if isinstance(p.get("findings"), list) else []
        headline = p.get("headline") or (found[0]["message"] if found else "")
        out.append({"phase": str(p.get("phase") or "?"), "baseline": p.get("baseline"),
                    "headline": str(headline), "findings": found})
    return out


def _finding(f: dict) -> dict:
    ev = f.get("evidence") if isinstance(f.get("evidence"), dict) else {}
    return {"kind": str(f.get("kind") or "finding"), "message": str(f.get("message") or ""), "evidence": ev}


def message(finding: dict) -> str:
    """The finding's sentence without a leading "<kind>: " (the kind is shown beside it)."""
    text, kind = finding["message"], finding["kind"]
    return text[len(kind) + 2:] if text.lower().startswith(kind.lower() + ": ") else text


def culprit(finding: dict) -> dict | None:
    """The evidence's own line {file, line, function, text, share_before, share_after}, if any."""
    line = (finding.get("evidence") or {}).get("line")
    if not isinstance(line, dict) or not line.get("file"):
        return None
    return line


def where(line: dict) -> str:
    """file:line (function), the shares before -> after: "main.go:45 (main.acquire) 2% → 94.5%"."""
    func = f" ({line['function']})" if line.get("function") else ""
    figure = change(line)
    return f"{line['file']}:{line.get('line', '?')}{func}{' ' + figure if figure else ''}"


def change(line: dict) -> str:
    """What changed at the line: its time waiting per second (a wait from the runtime trace), else
    its share of the profile, before → after; "" when the evidence has neither."""
    if line.get("waiting_after") is not None:
        return (f"{units.duration_s(line.get('waiting_before') or 0)} → "
                f"{units.duration_s(line['waiting_after'])} of waiting per second")
    if line.get("share_before") is not None or line.get("share_after") is not None:
        return f"{units.percent(line.get('share_before'))} → {units.percent(line.get('share_after'))}"
    return ""


def _tags(finding: dict) -> str:
    ev = finding["evidence"]
    tags = [str(ev[k]) for k in ("service", "profile") if isinstance(ev.get(k), (str, int))]
    line = culprit(finding)
    if not tags and line and line.get("profile"):
        tags.append(str(line["profile"]))
    return " · ".join(tags)


# -- html ---------------------------------------------------------------------------------------

def html_section(summary: dict | None) -> str:
    """"What happened": per phase its headline, then the ranked findings (the first emphasised)."""
    ph = phases(summary)
    if not ph:
        return ""
    fid = fidelity_line(summary)
    fid_html = f"<p class='fidelity'><a href='#vs-production'>{escape(fid)}</a></p>" if fid else ""
    return ("<section class='verdict' id='what-happened'><h2>What happened</h2>"
            + "".join(_html_phase(p) for p in ph) + fid_html + "</section>")


def fidelity_line(summary: dict | None) -> str | None:
    """The verdict's one line on how close the run is to production (harness/judge/fidelity.py)."""
    line = ((summary or {}).get("verdict") or {}).get("fidelity")
    return str(line) if line else None


def _html_phase(p: dict) -> str:
    base = f" vs {escape(str(p['baseline']))}" if p.get("baseline") else ""
    items = "".join(_html_finding(f, i == 0) for i, f in enumerate(p["findings"]))
    body = f"<ol class='findings'>{items}</ol>" if items else "<div class='muted'>no findings</div>"
    calm = " calm" if is_calm(p) else ""
    return (f"<div class='vphase'><div class='where'>phase {escape(p['phase'])}{base}</div>"
            f"<p class='headline{calm}'>{escape(p['headline'])}</p>{body}</div>")


def is_calm(p: dict) -> bool:
    """Nothing happened in the phase: its findings (if any) are all "no-change"."""
    return all(f["kind"] in CALM for f in p["findings"])


def _html_finding(f: dict, first: bool) -> str:
    cls = "calm" if f["kind"] in CALM else "first" if first else ""
    tags = _tags(f)
    out = (f"<li class='{cls}'><span class='fkind'>{escape(f['kind'])}</span> {escape(message(f))}"
           + (f" <span class='tags'>({escape(tags)})</span>" if tags else ""))
    line = culprit(f)
    if line:
        func = f" in <code>{escape(str(line['function']))}</code>" if line.get("function") else ""
        text = f"<pre>{escape(str(line['text']))}</pre>" if line.get("text") else ""
        figure = change(line)
        figure = figure if line.get("waiting_after") is not None else f"share {figure}" if figure else ""
        out += (f"<div class='culprit'><code>{escape(str(line['file']))}:{escape(str(line.get('line', '?')))}"
                f"</code>{func}{' · ' + escape(figure) if figure else ''}{text}</div>")
    return out + "</li>"


# -- text ---------------------------------------------------------------------------------------

def text_lines(summary: dict | None) -> list[str]:
    """Plain text, one line per phase headline and per finding (junit.xml's system-out)."""
    out = []
    for p in phases(summary):
        base = f" (vs {p['baseline']})" if p.get("baseline") else ""
        out.append(f"{p['phase']}{base}: {p['headline']}")
        for i, f in enumerate(p["findings"], 1):
            out.append(f"  {i}. [{f['kind']}] {message(f)}{line_suffix(f)}")
    fid = fidelity_line(summary)
    return out + ([fid] if fid else [])


def line_suffix(f: dict) -> str:
    """" | file:line (function) before → after: text" unless the message already names the line."""
    line = culprit(f)
    if not line or f"{line['file']}:{line.get('line')}" in f["message"]:
        return ""
    return f" | {where(line)}" + (f": {line['text']}" if line.get("text") else "")
