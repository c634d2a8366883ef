"""Turning the user's selection into loaded profiles (I/O, no LSP).

`load_view` reads what the selection names (a run's artifacts for one kind and
phase, or a plain pprof file), builds the Analysis and snapshots the source
text each mapped file had at load time (for staleness). Problems are returned
as messages, never raised, so the server keeps running on any input.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from lsp.analysis import Analysis, Source, build_analysis
from lsp.pathmap import GoEnv, MapperCache, PathMapper
from lsp.settings import Settings
from lsp.stale import sha256_text
from rundir.contract import PROFILE_SUFFIXES, FunctionsError, RunInfo, find_run, read_functions, read_regular
from rundir.pprof import Profile, ProfileError, ProfileTooLarge, implausible, load_profile


@dataclass
class Selection:
    run: str | None = None
    profile: str = "cpu"
    sample_type: str | None = None
    phase: str | None = None
    compare: dict | None = None
    enabled: bool = True


@dataclass
class Baseline:
    """The text a file had when the view was loaded; None when it no longer matches the run's hash."""
    lines: list[str] | None


@dataclass(frozen=True)
class Finding:
    """A finding of the run's verdict (summary.json) whose evidence names a line: what the report
    says about that line in the selected phase."""
    phase: str
    baseline: str | None
    kind: str
    message: str
    first: bool


@dataclass(frozen=True)
class FunctionLatency:
    """One probed function (function latency, uprobes) in the selected phase and the baseline:
    `stats` and `baseline_stats` are entries of rundir.contract.read_functions (None: not measured
    there); `baseline` is None when the selected phase is the baseline."""
    service: str
    function: str
    phase: str
    stats: dict | None
    baseline: str | None
    baseline_stats: dict | None


@dataclass
class View:
    analysis: Analysis | None = None
    run: RunInfo | None = None
    phase: str | None = None
    profile_label: str = ""
    baselines: dict[Path, Baseline] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    message: str = ""
    phase_sources: dict = field(default_factory=dict)
    base_sources: list = field(default_factory=list)   # the compared-with side (harness.flameGraph)
    functions: dict[tuple[Path, int], list[FunctionLatency]] = field(default_factory=dict)  # (file, 1-based line)
    findings: dict[tuple[Path, int], list[Finding]] = field(default_factory=dict)  # (file, 1-based line)


MIB = 1 << 20
MAX_SOURCE_BYTES = 16 * MIB    # a source file to snapshot; larger is no Go source


class ProfileCache:
    """Profiles by path, reloaded when the file changes; keeps the last few, and remembers the
    problem of a file that failed (until it changes or the size limit does) so that a bad file
    is not read again on every request. `max_mib` is harness.maxProfileMiB."""

    def __init__(self, keep: int = 8, max_mib: float = 256):
        self.keep = keep
        self.max_mib = max_mib
        self._items: dict[str, tuple[tuple, Profile | str]] = {}

    def get(self, path: Path) -> Profile:
        try:
            st = os.stat(path)
        except (OSError, ValueError) as exc:
            raise ProfileError(f"{path}: missing profile ({getattr(exc, 'strerror', None) or exc})") from None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino, self.max_mib)
        item = self._items.get(str(path))
        if item is None or item[0] != stamp:
            item = self._items[str(path)] = (stamp, self._load(path))
            while len(self._items) > self.keep:
                self._items.pop(next(iter(self._items)))
        if isinstance(item[1], str):
            raise ProfileError(item[1])
        return item[1]

    def _load(self, path: Path) -> Profile | str:
        """The profile, or what is wrong with it."""
        try:
            prof = load_profile(path, max_bytes=int(self.max_mib * MIB))
        except ProfileTooLarge as exc:
            return f"{exc}; not read (the setting harness.maxProfileMiB, now {self.max_mib:g}, raises the limit)"
        except ProfileError as exc:
            return str(exc)
        except (MemoryError, RecursionError) as exc:
            return f"{path}: too large or too deeply nested to load ({type(exc).__name__}); not read"
        problem = implausible(prof)
        if problem is not None:
            return f"{path}: implausible profile, not shown: {problem}"
        return prof


def is_profile_path(value: str) -> bool:
    return value.endswith(PROFILE_SUFFIXES) or "/" in value or os.sep in value


