"""rundir.pprof.flame on generated profiles: against a plain reference trie, edge cases, the rules."""
from __future__ import annotations

import random

import pytest

from rundir.pprof import flame, load_profile
from rundir.pprof.flame import UNKNOWN, build_flame, walk
from rundir.pprof.proto import Profile as ProfileMessage
from tests.flame.test_flame_tree import check_bounded


def make_profile(samples, types=(("samples", "count"), ("cpu", "nanoseconds"))) -> bytes:
    """A pprof message: samples = [(stack, values)], a stack leaf first, each location a list of
    (function, line) innermost first (more than one: inlined frames); [] = a location without lines."""
    msg = ProfileMessage()
    strings = {"": 0}

    def s(text):
        if text not in strings:
            strings[text] = len(strings)
        return strings[text]

    for t, u in types:
        msg.sample_type.add(type=s(t), unit=s(u))
    funcs, locs = {}, {}
    for stack, values in samples:
        ids = []
        for loc in stack:
            key = tuple(loc)
            if key not in locs:
                locs[key] = len(locs) + 1
                lm = msg.location.add(id=locs[key])
                for name, line in loc:
                    if name not in funcs:
                        funcs[name] = len(funcs) + 1
                        msg.function.add(id=funcs[name], name=s(name), filename=s(f"pkg/{name.split('.')[0]}.go"))
                    lm.line.add(function_id=funcs[name], line=line)
            ids.append(locs[key])
        msg.sample.add(location_id=ids, value=list(values))
    msg.string_table.extend(strings)
    return msg.SerializeToString()


def reference(prof, index) -> dict:
    """The tree built the plain way: every stack expanded root first and walked into a trie."""
    root = {"n": "root", "s": 0, "v": 0, "lines": {}, "c": {}}
    table = flame.frame_table(prof)
    for stack, vals in prof.stacks.items():
        v = vals[index]
        if not v:
            continue
        node = root
        node["v"] += v
        for frame in (f for loc in reversed(stack) for f in table[loc]):
            node = node["c"].setdefault(frame[0], {"n": frame[0], "s": 0, "v": 0, "lines": {}, "c": {}})
            node["v"] += v
            node["lines"][frame[1:]] = node["lines"].get(frame[1:], 0) + v
        node["s"] += v
    return root


def same(ours: dict, ref: dict, path=()) -> None:
    assert (ours["n"], ours["s"], ours["v"]) == (ref["n"], ref["s"], ref["v"]), path
    if ref["lines"]:
        best = max(ref["lines"].items(), key=lambda kv: (abs(kv[1]), -kv[0][1], kv[0][0]))[0]
        assert (ours["f"], ours["l"]) == best, f"{path}: the line with the largest value"
    kids = {c["n"]: c for c in ours.get("c", [])}
    assert set(kids) == set(ref["c"]), path
    for name, child in ref["c"].items():
        same(kids[name], child, path + (name,))


def random_samples(rnd: random.Random, n: int):
    names = [f"p{k % 3}.F{k}" for k in range(12)]
    pool = []
    for _ in range(40):
        frames = [(rnd.choice(names), rnd.randrange(1, 6)) for _ in range(1 + (rnd.random() < 0.25))]
        pool.append(frames if rnd.random() > 0.03 else [])
    samples = []
    for _ in range(n):
        depth = rnd.randrange(0, 9) if rnd.random() > 0.02 else 0
        stack = [rnd.choice(pool[:8] if rnd.random() < 0.6 else pool) for _ in range(depth)]
        samples.append((stack, (1, rnd.choice((10, 20, 30)))))
    return samples


@pytest.mark.parametrize("read,bucket", [(8, 8), (1, 1), (2, 1), (3, 2), (16, 1)])
def test_exact_tree_equals_a_plain_trie_whatever_the_read_width(monkeypatch, read, bucket):
    monkeypatch.setattr(flame, "READ", read)
    monkeypatch.setattr(flame, "BUCKET", bucket)
    for seed in range(12):
        prof = load_profile(make_profile(random_samples(random.Random(seed), 400)))
        tree = build_flame(prof, "cpu", min_fraction=0, max_nodes=None)
        same(tree["root"], reference(prof, 1))
        assert tree["total"] == prof.total(1)


@pytest.mark.parametrize("min_fraction,max_nodes", [(0.005, 5000), (0.01, 40), (0.0, 7), (0.2, 3), (0.0, 2)])
def test_bounded_random_trees_keep_totals_exact(min_fraction, max_nodes):
    others = 0
    for seed in range(12):
        prof = load_profile(make_profile(random_samples(random.Random(seed), 400)))
        full = build_flame(prof, "cpu", min_fraction=0, max_nodes=None)
        tree = build_flame(prof, "cpu", min_fraction=min_fraction, max_nodes=max_nodes)
        others += check_bounded(tree, full, max_nodes, min_fraction)
    assert others > 0


def test_the_line_kept_is_the_one_with_the_largest_value_on_that_path():
    a3, a5 = [("main.a", 3)], [("main.a", 5)]
    leaf = [("main.leaf", 9)]
    prof = load_profile(make_profile([([leaf, a3], (1, 30)), ([leaf, a5], (1, 50)), ([a3], (1, 10))]))
    node = dict(walk(build_flame(prof, "cpu")))[("main.a",)]
    assert (node["l"], node["v"], node["s"]) == (5, 90, 10), "line 5 holds 50 of main.a's 90 here"


def test_inlined_frames_are_frames_and_a_sample_without_stack_or_lines_is_kept():
    inl = [("main.inner", 7), ("main.outer", 3)]       # inner inlined into outer
    prof = load_profile(make_profile([([inl], (1, 10)), ([], (1, 5)), ([[]], (1, 2))]))
    tree = build_flame(prof, "cpu")
    nodes = dict(walk(tree))
    assert nodes[("main.outer", "main.inner")]["l"] == 7 and nodes[("main.outer",)]["l"] == 3
    assert tree["root"]["s"] == 5 and nodes[(UNKNOWN,)]["v"] == 2 and tree["total"] == 17


def test_a_frame_only_the_base_has_is_kept_exact():
    gone, stays = [("main.gone", 1)], [("main.stays", 2)]
    now = load_profile(make_profile([([stays], (1, 100))]))
    before = load_profile(make_profile([([stays], (1, 60)), ([gone], (1, 40))]))
    full = dict(walk(build_flame(now, "cpu", base=before, min_fraction=0, max_nodes=None)))
    assert (full[("main.gone",)]["v"], full[("main.gone",)]["bv"]) == (0, 40)
    bounded = build_flame(now, "cpu", base=before)
    other = [n for _p, n in walk(bounded) if "m" in n]
    assert [(o["v"], o["bv"], o["m"]) for o in other] == [(0, 40, 1)]
    assert bounded["root"]["bv"] == 100 and bounded["base_total"] == 100


def test_several_profiles_merge_and_bad_arguments_are_refused():
    one = load_profile(make_profile([([[("main.a", 1)]], (1, 10))]))
    two = load_profile(make_profile([([[("main.a", 1)]], (1, 5)), ([[("main.b", 1)]], (1, 7))]))
    tree = build_flame([one, two], "cpu")
    assert tree["total"] == 22 and dict(walk(tree))[("main.a",)]["v"] == 15
    with pytest.raises(ValueError):
        build_flame(one, "cpu", max_nodes=1)
    other = load_profile(make_profile([([[("main.a", 1)]], (3,))], types=(("alloc_space", "bytes"),)))
    with pytest.raises(ValueError, match="cpu"):
        build_flame(one, "cpu", base=other)
