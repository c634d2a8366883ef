"""Flame-graph files other tools read: collapsed ("folded") stacks and speedscope JSON.

    folded_text(profile, "cpu")            # "runtime.main;main.main;main.work 1230000000\\n..."
    parse_folded(text)                     # -> Profile (one sample type, samples/count): the inverse
    folded_from_tree(build_flame(...))     # an exact tree back to folded stacks
    speedscope(profile, "cpu", name="api") # speedscope's file format, one "sampled" profile per type

Folded stacks are the input of Brendan Gregg's flamegraph.pl and difffolded.pl: one line per
distinct stack, `frame;frame;frame value`, root first, the value after the last space. Frames are
function names (inlined functions are frames of their own, as in rundir.pprof.flame); a ';' in a name
becomes ':' and line breaks become spaces, so a line always parses. Exact: no merging, lines sorted,
stacks that sum to zero left out, a sample without a stack written as the frame "(unknown)".

speedscope (https://www.speedscope.app/file-format-schema.json): frames shared by every profile of
the file, one per function (name, file, the function's first line); one "sampled" profile per
sample type, samples root first with their weights; the chosen sample type is the active profile.
speedscope draws no negative weights: a stack whose value is below zero is left out of its profile.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain

from rundir.pprof.flame import UNKNOWN, _as_list, folded_paths, resolve_type, walk
from rundir.pprof.model import Profile, ProfileError

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"
SPEEDSCOPE_UNITS = {"nanoseconds": "nanoseconds", "microseconds": "microseconds",
                    "milliseconds": "milliseconds", "seconds": "seconds", "bytes": "bytes"}
# One folded line: frames separated by ';' (none empty), a space, an integer value.
FOLDED_LINE = re.compile(r"^([^;\n]+(?:;[^;\n]+)*) (-?\d+)$")
_BREAKS = re.compile(r"[\r\n]+")


def frame_text(name: str) -> str:
    """A function name as a folded frame: no ';', no line break, never empty."""
    text = _BREAKS.sub(" ", name.replace(";", ":"))
    return text if text.strip() else UNKNOWN


def _lines(paths: dict[tuple[str, ...], int]) -> str:
    merged: dict[str, int] = {}
    for path, v in paths.items():
        key = ";".join(map(frame_text, path))
        merged[key] = merged.get(key, 0) + v
    return "".join(f"{k} {v}\n" for k, v in sorted(merged.items()) if v)


def folded_text(profiles: Profile | Sequence[Profile], sample_type: str | int | None = None) -> str:
    """The exact folded stacks of one or more profiles (merged) for a sample type."""
    return _lines(folded_paths(profiles, sample_type))


def folded_from_tree(tree: dict) -> str:
    """Folded stacks of a tree: one line per node with a self value (the root's self, samples
    without a stack, as "(unknown)"). Exact for an exact tree (min_fraction=0, max_nodes=None);
    in a bounded tree an "other" node is one frame."""
    paths: dict[tuple[str, ...], int] = {}
    for path, node in walk(tree):
        if node.get("s"):
            key = path or (UNKNOWN,)
            paths[key] = paths.get(key, 0) + node["s"]
    return _lines(paths)


def parse_folded(text: str, source: str = "<folded>") -> Profile:
    """A Profile (sample type samples/count) from folded stacks; ProfileError names the first line
    that is not `frame;frame value`. Equal stacks on several lines are summed."""
    names: dict[str, int] = {}
    stacks: dict[tuple[int, ...], list[int]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = FOLDED_LINE.match(line.rstrip(" \t"))
        if m is None:
            raise ProfileError(f"{source}:{n}: not a folded stack (`frame;frame;frame value`): {line[:80]!r}")
        frames = m.group(1).split(";")
        key = tuple(names.setdefault(f, len(names)) for f in reversed(frames))
        acc = stacks.setdefault(key, [0])
        acc[0] += int(m.group(2))
    funcs = [(name, "", 0) for name in names]
    return Profile(sample_types=[("samples", "count")], default_index=0, duration_ns=0, period=1,
                   period_type=("samples", "count"), time_nanos=0, sample_count=len(stacks),
                   lines=[("", 0)], line_func=[""], funcs=funcs, loc_lines=[(0,)] * len(funcs),
                   loc_funcs=[(j,) for j in range(len(funcs))], stacks=stacks, source=source)


# -- speedscope ---------------------------------------------------------------------------------

def _speedscope_frames(plist: list[Profile]) -> tuple[list[dict], list[list[tuple[int, ...]]], int]:
    """Shared frames (one per function), per profile each location's frame indices root-first, and
    the index of the frame UNKNOWN (a location without lines, a sample without a stack)."""
    index: dict[tuple[str, str], int] = {}
    frames: list[dict] = []
    per_profile = []
    for prof in plist:
        fidx = []
        for name, filename, start in prof.funcs:
            key = (name, filename)
            if key not in index:
                index[key] = len(frames)
                frame = {"name": name}
                if filename:
                    frame["file"] = filename
                if start:
                    frame["line"] = start
                frames.append(frame)
            fidx.append(index[key])
        unknown = index.setdefault((UNKNOWN, ""), len(frames))
        if unknown == len(frames):
            frames.append({"name": UNKNOWN})
        per_profile.append([tuple(fidx[j] for j in reversed(funcs)) or (unknown,) for funcs in prof.loc_funcs])
    return frames, per_profile, index[(UNKNOWN, "")]


def speedscope(profiles: Profile | Sequence[Profile], sample_type: str | int | None = None,
               name: str = "profile") -> dict:
    """The speedscope file of one or more profiles (merged): every sample type the profiles share,
    the chosen one active."""
    plist = _as_list(profiles)
    active, _unit = resolve_type(plist, sample_type)
    types = [(t, u) for t, u in plist[0].sample_types if all(any(t == x for x, _ in p.sample_types)
                                                                for p in plist[1:])]
    frames, loc_frames, unknown = _speedscope_frames(plist)
    paths: dict[tuple[int, ...], list[int]] = {}
    for prof, table in zip(plist, loc_frames):
        idx = [prof.index_of(t) for t, _u in types]
        of = table.__getitem__
        for stack, vals in prof.stacks.items():
            key = tuple(chain.from_iterable(map(of, reversed(stack)))) if stack else (unknown,)
            acc = paths.setdefault(key, [0] * len(types))
            for k, i in enumerate(idx):
                acc[k] += vals[i]
    out = []
    for k, (t, unit) in enumerate(types):
        rows = [(path, vals[k]) for path, vals in paths.items() if vals[k] > 0]
        weights = [w for _p, w in rows]
        out.append({"type": "sampled", "name": f"{name} {t}", "unit": SPEEDSCOPE_UNITS.get(unit, "none"),
                    "startValue": 0, "endValue": sum(weights), "samples": [list(p) for p, _w in rows],
                    "weights": weights})
    return {"$schema": SPEEDSCOPE_SCHEMA, "shared": {"frames": frames}, "profiles": out, "name": name,
            "activeProfileIndex": [t for t, _u in types].index(active), "exporter": "harness flame"}