def expand(value: str, workspace: tuple[Path, ...]) -> str:
    root = str(workspace[0]) if workspace else os.getcwd()
    return value.replace("${workspaceFolder}", root)


def runs_dir(settings: Settings, workspace: tuple[Path, ...]) -> Path:
    p = Path(expand(settings.runsDir, workspace))
    if not p.is_absolute():
        p = (workspace[0] if workspace else Path.cwd()) / p
    return p


def make_mapper(settings: Settings, workspace, run: RunInfo | None, go_env: GoEnv,
                mappers: MapperCache | None = None) -> PathMapper:
    """The mapper of a run (or of a plain profile file: run None); through `mappers` when given,
    so the workspace is walked once for every load and compare that shares it."""
    rules = tuple((expand(a, workspace), expand(b, workspace)) for a, b in settings.pathMappings)
    services = tuple((s.source_root, s.module) for s in run.services) if run else ()
    skip = [runs_dir(settings, workspace)]
    if mappers is None:
        return PathMapper.build(workspace, rules, services, go_env, skip=skip)
    return mappers.mapper(workspace, rules, services, go_env, skip=skip)


def pick_run(runs: list[RunInfo], key: str | None, rdir: Path) -> tuple[RunInfo | None, str | None]:
    if key:
        run = find_run(runs, key, rdir)
        if run is None:
            return None, f"run {key!r} not found under {rdir}"
        if run.error:
            return None, f"run {run.id} is broken: {run.error}"
        return run, None
    for run in runs:
        if not run.error:
            return run, None
    return None, f"no runs under {rdir}" if not runs else f"no readable run under {rdir}"


def _run_sources(run: RunInfo, kind: str, phase: str | None, mapper: PathMapper, cache: ProfileCache,
                 problems: list[str]) -> tuple[list[Source], str | None]:
    phase = phase or run.default_phase()
    arts = [a for a in run.profiles() if a.kind == kind and (phase is None or a.phase == phase)]
    if not arts:
        kinds = sorted({a.kind for a in run.profiles() if a.phase == phase})
        problems.append(f"run {run.id} has no {kind!r} profile for phase {phase!r}"
                        + (f" (it has: {', '.join(kinds)})" if kinds else ""))
        return [], phase
    sources = []
    for art in arts:
        try:
            prof = cache.get(art.path)
        except ProfileError as exc:
            problems.append(str(exc))
            continue
        sources.append(Source(prof, mapper, name=f"{art.service} {art.kind} {art.phase}",
                              service=art.service, phase=art.phase, kind=art.kind))
    return sources, phase


def load_view(settings: Settings, sel: Selection, workspace: tuple[Path, ...], runs: list[RunInfo],
              cache: ProfileCache, go_env: GoEnv, mappers: MapperCache | None = None) -> View:
    view = View()
    rdir = runs_dir(settings, workspace)
    if is_profile_path(sel.profile):
        path = Path(expand(sel.profile, workspace))
        if not path.is_absolute():
            path = (workspace[0] if workspace else Path.cwd()) / path
        mapper = make_mapper(settings, workspace, None, go_env, mappers)
        try:
            sources = [Source(cache.get(path), mapper, name=str(path), kind="file")]
        except ProfileError as exc:
            view.problems.append(str(exc))
            return view
        view.profile_label = str(path)
    else:
        run, problem = pick_run(runs, sel.run, rdir)
        if run is None:
            view.problems.append(problem or "no run")
            return view
        view.run = run
        mapper = make_mapper(settings, workspace, run, go_env, mappers)
        view.functions = function_latency(run, sel.phase or run.default_phase(), mapper, view.problems)
        view.findings = verdict_findings(run, sel.phase or run.default_phase(), mapper)
        sources, view.phase = _run_sources(run, sel.profile, sel.phase, mapper, cache, view.problems)
        view.profile_label = sel.profile
        if not sources:
            return view
    baseline = _compare_sources(settings, sel, view, workspace, runs, cache, go_env, mappers)
    view.base_sources = baseline or []
    view.analysis = build_analysis(sources, sel.sample_type, settings.mode, baseline)
    view.problems.extend(view.analysis.notes)
    view.baselines = snapshot(view.analysis, view.run)
    return view


