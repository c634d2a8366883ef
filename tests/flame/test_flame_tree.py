"""rundir.pprof.flame on real Go profiles: the tree against `go tool pprof -top`, the bound, the diff."""
from __future__ import annotations

from collections import defaultdict

import pytest

from rundir.pprof import load_profile
from rundir.pprof.flame import build_flame, walk
from rundir.pprof.flame_formats import folded_paths
from tests.flame.conftest import MODULE, marker_line
from tests.flame.pprof_top import pprof_top

KINDS = ("cpu", "allocs")


def exact(prof, index, **kw) -> dict:
    return build_flame(prof, index, min_fraction=0, max_nodes=None, **kw)


def cases(profiles):
    """(path, profile, sample index) for every sample type of every real profile."""
    for folder in (profiles.base, profiles.fault):
        for kind in KINDS:
            prof = load_profile(folder / f"{kind}.pb.gz")
            for i in range(len(prof.sample_types)):
                yield folder / f"{kind}.pb.gz", prof, i


def function_totals(tree: dict) -> dict[str, tuple[int, int]]:
    """(self, total) per function: selfs summed over its nodes, totals over the nodes that have no
    node of the same function above them (a recursive call is inside its caller's total)."""
    selfs, totals = defaultdict(int), defaultdict(int)
    for path, node in walk(tree):
        if not path:
            continue
        selfs[node["n"]] += node["s"]
        if node["n"] not in path[:-1]:
            totals[node["n"]] += node["v"]
    return {n: (selfs[n], totals[n]) for n in totals}


def test_per_sample_type_the_folded_stacks_sum_to_the_profile_total(profiles):
    checked = 0
    for path, prof, i in cases(profiles):
        total, _rows = pprof_top(path, i, prof.sample_types[i][1])
        assert sum(folded_paths(prof, i).values()) == total, f"{path} {prof.sample_types[i]}"
        assert exact(prof, i)["total"] == total and build_flame(prof, i)["total"] == total
        checked += 1
    assert checked == 2 * (2 + 4)     # cpu: samples, cpu; allocs: alloc_/inuse_ objects, space


def test_every_function_total_is_its_cum_and_its_self_the_flat_of_go_tool_pprof_top(profiles):
    compared = 0
    for path, prof, i in cases(profiles):
        _total, rows = pprof_top(path, i, prof.sample_types[i][1])
        ours = function_totals(exact(prof, i))
        theirs = {name for name, (flat, cum) in rows.items() if flat or cum}
        assert set(ours) == theirs, f"{path} [{i}]: only ours {set(ours) - theirs}, only pprof's {theirs - set(ours)}"
        for name, (flat, cum) in rows.items():
            assert ours[name] == (flat, cum), f"{path} {prof.sample_types[i][0]} {name}: (self, total) vs pprof"
            compared += 1
    assert compared > 100


def test_the_tree_has_the_programs_call_structure(profiles):
    prof = load_profile(profiles.base / "cpu.pb.gz")
    tree = exact(prof, "cpu", is_own=lambda f: f.startswith(MODULE + "/"))
    nodes = dict(walk(tree))
    chain = ("runtime.main", "main.main", "main.cpuWork", "main.outer", "main.middle", "main.leaf",
             "hash/crc64.Update")
    assert chain in nodes, "the inlined leaf (and crc64.Update inlined into it) are frames of their own"
    # each caller's line is the line that calls the next frame; inlined frames keep their own lines
    assert nodes[chain[:4]]["l"] == marker_line("outer")
    assert nodes[chain[:5]]["l"] == marker_line("middle")
    assert nodes[chain[:6]]["l"] == marker_line("leaf") and nodes[chain[:6]]["f"] == f"{MODULE}/main.go"
    assert [nodes[chain[:k]]["o"] for k in range(1, 8)] == [0, 1, 1, 1, 1, 1, 0]
    # recursion: one node per call on the path, each total inside its caller's
    rec = [p for p in nodes if p[-1:] == ("main.recurse",)]
    deepest = max(rec, key=len)
    assert deepest.count("main.recurse") == 7
    assert nodes[deepest[:deepest.index("main.recurse") + 2]]["l"] == marker_line("recurse")
    share = nodes[chain[:4]]["v"] / tree["total"]
    assert 0.4 < share < 0.9, f"outer holds {share:.0%} of the CPU (the program gives it ~70%)"


