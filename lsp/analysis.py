"""From loaded profiles to per-file, per-line costs ready to display (pure).

A Source is one profile plus the path mapper of its context (a run's service
or a plain file). An Analysis holds, for one sample type and one mode, the
costs of every mapped line keyed by workspace path and 1-based line number,
optionally as a difference against a baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lsp.pathmap import PathMapper
from rundir.pprof import (
    Profile,
    ProfileError,
    function_costs,
    line_costs,
    neighbours,
    neighbours_ready,
    own_costs,
)

# Call edges of profiles with more distinct stacks than this are computed in the background.
SYNC_EDGES_LIMIT = 50_000
from lsp.render import label


@dataclass
class Source:
    profile: Profile
    mapper: PathMapper
    name: str = ""
    service: str = ""
    phase: str = ""
    kind: str = ""
    cache: dict = field(default_factory=dict, repr=False)

    def quick_costs(self, index: int, mode: str) -> dict:
        """What the mode needs, as cheaply as possible: in own mode on a large profile, the own
        column alone (flat and cum 0 until `costs` has run, e.g. in the background)."""
        if index in self.cache or mode != "own" or len(self.profile.stacks) <= SYNC_EDGES_LIMIT:
            return self.costs(index)
        return own_costs(self.profile, index, self.mapper.is_own)

    def costs(self, index: int) -> dict:
        """line_costs with own-code attribution, computed once per sample index."""
        got = self.cache.get(index)
        if got is None:
            got = self.cache[index] = line_costs(self.profile, index, self.mapper.is_own)
        return got


@dataclass(frozen=True)
class LineEntry:
    line: int             # 1-based, as in the profile
    function: str
    value: float          # the mode's value (or its growth in diff mode)
    share: float          # value / total (or share growth in diff mode)
    flat: int
    cum: int
    own: int
    label: str
    filename: str         # the name in the profile
    diff: bool = False

    @property
    def weight(self) -> float:
        """What ranks and colours a line: |value|, or |share change| when comparing (the two
        profiles may cover different durations, so shares compare better than raw values)."""
        return abs(self.share) if self.diff else abs(self.value)


@dataclass
class Analysis:
    sample_type: str
    unit: str
    mode: str
    total: int
    diff: bool
    lines: dict[Path, dict[int, LineEntry]] = field(default_factory=dict)
    files: dict[Path, list[tuple[int, str]]] = field(default_factory=dict)   # path -> [(source#, filename)]
    sources: list[Source] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    max_abs: float = 0.0
    notes: list[str] = field(default_factory=list)


def pick_index(profile: Profile, sample_type: str | None) -> tuple[int, str | None]:
    """Index of the wanted sample type; falls back to the default with a note when it is missing."""
    try:
        return profile.index_of(sample_type), None
    except ProfileError as exc:
        return profile.default_index, f"{exc}; showing {profile.sample_types[profile.default_index][0]}"


def _mode_value(cost, mode: str) -> int:
    return cost.own if mode == "own" else cost.flat if mode == "flat" else cost.cum


def _raw(sources: list[Source], sample_type: str | None, mode: str):
    """(values per (path, line), detail per (path, line), total, unit, indices, files, notes)."""
    values: dict[tuple[Path, int], int] = {}
    detail: dict[tuple[Path, int], tuple] = {}
    files: dict[Path, list[tuple[int, str]]] = {}
    total, unit, name, indices, notes = 0, "", sample_type or "", [], []
    for n, src in enumerate(sources):
        idx, note = pick_index(src.profile, sample_type)
        if note:
            notes.append(note)
        indices.append(idx)
        name, unit = src.profile.sample_types[idx]
        total += src.profile.total(idx)
        for (filename, line), cost in src.quick_costs(idx, mode).items():
            path = src.mapper.resolve(filename)
            if path is None:
                continue
            files.setdefault(path, [])
            if (n, filename) not in files[path]:
                files[path].append((n, filename))
            key = (path, line)
            values[key] = values.get(key, 0) + _mode_value(cost, mode)
            old = detail.get(key)
            detail[key] = (cost.function, cost.flat + (old[1] if old else 0), cost.cum + (old[2] if old else 0),
                           cost.own + (old[3] if old else 0), filename)
    return values, detail, total, unit, name, indices, files, notes


def build_analysis(sources: list[Source], sample_type: str | None, mode: str,
                   baseline: list[Source] | None = None) -> Analysis:
    values, detail, total, unit, name, indices, files, notes = _raw(sources, sample_type, mode)
    diff = baseline is not None
    base_values, base_total = {}, 0
    if diff:
        base_values, _d, base_total, _u, _n, _i, _f, base_notes = _raw(baseline, name, mode)
        notes.extend(base_notes)
    if sources and not total:
        notes.append(f"{', '.join(s.name or s.kind for s in sources)}: no {name or 'samples'} recorded in this "
                     "profile (the service was idle while it was taken); pick another phase or run, or raise "
                     "the load")
    analysis = Analysis(name, unit, mode, total, diff, files=files, sources=sources, indices=indices,
                        notes=notes)
    keys = set(values) | set(base_values) if diff else set(values)
    for key in keys:
        path, line = key
        cur = values.get(key, 0)
        share = cur / total if total else 0.0
        if diff:
            base = base_values.get(key, 0)
            value = cur - base
            share = share - (base / base_total if base_total else 0.0)
        else:
            value = cur
        if not value and not diff:
            continue
        func, flat, cum, own, filename = detail.get(key, ("", 0, 0, 0, ""))
        entry = LineEntry(line, func, value, share, flat, cum, own, label(value, share, unit, diff), filename,
                          diff)
        analysis.lines.setdefault(path, {})[line] = entry
        analysis.max_abs = max(analysis.max_abs, entry.weight)
    return analysis


@dataclass(frozen=True)
class FuncLens:
    line: int           # 1-based start line
    name: str
    title: str
    share: float


def function_lenses(analysis: Analysis, path: Path, threshold: float) -> list[FuncLens]:
    """Hot functions of one file, with their cum per sample type of the profile."""
    out: dict[int, FuncLens] = {}
    for n, _filename in analysis.files.get(path, []):
        src = analysis.sources[n]
        prof = src.profile
        idx = analysis.indices[n]
        total = prof.total(idx)
        main = function_costs(prof, idx)
        for fc in main.values():
            if src.mapper.resolve(fc.filename) != path or not total or fc.start_line <= 0:
                continue
            share = fc.cum / total
            if share < threshold:
                continue
            parts = []
            for i, (t, unit) in enumerate(prof.sample_types):
                other = function_costs(prof, i).get(fc.name)
                tot = prof.total(i)
                if other is not None and tot:
                    parts.append(f"{t} {label(other.cum, other.cum / tot, unit)}")
            out[fc.start_line] = FuncLens(fc.start_line, fc.name, " · ".join(parts), share)
    return sorted(out.values(), key=lambda f: f.line)


def edges_available(prof: Profile, index: int) -> bool:
    return neighbours_ready(prof, index) or len(prof.stacks) <= SYNC_EDGES_LIMIT


def warm_edges(analysis: Analysis) -> None:
    """Compute what the hover shows on large profiles (run in a worker thread after loading):
    line costs of the other sample types, then the call edges."""
    for src in analysis.sources:
        for i in range(len(src.profile.sample_types)):
            src.costs(i)
    for src, idx in zip(analysis.sources, analysis.indices):
        neighbours(src.profile, idx)


@dataclass(frozen=True)
class LineDetail:
    per_type: list[tuple[str, str, int, int, int, int]]  # (type, unit, flat, cum, total, own)
    callees: list[tuple[str, int]]
    callers: list[tuple[str, int]]
    function: str
    unit: str
    edges_ready: bool = True


def line_detail(analysis: Analysis, path: Path, line: int, top: int = 5) -> LineDetail | None:
    """Everything the hover shows for one profile line (1-based) of a file."""
    per_type: list = []
    callees: dict[str, int] = {}
    callers: dict[str, int] = {}
    function = ""
    for n, filename in analysis.files.get(path, []):
        src = analysis.sources[n]
        prof = src.profile
        for i, (t, unit) in enumerate(prof.sample_types):
            if i not in src.cache and len(prof.stacks) > SYNC_EDGES_LIMIT:
                # being computed in the background (warm_edges); meanwhile what the view has
                entry = analysis.lines.get(path, {}).get(line)
                if i == analysis.indices[n] and entry is not None and not analysis.diff:
                    per_type.append((t, unit, entry.flat, entry.cum, prof.total(i), entry.own))
                    function = function or entry.function
                continue
            cost = src.costs(i).get((filename, line))
            if cost is not None:
                per_type.append((t, unit, cost.flat, cost.cum, prof.total(i), cost.own))
                function = function or cost.function
        if function and edges_available(src.profile, analysis.indices[n]):
            nb = neighbours(prof, analysis.indices[n])
            for fn, v in nb.callees.get((filename, line), {}).items():
                callees[fn] = callees.get(fn, 0) + v
            for fn, v in nb.callers.get(function, {}).items():
                callers[fn] = callers.get(fn, 0) + v
    if not per_type:
        return None

    def best(d):
        return sorted(d.items(), key=lambda kv: -kv[1])[:top]

    ready = all(edges_available(s.profile, i) for s, i in zip(analysis.sources, analysis.indices))
    return LineDetail(per_type, best(callees), best(callers), function, analysis.unit, ready)
