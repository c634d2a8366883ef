"""Flame graphs: one profile (or several merged, or two sides for a diff) as a bounded tree of frames.

    from rundir.pprof import load_profile
    from rundir.pprof.flame import build_flame
    tree = build_flame(load_profile("cpu.pb.gz"), "cpu", is_own=lambda f: f.startswith("example.com/"))
    diff = build_flame(load_profile("fault/cpu.pb.gz"), "cpu", base=load_profile("baseline/cpu.pb.gz"))

The tree (docs/flame.md has the details and the JSON format):
- root -> callers -> callees. One node per function per call path, as the flame graph of
  `go tool pprof -http` draws it: a node is a function name; inlined functions are frames of
  their own (a pprof Location lists its inlined functions innermost first).
- A node's file:line is where that function is on the stack: the sampled line for a leaf, the
  calling line for a caller. When one path reaches a function through several lines, the line
  with the largest value is kept (ties: the smaller line).
- self (s) = the value of the samples whose stack ends in the node; total (v) = the value of every
  sample through it. total = self + the children's totals; the root's total is the profile total.
- Bound: frames are admitted best first (largest |total| first) while their |total| is at least
  `min_fraction` (default 0.1%) of the root's and the tree, "other" nodes included, stays within
  `max_nodes` (default 5,000). The children of a node that are not admitted become one child
  "other (k frames)" ("m": k) whose total is the sum of theirs and whose self is its total; so
  every total in the tree is exact. `min_fraction=0, max_nodes=None` gives the exact tree.
- Diff: width is the phase's value; every node also carries the base's self and total (bs, bv;
  0 where the base has no such frame). A frame only the base has is merged into an "other" node
  (a bounded tree) or, in the exact tree, is a node of total 0. Colour = change of share
  (v/total - bv/base_total): a profile diffed against itself is zero everywhere.

Pure functions over rundir.pprof.Profile; no I/O.
"""
from __future__ import annotations

import heapq
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from itertools import chain, compress
from operator import itemgetter

from rundir.pprof.model import Profile, ProfileError, _without_gc

FORMAT_VERSION = 1
MIN_FRACTION = 0.001
MAX_NODES = 5000
READ = 8                # locations read per member at a time, at most (see _read)
BUCKET = 8              # members per bucket, on average, at least (see _read)
UNKNOWN = "(unknown)"   # a location without line information, or a sample without a stack


def frame_table(prof: Profile) -> list[tuple[tuple[str, str, int], ...]]:
    """Per location key (as in Profile.stacks) its frames root-first: (function, file, line) tuples,
    one object per distinct frame. A location without lines is one UNKNOWN frame."""
    cached = prof._cache.get("flame-frames")
    if cached is not None:
        return cached
    interned: dict[tuple[str, str, int], tuple[str, str, int]] = {}
    unknown = ((UNKNOWN, "", 0),)
    table = []
    for funcs, lines in zip(prof.loc_funcs, prof.loc_lines):
        if not funcs:
            table.append(unknown)
            continue
        frames = []
        for j, k in zip(reversed(funcs), reversed(lines)):
            fk = (prof.funcs[j][0], *prof.lines[k])
            frames.append(interned.setdefault(fk, fk))
        table.append(tuple(frames))
    prof._cache["flame-frames"] = table
    return table


def name_table(prof: Profile) -> list[tuple[str, ...]]:
    """Per location key its function names root-first (for folded stacks)."""
    return [tuple(f[0] for f in frames) for frames in frame_table(prof)]


def sample_index(prof: Profile, sample_type: str | int | None) -> int:
    """The index of a sample type given by name, by index or None (the profile's default)."""
    if isinstance(sample_type, int) and not isinstance(sample_type, bool):
        prof._check_index(sample_type)
        return sample_type
    return prof.index_of(sample_type)


def _as_list(profiles: Profile | Sequence[Profile] | None) -> list[Profile]:
    if profiles is None:
        return []
    return [profiles] if isinstance(profiles, Profile) else list(profiles)


def resolve_type(profiles: list[Profile], sample_type: str | int | None) -> tuple[str, str]:
    """(type, unit) named by sample_type in the first profile, checked against the others."""
    if not profiles:
        raise ProfileError("no profile to build a flame graph from")
    name, unit = profiles[0].sample_types[sample_index(profiles[0], sample_type)]
    for prof in profiles[1:]:
        prof.index_of(name)
    return name, unit


