"""Per-line and per-function costs, with the same rules as `go tool pprof`.

flat: the value of a sample goes to its innermost frame (first Line of the
first Location). cum: the value goes once to every distinct line (function)
present in the stack, so recursion counts once per sample. Inlined frames are
frames of their own. own: the value goes to the innermost frame whose file
``is_own`` accepts.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain

from lsp.pprof.model import Profile


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


def _line_tables(prof: Profile, index: int) -> tuple[list[int], list[int]]:
    """flat and cum per interned line, computed once per sample index."""
    key = ("lines", index)
    cached = prof._cache.get(key)
    if cached is not None:
        return cached
    prof._check_index(index)
    n = len(prof.lines)
    flat, cum = [0] * n, [0] * n
    loc_lines = prof.loc_lines.__getitem__
    for stack, vals in prof.stacks.items():
        v = vals[index]
        if not v or not stack:
            continue
        leaf = _first_frame(prof.loc_lines, stack)
        if leaf >= 0:
            flat[leaf] += v
        for k in set(chain.from_iterable(map(loc_lines, stack))):
            cum[k] += v
    prof._cache[key] = (flat, cum)
    return flat, cum


def _first_frame(table: list[tuple[int, ...]], stack: tuple[int, ...]) -> int:
    for loc in stack:
        frames = table[loc]
        if frames:
            return frames[0]
        # A location without line information: pprof charges flat to it, not to a line.
        return -1
    return -1


def _own_table(prof: Profile, index: int, is_own: Callable[[str], bool]) -> list[int]:
    files = {f for f, _l in prof.lines}
    own_files = {f for f in files if is_own(f)}
    line_is_own = [f in own_files for f, _l in prof.lines]
    loc_own = []
    for frames in prof.loc_lines:
        first = -1
        for k in frames:
            if line_is_own[k]:
                first = k
                break
        loc_own.append(first)
    own = [0] * len(prof.lines)
    for stack, vals in prof.stacks.items():
        v = vals[index]
        if not v:
            continue
        for loc in stack:
            k = loc_own[loc]
            if k >= 0:
                own[k] += v
                break
    return own


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


def _func_tables(prof: Profile, index: int) -> tuple[list[int], list[int]]:
    key = ("funcs", index)
    cached = prof._cache.get(key)
    if cached is not None:
        return cached
    prof._check_index(index)
    # Functions are keyed by name, as `go tool pprof -top` does.
    names: dict[str, int] = {}
    func_to_name = [names.setdefault(name, len(names)) for name, _f, _s in prof.funcs]
    loc_names = [tuple(func_to_name[j] for j in frames) for frames in prof.loc_funcs]
    n = len(names)
    flat, cum = [0] * n, [0] * n
    get = loc_names.__getitem__
    for stack, vals in prof.stacks.items():
        v = vals[index]
        if not v or not stack:
            continue
        leaf = _first_frame(loc_names, stack)
        if leaf >= 0:
            flat[leaf] += v
        for k in set(chain.from_iterable(map(get, stack))):
            cum[k] += v
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


def neighbours(prof: Profile, index: int) -> Neighbours:
    """Edges for hover: line -> callee function, function -> caller function."""
    key = ("edges", index)
    cached = prof._cache.get(key)
    if cached is not None:
        return cached
    prof._check_index(index)
    frames_of = [list(zip(ls, fs)) for ls, fs in zip(prof.loc_lines, prof.loc_funcs)]
    line_edges: dict[tuple[int, int], int] = {}
    func_edges: dict[tuple[int, int], int] = {}
    for stack, vals in prof.stacks.items():
        v = vals[index]
        if not v:
            continue
        seq = list(chain.from_iterable(frames_of[loc] for loc in stack))
        le, fe = set(), set()
        for p in range(1, len(seq)):
            callee_func = seq[p - 1][1]
            line, caller_func = seq[p]
            le.add((line, callee_func))
            fe.add((callee_func, caller_func))
        for e in le:
            line_edges[e] = line_edges.get(e, 0) + v
        for e in fe:
            func_edges[e] = func_edges.get(e, 0) + v
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
