"""The report's flame graphs: trees from rundir.pprof.flame over a run's profile artifacts, embedded as
compact JSON with the viewer (assets/flamegraph.js) inline, so report.html stays one file.

One graph per service, profile kind, phase and sample type, and for every phase other than the
baseline a differential graph against the baseline (same service, kind and sample type); the viewer
shows one at a time, chosen with selects. Size bound (docs/report.md "Flame graphs"): every tree
keeps at most REPORT_MAX_NODES frames, and all trees of a report together at most
REPORT_NODE_BUDGET (the per-tree bound shrinks when a run has many profiles). The compact encoding
takes 28-35 bytes per frame (measured on a 200,000-sample generated profile), so the embedded data
stays under about 1 MiB whatever the run; the inline viewer adds some 35 KB.

    from harness.report import flame_view
    graphs = flame_view.run_graphs(run)          # [{"dims", "title", "tree"}]
    html = flame_view.section(run)               # the report's section
    html = flame_view.embed(graphs, "flame-1")   # any list of graphs, e.g. one profile
    page = flame_view.standalone_page(tree, "title")   # one tree as a page (harness flame --format html)
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

from harness.report import profiles
from harness.report.markup import escape
from harness.report.rundata import RunData
from rundir.pprof import Profile, ProfileError, load_profile
from rundir.pprof.flame import MIN_FRACTION, build_flame

ASSET = Path(__file__).with_name("assets") / "flamegraph.js"
REPORT_MAX_NODES = 2000
REPORT_NODE_BUDGET = 25_000
THIS_PHASE = "this phase"


@dataclass(frozen=True)
class Job:
    """One tree to build: a profile (and its diff base) for one sample type."""
    service: str
    kind: str
    phase: str
    sample_type: str
    path: Path
    base_path: Path | None
    base_phase: str | None


def viewer_js() -> str:
    """The viewer's source, as the report inlines it."""
    return ASSET.read_text(encoding="utf-8")


def _profile_artifacts(run: RunData) -> dict[tuple[str, str, str], Path]:
    """(service, kind, phase) -> profile path, for every profile artifact of the run."""
    out = {}
    for a in run.manifest.get("artifacts", []):
        if a.get("kind") in profiles.PROFILE_KINDS and a.get("phase") and a.get("path") and not a.get("empty"):
            out[(str(a.get("service") or ""), a["kind"], a["phase"])] = run.path / a["path"]
    return out


def jobs(run: RunData, load) -> list[Job]:
    """Every tree the report shows, in the viewer's order of choice: kinds as the report orders
    them, then services, phases (run order), a phase before its diff, sample types (the profile's
    default first). `load(path)` returns a Profile or None."""
    arts = _profile_artifacts(run)
    base = run.baseline
    phase_order = {p["name"]: i for i, p in enumerate(run.phases)}
    kind_order = {k: i for i, k in enumerate(profiles.PROFILE_KINDS)}
    keys = sorted(arts, key=lambda k: (kind_order.get(k[1], 99), k[0], phase_order.get(k[2], 99), k[2]))
    out = []
    for service, kind, phase in keys:
        prof = load(arts[(service, kind, phase)])
        if prof is None:
            continue
        default = prof.sample_types[prof.default_index][0]
        types = [default] + [t for t, _u in prof.sample_types if t != default]
        base_path = arts.get((service, kind, base)) if phase != base else None
        for diff in (False, True) if base_path is not None else (False,):
            out.extend(Job(service, kind, phase, t, arts[(service, kind, phase)],
                           base_path if diff else None, base if diff else None) for t in types)
    return out


def _loader(problems: list[str]):
    cache: dict[Path, Profile | None] = {}

    def load(path: Path) -> Profile | None:
        if path not in cache:
            try:
                cache[path] = load_profile(path)
            except (ProfileError, OSError) as e:
                problems.append(f"flame graph: {path}: {e}")
                cache[path] = None
        return cache[path]
    return load


def build_graph(job: Job, load, service: dict, max_nodes: int) -> dict | None:
    """The viewer's graph of a job (None when a profile cannot be read or lacks the sample type)."""
    prof = load(job.path)
    base = load(job.base_path) if job.base_path is not None else None
    if prof is None or (job.base_path is not None and base is None):
        return None
    tree = build_flame(prof, job.sample_type, base=base, is_own=profiles.own_matcher(service),
                       min_fraction=MIN_FRACTION, max_nodes=max_nodes)
    compare = f"\u0394 against {job.base_phase}" if job.base_phase else THIS_PHASE
    title = (f"{job.kind} \u00b7 {job.service} \u00b7 {job.phase}"
             + (f" against {job.base_phase} (differential)" if job.base_phase else "")
             + f" \u00b7 {job.sample_type}")
    return {"dims": {"service": job.service, "profile": job.kind, "phase": job.phase, "compare": compare,
                     "sample": job.sample_type}, "title": title, "tree": tree}


