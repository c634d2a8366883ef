"""Per-line and per-function costs, with the same rules as `go tool pprof`.

flat: the value of a sample goes to its innermost frame (first Line of the
first Location). cum: the value goes once to every distinct line (function)
present in the stack, so recursion counts once per sample. Inlined frames are
frames of their own. own: the value goes to the innermost frame whose file
``is_own`` accepts.
"""
from __future__ import annotations

import gc
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain, pairwise

from rundir.pprof.model import Profile


@dataclass(frozen=True)
class LineCost:
    filename: str
    line: int
    function: str
    flat: int
    cum: int
    own: int


@dataclass(frozen=True)
class FuncCost:
    name: str
    filename: str
    start_line: int
    flat: int
    cum: int


def _by_value(prof: Profile, index: int) -> dict[int, list[tuple[int, ...]]]:
    """Stacks grouped by their value: each group is then counted with C-level Counter updates."""
    key = ("buckets", index)
    cached = prof._cache.get(key)
    if cached is None:
        cached = defaultdict(list)
        for stack, vals in prof.stacks.items():
            v = vals[index]
            if v and stack:
                cached[v].append(stack)
        prof._cache[key] = cached
    return cached


def _accumulate(groups: dict[int, list], keys_of, size: int) -> list[int]:
    """sum over stacks of value * (number of times keys_of(stack) yields each key)."""
    enabled = gc.isenabled()
    gc.disable()   # only short-lived sets are built here; collections would only rescan the profile
    try:
        return _accumulate_groups(groups, keys_of, size)
    finally:
        if enabled:
            gc.enable()


def _accumulate_groups(groups: dict[int, list], keys_of, size: int) -> list[int]:
    out = [0] * size
    for v, stacks in groups.items():
        counts = Counter(chain.from_iterable(map(keys_of, stacks)))
        for k, c in counts.items():
            if k >= 0:
                out[k] += v * c
    return out


def _tables(prof: Profile, index: int, loc_frames: list[tuple[int, ...]], size: int
            ) -> tuple[list[int], list[int]]:
    """flat and cum per frame key, the way pprof counts them."""
    groups = _by_value(prof, index)
    frames = loc_frames.__getitem__

    def leaf(stack):
        first = loc_frames[stack[0]]
        # A location without line information: pprof charges flat to it, not to a line.
        return (first[0],) if first else (-1,)

    def distinct(stack):
        return set(chain.from_iterable(map(frames, stack)))

    return _accumulate(groups, leaf, size), _accumulate(groups, distinct, size)


def _line_tables(prof: Profile, index: int) -> tuple[list[int], list[int]]:
    """flat and cum per interned line, computed once per sample index."""
    key = ("lines", index)
    cached = prof._cache.get(key)
    if cached is None:
        prof._check_index(index)
        cached = prof._cache[key] = _tables(prof, index, prof.loc_lines, len(prof.lines))
    return cached


def _own_table(prof: Profile, index: int, is_own: Callable[[str], bool]) -> list[int]:
    own_files = {f for f in {f for f, _l in prof.lines} if is_own(f)}
    line_is_own = [f in own_files for f, _l in prof.lines]
    loc_own = [next((k for k in frames if line_is_own[k]), -1) for frames in prof.loc_lines]
    own_of = loc_own.__getitem__
    not_missing = (-1).__ne__

    def deepest_own(stack):
        return (next(filter(not_missing, map(own_of, stack)), -1),)

    return _accumulate(_by_value(prof, index), deepest_own, len(prof.lines))


def own_costs(prof: Profile, index: int, is_own: Callable[[str], bool]) -> dict[tuple[str, int], LineCost]:
    """Only the own column (flat and cum left at 0): one cheap pass, for a first display."""
    own = _own_table(prof, index, is_own)
    return {prof.lines[k]: LineCost(*prof.lines[k], prof.line_func[k], 0, 0, v)
            for k, v in enumerate(own) if v}