def baseline_phase(run: RunInfo) -> str | None:
    """The run's baseline: baseline_phase, else the first phase without faults."""
    if run.baseline_phase in run.phases:
        return run.baseline_phase
    return next((p for p in run.phases if p not in run.fault_phases), None)


def function_latency(run: RunInfo, phase: str | None, mapper: PathMapper,
                     problems: list[str]) -> dict[tuple[Path, int], list[FunctionLatency]]:
    """The probed functions of the run by (file here, first line): their latency in `phase` and
    in the baseline phase. A function whose file maps nowhere here is left out."""
    if phase is None:
        return {}
    base = baseline_phase(run)
    base = None if base == phase else base
    now = _probed(run, phase, problems)
    before = _probed(run, base, problems) if base else {}
    out: dict[tuple[Path, int], list[FunctionLatency]] = {}
    for key in list(now) + [k for k in before if k not in now]:
        entry = now.get(key) or before[key]
        path = mapper.resolve(entry["file"]) if entry.get("file") else None
        if path is not None and entry.get("line"):
            out.setdefault((path, entry["line"]), []).append(
                FunctionLatency(key[0], key[1], phase, now.get(key), base, before.get(key)))
    return out


SUMMARY_MAX_BYTES = 64 * MIB


def verdict_findings(run: RunInfo, phase: str | None, mapper: PathMapper) -> dict[tuple[Path, int], list[Finding]]:
    """The findings of the run's verdict for `phase` by the line their evidence names (file here,
    1-based line). A run without summary.json, or with one this version cannot read, has none:
    the report is optional, the profiles are what the editor shows."""
    try:
        data = read_regular(run.path / "summary.json", SUMMARY_MAX_BYTES)
        verdict = json.loads(data.decode("utf-8", errors="replace")).get("verdict") or {}
        entry = next((p for p in verdict.get("phases") or [] if isinstance(p, dict) and p.get("phase") == phase), None)
        findings = [f for f in (entry or {}).get("findings") or [] if isinstance(f, dict)]
    except (OSError, ValueError, AttributeError, TypeError):
        return {}
    out: dict[tuple[Path, int], list[Finding]] = {}
    for i, f in enumerate(findings):
        line = (f.get("evidence") or {}).get("line") if isinstance(f.get("evidence"), dict) else None
        if not isinstance(line, dict) or not isinstance(line.get("line"), int):
            continue
        where = next((p for p in (mapper.resolve(str(n)) for n in (line.get("path"), line.get("file")) if n)
                      if p is not None), None)
        if where is not None:
            out.setdefault((where, line["line"]), []).append(
                Finding(phase, entry.get("baseline"), str(f.get("kind")), str(f.get("message")), i == 0))
    return out


def _probed(run: RunInfo, phase: str, problems: list[str]) -> dict[tuple[str, str], dict]:
    """(service, function) -> its entry in the phase's function latency files."""
    out: dict[tuple[str, str], dict] = {}
    for art in run.artifacts:
        if art.kind != "functions" or art.phase != phase:
            continue
        try:
            doc = read_functions(art.path)
        except FunctionsError as exc:
            problems.append(str(exc))
            continue
        for entry in doc["functions"]:
            out.setdefault((art.service or doc["service"] or "", entry["function"]), entry)
    return out


def _compare_sources(settings, sel: Selection, view: View, workspace, runs, cache, go_env, mappers):
    spec = sel.compare
    if not spec:
        return None
    problems = view.problems
    if "baseline" in spec:
        if view.run is None:
            problems.append("compare with a phase needs a run, not a plain profile file")
            return None
        mapper = make_mapper(settings, workspace, view.run, go_env, mappers)
        sources, _ = _run_sources(view.run, sel.profile, spec["baseline"], mapper, cache, problems)
        return sources or None
    if "production" in spec or "profile" in spec:
        return _file_base(settings, sel, view, workspace, cache, go_env, mappers, spec)
    if "run" in spec:
        other, problem = pick_run(runs, spec["run"], runs_dir(settings, workspace))
        if other is None:
            problems.append(problem or "no such run")
            return None
        phase = view.phase if view.phase in other.phases else None
        mapper = make_mapper(settings, workspace, other, go_env, mappers)
        sources, _ = _run_sources(other, sel.profile, phase, mapper, cache, problems)
        return sources or None
    return None


