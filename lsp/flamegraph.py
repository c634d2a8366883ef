"""The flame graph of the editor's current view (harness.flameGraph): one tree per service of the
selected run, phase, profile and sample type (rundir.pprof.flame), differential when the view compares,
with each frame's file mapped to this machine by the view's path mapper so that the editor can open
it (field "p"). The VS Code panel draws the graphs with the report's viewer
(harness/report/assets/flamegraph.js).
"""
from __future__ import annotations

from lsp.analysis import Source
from lsp.session import View
from rundir.pprof import ProfileError
from rundir.pprof.flame import build_flame, walk

DEFAULT_MAX_NODES = 5000
LIMITS = (2, 50_000)   # maxNodes the command accepts


def compare_label(compare: dict | None) -> str | None:
    """"Δ against baseline" / "Δ against run <id>" for a compare selection; None when not comparing."""
    if not compare:
        return None
    if "baseline" in compare:
        return f"\u0394 against {compare['baseline']}"
    if "run" in compare:
        return f"\u0394 against run {compare['run']}"
    if compare.get("production"):
        return "\u0394 against production"
    if "profile" in compare:
        return f"\u0394 against {compare['profile']}"
    return None


def map_files(tree: dict, src: Source) -> int:
    """Add "p" (the file on this machine) to every frame whose file the source's mapper finds;
    returns how many frames got one."""
    found = 0
    for _path, node in walk(tree):
        name = node.get("f")
        if not name:
            continue
        path = src.mapper.resolve(name)
        if path is not None:
            node["p"] = str(path)
            found += 1
    return found


def _bases(view: View, src: Source) -> list[Source]:
    """The compared-with profiles of a source: the same service (and kind) on the other side."""
    return [b for b in view.base_sources if b.service == src.service and b.kind == src.kind]


def _graph(view: View, src: Source, sample_type: str, compare: str | None, max_nodes: int) -> dict:
    bases = _bases(view, src) if compare else []
    tree = build_flame(src.profile, sample_type, base=[b.profile for b in bases] or None,
                       is_own=src.mapper.is_own, max_nodes=max_nodes)
    map_files(tree, src)
    shown = compare if bases else None
    where = " \u00b7 ".join(x for x in (src.kind, src.service, src.phase or view.profile_label) if x)
    return {"dims": {"service": src.service, "profile": src.kind, "phase": src.phase or "",
                     "compare": shown or "this phase", "sample": tree["sample_type"]},
            "title": f"{where}{' ' + shown if shown else ''} \u00b7 {tree['sample_type']}", "tree": tree}


def view_graphs(view: View, compare: dict | None, max_nodes: int = DEFAULT_MAX_NODES) -> dict:
    """{"graphs": [...], "message"}: a graph per source of the view (a run's services, or the one
    profile file); the message says what is shown or why nothing is."""
    a = view.analysis
    if a is None:
        return {"graphs": [], "message": view.problems[0] if view.problems else "no profile loaded"}
    label = compare_label(compare)
    graphs, problems = [], []
    for src in a.sources:
        try:
            graphs.append(_graph(view, src, a.sample_type, label, max_nodes))
        except (ProfileError, ValueError, MemoryError, RecursionError) as exc:
            problems.append(f"{src.name or src.kind}: {exc}")
    missing = [g["dims"]["service"] or g["title"] for g in graphs if label and g["dims"]["compare"] != label]
    if missing:
        problems.append(f"nothing to compare with for {', '.join(missing)}: shown without the diff")
    where = f"run {view.run.id} phase {view.phase}" if view.run else view.profile_label
    message = f"{a.sample_type} of {where}" + (f", {label}" if label else "")
    return {"graphs": graphs, "message": "; ".join([message, *problems]), "sampleType": a.sample_type,
            "unit": a.unit, "run": view.run.id if view.run else None, "phase": view.phase}