def line_costs(prof: Profile, index: int, is_own: Callable[[str], bool] | None = None
               ) -> dict[tuple[str, int], LineCost]:
    """Costs per (filename, line) for sample type ``index``; lines with no cost are left out."""
    flat, cum = _line_tables(prof, index)
    own = _own_table(prof, index, is_own) if is_own is not None else None
    out: dict[tuple[str, int], LineCost] = {}
    for k, (filename, line) in enumerate(prof.lines):
        o = own[k] if own is not None else 0
        if flat[k] or cum[k] or o:
            out[(filename, line)] = LineCost(filename, line, prof.line_func[k], flat[k], cum[k], o)
    return out


def _func_tables(prof: Profile, index: int):
    key = ("funcs", index)
    cached = prof._cache.get(key)
    if cached is not None:
        return cached
    prof._check_index(index)
    # Functions are keyed by name, as `go tool pprof -top` does.
    names: dict[str, int] = {}
    func_to_name = [names.setdefault(name, len(names)) for name, _f, _s in prof.funcs]
    loc_names = [tuple(func_to_name[j] for j in frames) for frames in prof.loc_funcs]
    flat, cum = _tables(prof, index, loc_names, len(names))
    prof._cache[key] = (flat, cum, func_to_name)
    return flat, cum, func_to_name


def function_costs(prof: Profile, index: int) -> dict[str, FuncCost]:
    """Costs per function name for sample type ``index``; functions with no cost are left out."""
    flat, cum, func_to_name = _func_tables(prof, index)
    out: dict[str, FuncCost] = {}
    for j, (name, filename, start) in enumerate(prof.funcs):
        k = func_to_name[j]
        if name not in out and (flat[k] or cum[k]):
            out[name] = FuncCost(name, filename, start, flat[k], cum[k])
    return out


@dataclass(frozen=True)
class Neighbours:
    """Callees reached from each line and callers of each function (cum, once per stack)."""

    callees: dict[tuple[str, int], dict[str, int]]
    callers: dict[str, dict[str, int]]


def neighbours_ready(prof: Profile, index: int) -> bool:
    """Whether neighbours() for this index is already computed (it is slow on huge profiles)."""
    return ("edges", index) in prof._cache


def neighbours(prof: Profile, index: int) -> Neighbours:
    """Edges for hover: line -> callee function, function -> caller function (once per stack)."""
    key = ("edges", index)
    cached = prof._cache.get(key)
    if cached is not None:
        return cached
    prof._check_index(index)
    lines_of, funcs_of = prof.loc_lines.__getitem__, prof.loc_funcs.__getitem__

    def edges(stack):
        ls = list(chain.from_iterable(map(lines_of, stack)))
        fs = list(chain.from_iterable(map(funcs_of, stack)))
        it = iter(ls)
        next(it, None)
        # (caller line, callee function) and (callee function, caller function), each once per stack
        return set(zip(it, fs)), set(pairwise(fs))

    line_edges: Counter = Counter()
    func_edges: Counter = Counter()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for v, stacks in _by_value(prof, index).items():
            le: Counter = Counter()
            fe: Counter = Counter()
            for a, b in map(edges, stacks):
                le.update(a)
                fe.update(b)
            for e, c in le.items():
                line_edges[e] += v * c
            for e, c in fe.items():
                func_edges[e] += v * c
    finally:
        if enabled:
            gc.enable()
    callees: dict[tuple[str, int], dict[str, int]] = {}
    for (line, fn), v in line_edges.items():
        d = callees.setdefault(prof.lines[line], {})
        name = prof.funcs[fn][0]
        d[name] = d.get(name, 0) + v
    callers: dict[str, dict[str, int]] = {}
    for (callee, caller), v in func_edges.items():
        d = callers.setdefault(prof.funcs[callee][0], {})
        name = prof.funcs[caller][0]
        d[name] = d.get(name, 0) + v
    result = Neighbours(callees, callers)
    prof._cache[key] = result
    return result
