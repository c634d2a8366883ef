"""A static flame graph picture (SVG) of a flame-graph tree (rundir.pprof.flame's JSON format).

Root at the bottom, callees above their callers, width = total (the phase's value in a diff).
Each frame is a rectangle with its name when it fits and a <title> tooltip (function, file:line,
total and self in human units with their share; in a diff also the base's values and the change
of share). Colours: own code warm, library and runtime grey; in a diff red = the frame's share of
the profile grew, blue = it shrank (the stronger, the larger the change; own code outlined), with
a legend. Frames narrower than MIN_PX are not drawn, nor their callees.
"""
from __future__ import annotations

import re
from html import escape as _html_escape

from harness.report import units

# characters XML 1.0 forbids (a NUL in a function name once made the SVG unreadable): shown as U+FFFD
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def escape(text: str) -> str:
    """Text for XML: markup escaped, characters XML cannot hold replaced."""
    return _html_escape(_NOT_XML.sub("\ufffd", text))

WIDTH = 1200
ROW = 17
PAD = 10
TOP = 42          # title and legend
MIN_PX = 0.3
CHAR_PX = 6.6     # width of one character at the label's font size


def _share(v: int, total: int) -> float:
    return v / total if total else 0.0


def _tooltip(node: dict, tree: dict) -> str:
    unit, total = tree.get("unit"), tree.get("total") or 0
    where = f" ({node['f']}:{node['l']})" if node.get("f") else ""
    lines = [f"{node['n']}{where}",
             (f"total {units.profile_value(node['v'], unit)} ({units.percent(_share(node['v'], total))}), "
              f"self {units.profile_value(node['s'], unit)} ({units.percent(_share(node['s'], total))})")]
    if tree.get("base_total") is not None:
        base = tree["base_total"] or 0
        before, after = _share(node.get("bv", 0), base), _share(node["v"], total)
        lines.append(f"base: total {units.profile_value(node.get('bv', 0), unit)} ({units.percent(before)}), "
                     f"self {units.profile_value(node.get('bs', 0), unit)}; change of share "
                     f"{units.points(after - before)}")
    if node.get("m"):
        lines.append(f"{node['m']} frames merged (each under the size bound)")
    return "\n".join(lines)


def _colour(node: dict, tree: dict, scale: float) -> str:
    if tree.get("base_total") is not None:
        change = _share(node["v"], tree.get("total") or 0) - _share(node.get("bv", 0), tree["base_total"] or 0)
        strength = min(1.0, abs(change) / scale) if scale else 0.0
        light = round(96 - 46 * strength)
        return f"hsl({0 if change > 0 else 215}, {round(20 + 70 * strength)}%, {light}%)"
    if node.get("m"):
        return "hsl(0, 0%, 88%)"
    if node.get("o"):
        hue = 12 + (sum(map(ord, node["n"])) % 30)
        return f"hsl({hue}, 85%, 62%)"
    return f"hsl(0, 0%, {70 + sum(map(ord, node['n'])) % 12}%)"


def _diff_scale(tree: dict) -> float:
    """The largest change of share in the tree (the colour scale's end), or 0."""
    if tree.get("base_total") is None:
        return 0.0
    total, base = tree.get("total") or 0, tree["base_total"] or 0
    best, todo = 0.0, [tree["root"]]
    while todo:
        node = todo.pop()
        best = max(best, abs(_share(node["v"], total) - _share(node.get("bv", 0), base)))
        todo.extend(node.get("c", ()))
    return best


def _frames(tree: dict, width: float):
    """(node, x, depth, w) for every frame drawn, root first."""
    root = tree["root"]
    scale = width / abs(root["v"]) if root["v"] else 0.0
    todo = [(root, 0.0, 0)]
    while todo:
        node, x, depth = todo.pop()
        w = abs(node["v"]) * scale
        if w < MIN_PX and depth:
            continue
        yield node, x, depth, w
        cx = x
        for c in node.get("c", ()):
            todo.append((c, cx, depth + 1))
            cx += abs(c["v"]) * scale


def render_svg(tree: dict, title: str = "") -> str:
    """The SVG text of one tree."""
    inner = WIDTH - 2 * PAD
    frames = list(_frames(tree, inner))
    depth = max((d for _n, _x, d, _w in frames), default=0) + 1
    height = TOP + depth * ROW + PAD
    scale = _diff_scale(tree)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="Verdana, sans-serif" font-size="11">'),
           f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
           f'<text x="{PAD}" y="18" font-size="14">{escape(title or _default_title(tree))}</text>',
           f'<text x="{PAD}" y="34" fill="#555">{escape(_legend(tree, scale))}</text>']
    for node, x, d, w in frames:
        y = height - PAD - (d + 1) * ROW
        own = node.get("o") and tree.get("base_total") is not None
        stroke = ' stroke="#000" stroke-width="1"' if own else ' stroke="#fff" stroke-width="0.5"'
        out.append(f'<g><title>{escape(_tooltip(node, tree))}</title>'
                   f'<rect x="{PAD + x:.2f}" y="{y}" width="{w:.2f}" height="{ROW - 1}" '
                   f'fill="{_colour(node, tree, scale)}"{stroke}/>')
        chars = int((w - 6) / CHAR_PX)
        if chars >= 3:
            label = node["n"] if len(node["n"]) <= chars else node["n"][:chars - 2] + ".."
            out.append(f'<text x="{PAD + x + 3:.2f}" y="{y + ROW - 5}">{escape(label)}</text>')
        out.append("</g>")
    out.append("</svg>\n")
    return "\n".join(out)


def _default_title(tree: dict) -> str:
    what = f"{tree.get('sample_type')} ({units.profile_value(tree.get('total'), tree.get('unit'))})"
    return f"Flame graph: {what}" + (" against the base" if tree.get("base_total") is not None else "")


def _legend(tree: dict, scale: float) -> str:
    if tree.get("base_total") is not None:
        return (f"width = this profile's value; red = share grew, blue = share shrank (full colour at "
                f"{units.points(scale)}); own code outlined")
    return "width = total; own code in warm colours, library and runtime grey; hover a frame for its numbers"