def production_profile(run: RunInfo, kind: str) -> Path | None:
    """The production profile of a kind the run holds (production/incident/<kind>.*: the scenario's
    production.profiles, copied in by the run), confined to the run's folder."""
    folder = run.path / "production" / "incident"
    for path in sorted(folder.glob(f"{kind}.*")) if folder.is_dir() else []:
        try:
            if path.resolve().is_relative_to(run.path.resolve()) and path.is_file():
                return path
        except OSError:
            continue
    return None


def _file_base(settings, sel: Selection, view: View, workspace, cache, go_env, mappers, spec: dict):
    """A pprof file as the compared-with side: a path, or the run's production profile of the kind
    shown. Production's binary was built elsewhere: its files map like a plain profile's
    (harness.pathMappings, then the workspace's files)."""
    if "production" in spec:
        if view.run is None:
            view.problems.append("compare with production needs a run, not a plain profile file")
            return None
        path = production_profile(view.run, sel.profile)
        if path is None:
            view.problems.append(f"run {view.run.id} has no production {sel.profile!r} profile "
                                 "(the scenario's production.profiles)")
            return None
        name = f"production {sel.profile}"
    else:
        path = Path(expand(str(spec["profile"]), workspace))
        if not path.is_absolute():
            path = (workspace[0] if workspace else Path.cwd()) / path
        name = str(path)
    mapper = make_mapper(settings, workspace, None, go_env, mappers)
    try:
        return [Source(cache.get(path), mapper, name=name, kind="file")]
    except ProfileError as exc:
        view.problems.append(str(exc))
        return None


def snapshot(analysis: Analysis, run: RunInfo | None) -> dict[Path, Baseline]:
    out: dict[Path, Baseline] = {}
    for path in analysis.lines:
        try:
            data = read_regular(path, MAX_SOURCE_BYTES)
        except OSError:
            continue
        expected = _expected_hash(path, run)
        changed = expected is not None and expected != sha256_text(data)
        text = data.decode("utf-8", errors="replace")
        out[path] = Baseline(None if changed else text.splitlines())
    return out


def _expected_hash(path: Path, run: RunInfo | None) -> str | None:
    if run is None:
        return None
    for svc in run.services:
        if not svc.source_root or not svc.source_hashes:
            continue
        try:
            rel = path.relative_to(Path(svc.source_root).resolve())
        except ValueError:
            continue
        value = svc.source_hashes.get(rel.as_posix())
        if isinstance(value, str):
            return value if value.startswith("sha256:") else "sha256:" + value
    return None


def unmapped(view: View) -> list[str]:
    """Profile file names of the view that map to no file here."""
    a = view.analysis
    if a is None:
        return []
    names: set[str] = set()
    for src in a.sources:
        names |= src.mapper.unmapped
    return sorted(names)


def phase_values(view: View, cache: ProfileCache, path: Path, line: int) -> list[tuple[str, int, int]]:
    """(phase, value, total) of one line in every phase of the view's run, same kind and service."""
    analysis, run = view.analysis, view.run
    if analysis is None or run is None or len(run.phases) < 2 or analysis.diff:
        return []
    out = []
    for phase in run.phases:
        value = total = 0
        for n, filename in analysis.files.get(path, []):
            src = analysis.sources[n]
            for other in _phase_sources(view, cache, src, phase):
                idx = other.profile.index_of(analysis.sample_type) \
                    if analysis.sample_type in [t for t, _ in other.profile.sample_types] \
                    else other.profile.default_index
                total += other.profile.total(idx)
                cost = other.costs(idx).get((filename, line))
                if cost is not None:
                    value += cost.own if analysis.mode == "own" else cost.flat if analysis.mode == "flat" \
                        else cost.cum
        out.append((phase, value, total))
    return out


def _phase_sources(view: View, cache: ProfileCache, src: Source, phase: str) -> list[Source]:
    if phase == src.phase:
        return [src]
    key = (src.kind, src.service, phase)
    if key not in view.phase_sources:
        found = []
        for art in view.run.profiles():
            if art.kind == src.kind and art.service == src.service and art.phase == phase:
                try:
                    found.append(Source(cache.get(art.path), src.mapper, kind=src.kind, service=src.service,
                                        phase=phase))
                except ProfileError:
                    continue
        view.phase_sources[key] = found
    return view.phase_sources[key]