class _Part:
    """The samples of one profile for one sample type: its distinct stacks with a value (leaf first,
    as Profile.stacks keys them) and their values. The members of a candidate frame are indices into
    these lists, in buckets (see _split)."""

    __slots__ = ("base", "frames", "stacks", "values")

    def __init__(self, prof: Profile, name: str, base: bool):
        index = prof.index_of(name)
        self.base = base
        self.frames = frame_table(prof)
        values = list(map(itemgetter(index), prof.stacks.values()))
        keep = list(map(bool, values))
        self.stacks: list[tuple[int, ...]] = list(compress(prof.stacks, keep))
        self.values: list[int] = list(compress(values, keep))

    def everything(self) -> dict:
        return {(0, 0, (), False): [sum(self.values), list(range(len(self.stacks)))]}


def _read(part: _Part, sids: list[int], d: int) -> dict[tuple[int, ...], list]:
    """Members by their next locations root-first from the d-th ((): the stack has ended), with
    their summed value: the one pass over members, once per several levels of the tree. Up to READ
    locations are read; fewer when the members part ways sooner (then buckets of a few members
    would cost more than the members themselves): the keys are cut until the average bucket holds
    at least BUCKET members."""
    by_key: defaultdict = defaultdict(list)
    upcoming = itemgetter(slice(-1 - d, -1 - d - READ, -1))
    for sid, key in zip(sids, map(upcoming, map(part.stacks.__getitem__, sids))):
        by_key[key].append(sid)
    width = READ
    while width > 1 and len(by_key) * BUCKET > len(sids):
        width //= 2
        shorter: defaultdict = defaultdict(list)
        for key, group in by_key.items():
            shorter[key[:width]].extend(group)
        by_key = shorter
    value = part.values.__getitem__
    return {key: [sum(map(value, group)), group, len(key) < width] for key, group in by_key.items()}


def _split(part: _Part, buckets: dict) -> tuple[int, dict]:
    """One step down: (value of the members whose stack ends at this frame, {next frame: buckets}).
    A bucket (d, j, rest, tail) -> [value, members]: the members whose next frame is the j-th
    (root-first: inlined frames) of the location d-th from the root, `rest` their next locations
    from there (read together, so that levels below cost one step per bucket, not per member),
    `tail` whether their stacks end after `rest`."""
    self_, ready = 0, []
    for (d, j, rest, tail), bucket in buckets.items():
        if rest:
            ready.append((d, j, rest, tail, bucket))
        elif tail:
            self_ += bucket[0]
        else:
            for key, (value, sids, ends) in _read(part, bucket[1], d).items():
                if key:
                    ready.append((d, 0, key, ends, [value, sids]))
                else:
                    self_ += value
    groups: dict = {}
    for d, j, rest, tail, bucket in ready:
        frames = part.frames[rest[0]]
        key = (d, j + 1, rest, tail) if j + 1 < len(frames) else (d + 1, 0, rest[1:], tail)
        _merge(groups.setdefault(frames[j], {}), {key: bucket})
    return self_, groups


def _merge(into: dict, buckets: dict) -> None:
    for key, (value, sids) in buckets.items():
        if key in into:             # a member list belongs to one bucket at a time: extended in place
            into[key][0] += value
            into[key][1].extend(sids)
        else:
            into[key] = [value, sids]


class _Cand:
    """A frame not yet in the tree: its values, the lines it is reached through, its members (per
    part, in buckets). Its self values are known once it is expanded."""

    __slots__ = ("blines", "bs", "bv", "lines", "members", "name", "parent", "s", "v")

    def __init__(self, name: str, parent, nparts: int):
        self.name, self.parent = name, parent
        self.v = self.s = self.bv = self.bs = 0
        self.lines: dict = {}
        self.blines: dict = {}
        self.members: list[dict] = [{} for _ in range(nparts)]