def check_bounded(tree: dict, full: dict, max_nodes: int | None, min_fraction: float) -> int:
    """Invariants of a bounded tree against the exact one; returns the number of "other" nodes."""
    whole = dict(walk(full))
    others, count = 0, 0
    for path, node in walk(tree):
        count += 1
        kids = node.get("c", [])
        assert node["v"] == node["s"] + sum(c["v"] for c in kids), f"{path}: total = self + children"
        assert [c["v"] for c in kids] == sorted((c["v"] for c in kids), reverse=True), f"{path}: sorted"
        if "m" in node:
            others += 1
            parent = whole[path[:-1]]
            kept = {c["n"] for c in kids} | {c["n"] for c in tree_children(tree, path[:-1])}
            merged = [c for c in parent.get("c", []) if c["n"] not in kept]
            assert node["m"] == len(merged) and node["v"] == sum(c["v"] for c in merged), f"{path}: other"
            assert "c" not in node and node["s"] == node["v"]
            continue
        assert (node["v"], node["s"]) == (whole[path]["v"], whole[path]["s"]), f"{path}: value changed"
        if path:
            assert node["v"] >= min_fraction * tree["total"], f"{path}: under the bound"
    if max_nodes is not None:
        assert count <= max_nodes
    return others


def tree_children(tree: dict, path: tuple) -> list[dict]:
    return dict(walk(tree))[path].get("c", [])


@pytest.mark.parametrize("min_fraction,max_nodes", [(0.001, 5000), (0.02, None), (0.0, 12), (0.05, 6)])
def test_merged_other_frames_keep_every_total_exact(profiles, min_fraction, max_nodes):
    others = 0
    for _path, prof, i in cases(profiles):
        full = exact(prof, i)
        tree = build_flame(prof, i, min_fraction=min_fraction, max_nodes=max_nodes)
        assert tree["total"] == tree["root"]["v"] == full["total"]
        others += check_bounded(tree, full, max_nodes, min_fraction)
    assert others > 0, "the bound merged nothing: the test shows nothing"


def test_a_profile_diffed_against_itself_is_zero_everywhere(profiles):
    nodes = 0
    for _path, prof, i in cases(profiles):
        twin = load_profile(prof.source)
        for tree in (build_flame(prof, i, base=twin), exact(prof, i, base=twin)):
            assert tree["base_total"] == tree["total"]
            for path, node in walk(tree):
                assert (node["bv"], node["bs"]) == (node["v"], node["s"]), f"{prof.source} {path}"
                nodes += 1
    assert nodes > 100


def test_the_diff_shows_the_added_function_grown_and_keeps_both_sides_exact(profiles):
    base = load_profile(profiles.base / "cpu.pb.gz")
    fault = load_profile(profiles.fault / "cpu.pb.gz")
    tree = build_flame(fault, "cpu", base=base)
    nodes = dict(walk(tree))
    extra = next(p for p in nodes if p[-1:] == ("main.extra",))
    change = nodes[extra]["v"] / tree["total"] - nodes[extra]["bv"] / tree["base_total"]
    assert nodes[extra]["bv"] == 0 and change > 0.1, "main.extra runs only in the fault workload"
    outer = next(p for p in nodes if p[-1:] == ("main.outer",))
    assert nodes[outer]["v"] / tree["total"] < nodes[outer]["bv"] / tree["base_total"], "outer's share shrank"
    assert tree["base_total"] == base.total(base.index_of("cpu"))
    for path, node in nodes.items():
        kids = node.get("c", [])
        assert node["bv"] == node["bs"] + sum(c["bv"] for c in kids), f"{path}: base total = self + children"