def per_tree_bound(n_trees: int) -> int:
    """Frames per tree: REPORT_MAX_NODES, less when the run has many trees (never below 2)."""
    if n_trees <= 0:
        return REPORT_MAX_NODES
    return max(2, min(REPORT_MAX_NODES, REPORT_NODE_BUDGET // n_trees))


def run_graphs(run: RunData, problems: list[str] | None = None) -> list[dict]:
    """Every graph of the run (see `jobs`), each tree bounded by `per_tree_bound`."""
    problems = run.problems if problems is None else problems
    load = _loader(problems)
    todo = jobs(run, load)
    bound = per_tree_bound(len(todo))
    services = run.manifest.get("services", {})
    out = []
    for job in todo:
        try:
            graph = build_graph(job, load, services.get(job.service) or {}, bound)
        except (ProfileError, ValueError, MemoryError, RecursionError) as e:
            problems.append(f"flame graph {job.kind} {job.service} {job.phase} {job.sample_type}: {e}")
            continue
        if graph is not None:
            out.append(graph)
    return _first_shown(out, run.baseline)


def _first_shown(graphs: list[dict], baseline: str | None) -> list[dict]:
    """The graph the page opens on first: cpu (else the first kind) of the first service, the first
    phase other than the baseline against it, the profile's default sample type."""
    if not graphs:
        return graphs
    kind = next((g["dims"]["profile"] for g in graphs if g["dims"]["profile"] == "cpu"), graphs[0]["dims"]["profile"])
    same = [g for g in graphs if g["dims"]["profile"] == kind]
    pick = next((g for g in same if g["dims"]["phase"] != baseline and g["dims"]["compare"] != THIS_PHASE), same[0])
    return [pick] + [g for g in graphs if g is not pick]


# -- compact encoding (decoded by HarnessFlame.decode) --------------------------------------------

def _gcd(values) -> int:
    return reduce(math.gcd, (abs(int(v)) for v in values), 0) or 1


def _walk(root: dict):
    todo = [root]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(reversed(node.get("c", ())))


def encode(graphs: list[dict]) -> dict:
    """Graphs as the viewer's compact form: one string table for function names and files, each
    tree a pre-order list of integers [name, file, line, own, merged, self, total, (base self,
    base total,) children], values divided by the tree's greatest common divisor (exact)."""
    strings: dict[str, int] = {}
    intern = lambda s: strings.setdefault(s or "", len(strings))
    out = []
    for g in graphs:
        tree = g["tree"]
        diff = tree.get("base_total") is not None
        nodes = list(_walk(tree["root"]))
        scale = _gcd(v for n in nodes for v in (n["s"], n["v"]))
        bscale = _gcd(v for n in nodes for v in (n.get("bs", 0), n.get("bv", 0))) if diff else 1
        flat: list[int] = []
        for n in nodes:
            flat += [intern(n["n"]), intern(n.get("f")), int(n.get("l") or 0), int(n.get("o") or 0),
                     int(n.get("m") or 0), n["s"] // scale, n["v"] // scale]
            if diff:
                flat += [n.get("bs", 0) // bscale, n.get("bv", 0) // bscale]
            flat.append(len(n.get("c", ())))
        head = {k: v for k, v in tree.items() if k != "root"}
        out.append({"dims": g["dims"], "title": g["title"], "tree": head, "diff": diff, "scale": scale,
                    "bscale": bscale, "nodes": flat})
    return {"format": "harness-flame", "version": 1, "strings": list(strings), "graphs": out}


def json_for_script(data) -> str:
    """JSON safe inside <script type="application/json">: no "<" can close the element."""
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def embed(graphs: list[dict], data_id: str) -> str:
    """The viewer's element, its data and the viewer itself (inline, no network)."""
    return (f"<div class='flame' data-flame-source='{escape(data_id)}'></div>"
            "<noscript><div class='muted'>The flame graphs need JavaScript.</div></noscript>"
            f"<script type='application/json' id='{escape(data_id)}'>{json_for_script(encode(graphs))}</script>"
            f"<script>{viewer_js()}</script>")


PAGE_CSS = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1400px}"


def standalone_page(tree: dict, title: str) -> str:
    """One tree as a page of its own (`harness flame --format html`): the report's viewer, inline."""
    graph = {"dims": {"sample": tree.get("sample_type", "")}, "title": title, "tree": tree}
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{PAGE_CSS}</style></head><body>{embed([graph], 'flame-data')}</body></html>")


def section(run: RunData) -> str:
    """The report's "Flame graphs" section ("" for a run without profiles)."""
    graphs = run_graphs(run)
    if not graphs:
        return ""
    nodes = sum(1 for g in graphs for _n in _walk(g["tree"]["root"]))
    return ("<h2 id='flame-graphs'>Flame graphs</h2><div class='muted'>One per service, profile, phase and "
            "sample type, and for each phase after the baseline a differential graph against it (width: the "
            "phase's value; colour: change of share). Hover or focus a frame for its numbers; click or Enter "
            "zooms; search takes text or /regex/. Frames under "
            f"{MIN_FRACTION:.1%} of the total, or beyond {REPORT_MAX_NODES:,} per graph ({REPORT_NODE_BUDGET:,} in "
            f"all graphs together), are merged into \u201cother\u201d frames ({len(graphs)} graphs, {nodes:,} "
            "frames).</div>"
            + embed(graphs, "flame-data"))