def _expand(parts: list[_Part], cand: _Cand) -> list[_Cand]:
    """The frames under cand, as candidates (and cand's self values)."""
    by_name: dict[str, _Cand] = {}
    for p, part in enumerate(parts):
        if not cand.members[p]:
            continue
        self_, groups = _split(part, cand.members[p])
        if part.base:
            cand.bs += self_
        else:
            cand.s += self_
        for fk, buckets in groups.items():
            total = sum(b[0] for b in buckets.values())
            c = by_name.get(fk[0])
            if c is None:
                c = by_name[fk[0]] = _Cand(fk[0], cand, len(parts))
            lines = c.blines if part.base else c.lines
            lines[fk] = lines.get(fk, 0) + total
            if part.base:
                c.bv += total
            else:
                c.v += total
            _merge(c.members[p], buckets)
    cand.members = []
    return list(by_name.values())


class _Node:
    __slots__ = ("bs", "bv", "children", "file", "left", "line", "merged", "name", "pending", "s", "v")

    def __init__(self, name: str, file: str, line: int, v: int, s: int, bv: int, bs: int):
        self.name, self.file, self.line = name, file, line
        self.v, self.s, self.bv, self.bs = v, s, bv, bs
        self.children: list[_Node] = []
        self.pending = 0                  # candidates not yet admitted
        self.left: list[_Cand] = []       # candidates never admitted (-> "other")
        self.merged = 0


def _node(c: _Cand) -> _Node:
    lines = c.lines or c.blines
    if not lines:      # the root
        return _Node(c.name, "", 0, c.v, c.s, c.bv, c.bs)
    _name, file, line = max(lines.items(), key=lambda kv: (abs(kv[1]), -kv[0][2], kv[0][1]))[0]
    return _Node(c.name, file, line, c.v, c.s, c.bv, c.bs)


def _grow(parts: list[_Part], min_fraction: float, max_nodes: int | None) -> _Node:
    """The tree, frames admitted best first (the rule is in the module's docstring). Nodes with
    candidates never admitted count one "other" node each (`others`)."""
    top = _Cand("root", None, len(parts))
    for p, part in enumerate(parts):
        total = sum(part.values)
        top.bv, top.v = (top.bv + total, top.v) if part.base else (top.bv, top.v + total)
        top.members[p] = part.everything()
    kids = _expand(parts, top)
    root = _node(top)
    threshold = min_fraction * abs(root.v)
    heap: list = []
    count, others = 1, 0

    def push(node: _Node, kids: list[_Cand]) -> None:
        node.pending = len(kids)
        for k in kids:
            k.parent = node
            heapq.heappush(heap, (-abs(k.v), -abs(k.bv), len(heap) + count, k))

    others += 1 if kids else 0
    push(root, kids)
    while heap:
        cand = heap[0][3]
        if abs(cand.v) < threshold or (min_fraction > 0 and cand.v == 0):
            break
        kids = _expand(parts, cand)
        parent = cand.parent
        after = others + (1 if kids else 0) - (1 if parent.pending == 1 else 0)
        if max_nodes is not None and count + 1 + after > max_nodes:
            break
        heapq.heappop(heap)
        node = _node(cand)
        parent.children.append(node)
        parent.pending -= 1
        count, others = count + 1, after
        push(node, kids)
    for *_key, cand in heap:
        cand.parent.left.append(cand)
    return root


def _other(left: list[_Cand]) -> _Node:
    v, bv = sum(c.v for c in left), sum(c.bv for c in left)
    node = _Node(f"other ({len(left)} frames)", "", 0, v, v, bv, bv)
    node.merged = len(left)
    return node


def _to_json(root: _Node, is_own: Callable[[str], bool] | None, diff: bool) -> dict:
    """The JSON form, children sorted by total (descending), "other" nodes made (iterative: a
    tree may be deeper than Python's recursion limit)."""
    own_cache: dict[str, bool] = {}

    def one(node: _Node) -> dict:
        out: dict = {"n": node.name, "f": node.file, "l": node.line, "o": 0, "s": node.s, "v": node.v}
        if is_own is not None and node.file and not node.merged:
            own = own_cache.get(node.file)
            if own is None:
                own = own_cache[node.file] = bool(is_own(node.file))
            out["o"] = int(own)
        if diff:
            out["bs"], out["bv"] = node.bs, node.bv
        if node.merged:
            out["m"] = node.merged
        return out

    top = one(root)
    todo = [(root, top)]
    while todo:
        node, out = todo.pop()
        if node.left:
            node.children.append(_other(node.left))
            node.left = []
        if node.children:
            node.children.sort(key=lambda c: (-c.v, -c.bv, c.name))
            out["c"] = [one(c) for c in node.children]
            todo.extend(zip(node.children, out["c"]))
    return top


def build_flame(profiles: Profile | Sequence[Profile], sample_type: str | int | None = None, *,
                base: Profile | Sequence[Profile] | None = None, is_own: Callable[[str], bool] | None = None,
                min_fraction: float = MIN_FRACTION, max_nodes: int | None = MAX_NODES) -> dict:
    """The flame-graph tree (JSON-ready dict, format version 1) of one or more profiles (merged:
    e.g. every service of a phase) for a sample type (name, index or None = the first profile's
    default); with `base`, a differential tree against the base profile(s)."""
    phase, bases = _as_list(profiles), _as_list(base)
    stype, unit = resolve_type(phase, sample_type)
    if bases:
        resolve_type(bases + phase[:1], stype)
    if max_nodes is not None and max_nodes < 2:
        raise ValueError("max_nodes must be at least 2 (the root and one \"other\" frame)")
    parts = [_Part(p, stype, False) for p in phase] + [_Part(p, stype, True) for p in bases]
    root = _without_gc(_grow, parts, min_fraction, max_nodes)
    tree_root = _to_json(root, is_own, bool(bases))
    return {"version": FORMAT_VERSION, "sample_type": stype, "unit": unit,
            "sample_types": [list(t) for t in phase[0].sample_types], "total": root.v,
            "base_total": root.bv if bases else None, "root": tree_root}


def dumps(tree, separators: tuple[str, str] = (",", ":")) -> str:
    """json.dumps for a tree nested deeper than Python's recursion limit (a 5,000-deep stack once
    made `harness flame --format json` fail): the C encoder when it can, else an iterative one."""
    try:
        return json.dumps(tree, separators=separators)
    except RecursionError:
        return _dumps_iterative(tree, separators)


def _dumps_iterative(obj, separators: tuple[str, str]) -> str:
    item_sep, key_sep = separators
    out: list[str] = []
    stack: list[list] = []          # [closing bracket, iterator, is a dict, first item]

    def emit(v) -> None:
        if isinstance(v, dict):
            out.append("{")
            stack.append(["}", iter(v.items()), True, True])
        elif isinstance(v, (list, tuple)):
            out.append("[")
            stack.append(["]", iter(v), False, True])
        else:
            out.append(json.dumps(v))
    emit(obj)
    while stack:
        top = stack[-1]
        item = next(top[1], _END)
        if item is _END:
            out.append(top[0])
            stack.pop()
            continue
        if not top[3]:
            out.append(item_sep)
        top[3] = False
        if top[2]:
            out.append(json.dumps(str(item[0])) + key_sep)
            emit(item[1])
        else:
            emit(item)
    return "".join(out)


_END = object()


# -- reading trees ------------------------------------------------------------------------------

def walk(tree: dict):
    """(path of names root-first, node) for every node of a tree (JSON form), root included."""
    todo = [((), tree.get("root", tree))]
    while todo:
        path, node = todo.pop()
        yield path, node
        for c in reversed(node.get("c", ())):
            todo.append((path + (c["n"],), c))


def folded_paths(profiles: Profile | Sequence[Profile], sample_type: str | int | None = None
                 ) -> dict[tuple[str, ...], int]:
    """The exact stacks by function path root-first, values summed (stacks that sum to 0 left out;
    a sample without a stack is the one frame UNKNOWN)."""
    plist = _as_list(profiles)
    stype, _unit = resolve_type(plist, sample_type)
    out: dict[tuple[str, ...], int] = {}
    for prof in plist:
        index = prof.index_of(stype)
        names = name_table(prof).__getitem__
        for stack, vals in prof.stacks.items():
            v = vals[index]
            if v:
                key = tuple(chain.from_iterable(map(names, reversed(stack)))) if stack else (UNKNOWN,)
                out[key] = out.get(key, 0) + v
    return {k: v for k, v in out.items() if v}
