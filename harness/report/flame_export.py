"""`harness flame`: a flame graph of a run's profile (or any pprof file) written as a file.

    harness flame runs/demo-20261122T113000Z --format svg -o cpu.svg
    harness flame demo-20261122T113000Z --phase fault --diff-base baseline --format html -o diff.html
    harness flame cpu.pb.gz --sample-type cpu --format folded -o cpu.folded

The target is a run directory, a run id under the runs folder, or a pprof file. With a run: the
phase the editor opens by default (the fault phase, else the first), every service's profile merged
unless --service, profile kind cpu; --diff-base names a phase of the run or a profile file. Formats:
folded (exact collapsed stacks), speedscope, json (rundir.pprof.flame's tree), svg, html (the report's
viewer, one page). docs/flame.md has the details.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness import outfile
from harness.errors import HarnessError
from rundir import contract, gosource
from rundir.pprof import Profile, ProfileError, load_profile
from rundir.pprof.flame import MAX_NODES, MIN_FRACTION, build_flame, dumps, resolve_type
from rundir.pprof.flame_formats import folded_text, speedscope
from rundir.pprof.model import ProfileTooLarge

FORMATS = ("folded", "speedscope", "json", "svg", "html")
SUFFIXES = {"folded": ".folded", "speedscope": ".speedscope.json", "json": ".json", "svg": ".svg", "html": ".html"}


@dataclass
class Selection:
    """What to draw: the profiles (merged), the diff base's, own code, and a label."""
    profiles: list[Profile]
    label: str
    is_own: object = None
    base: list[Profile] = field(default_factory=list)
    base_label: str | None = None


def max_profile_bytes() -> int:
    """The largest profile (file or decompressed) read: HARNESS_MAX_PROFILE_MIB, default 256, as the
    language server's harness.maxProfileMiB (a 6.9 MB gzip once inflated to 1.5 GB)."""
    try:
        mib = float(os.environ.get("HARNESS_MAX_PROFILE_MIB") or 256)
    except ValueError:
        mib = 256.0
    return int(max(1.0, mib) * (1 << 20))


def _load(path: Path) -> Profile:
    try:
        return load_profile(path, max_bytes=max_profile_bytes())
    except ProfileTooLarge as e:
        raise HarnessError(f"the profile is too large: {e}", where=str(path),
                           hint="HARNESS_MAX_PROFILE_MIB raises the limit (MiB, default 256)") from None
    except ProfileError as e:
        raise HarnessError(f"cannot read the profile: {e}", where=str(path),
                           hint="the file must be a pprof profile (.pb.gz or uncompressed)") from None


def _find_run(target: str, runs_dir: Path) -> contract.RunInfo | None:
    path = Path(target)
    if (path / contract.MANIFEST).is_file():
        return contract.read_run(path)
    return contract.find_run(contract.scan_runs(runs_dir), target, runs_dir)


def _phase(run: contract.RunInfo, phase: str | None) -> str:
    chosen = phase or run.default_phase()
    if chosen is None or chosen not in run.phases:
        raise HarnessError(f"no phase {chosen!r} in run {run.id}", where=str(run.path),
                           seen=f"phases: {', '.join(run.phases) or 'none'}",
                           hint="pass one of them with --phase")
    return chosen


def _artifacts(run: contract.RunInfo, phase: str, kind: str, service: str | None) -> list[contract.Artifact]:
    here = [a for a in run.profiles() if a.phase == phase]
    kinds = sorted({a.kind for a in here})
    if kind not in kinds:
        raise HarnessError(f"no {kind} profile in phase {phase} of run {run.id}", where=str(run.path),
                           seen=f"profile kinds in {phase}: {', '.join(kinds) or 'none'}",
                           hint="pass one of them with --profile, or another --phase")
    arts = [a for a in here if a.kind == kind]
    if service is not None:
        services = sorted({a.service for a in arts})
        arts = [a for a in arts if a.service == service]
        if not arts:
            raise HarnessError(f"no {kind} profile of service {service!r} in phase {phase}", where=str(run.path),
                               seen=f"services with one: {', '.join(services)}", hint="pass one of them with --service")
    return sorted(arts, key=lambda a: a.service)


def _own(run: contract.RunInfo, services: set[str]):
    matchers = [gosource.own_matcher(s.source_root, s.module) for s in run.services if s.name in services]
    return gosource.any_own(matchers) if matchers else gosource.own_matcher(None, None)


def select(target: str, *, runs_dir: Path, phase: str | None = None, service: str | None = None,
           kind: str = "cpu", diff_base: str | None = None) -> Selection:
    """The profiles a `harness flame` command line names (HarnessError with a hint otherwise)."""
    path = Path(target)
    if path.is_file():
        if phase or service:
            raise HarnessError("--phase and --service choose within a run; the target is a profile file",
                               where=target, hint="leave them out, or pass a run directory or run id")
        # own code of a lone file: the module of a go.mod in the current folder, else rundir.gosource's guess
        sel = Selection([_load(path)], path.name, gosource.own_matcher(None, gosource.go_module(Path.cwd())))
        return _with_base(sel, None, diff_base, kind, service)
    run = _find_run(target, runs_dir)
    if run is None:
        raise HarnessError("not a run directory, a run id or a profile file", where=target,
                           hint=f"`harness runs --runs-dir {runs_dir}` lists the runs")
    if run.error:
        raise HarnessError(f"the run cannot be read: {run.error}", where=str(run.path))
    chosen = _phase(run, phase)
    arts = _artifacts(run, chosen, kind, service)
    label = f"{run.id} {chosen} {kind}" + (f" {service}" if service else "")
    sel = Selection([_load(a.path) for a in arts], label, _own(run, {a.service for a in arts}))
    return _with_base(sel, run, diff_base, kind, service)


def _with_base(sel: Selection, run: contract.RunInfo | None, diff_base: str | None, kind: str,
               service: str | None) -> Selection:
    if not diff_base:
        return sel
    if run is not None and diff_base in run.phases:
        sel.base = [_load(a.path) for a in _artifacts(run, diff_base, kind, service)]
        sel.base_label = diff_base
    elif Path(diff_base).is_file():
        sel.base, sel.base_label = [_load(Path(diff_base))], Path(diff_base).name
    else:
        phases = f"; phases of the run: {', '.join(run.phases)}" if run is not None else ""
        raise HarnessError("--diff-base is neither a phase of the run nor a profile file", where=diff_base,
                           seen=f"no such phase or file{phases}", hint="pass a phase name or a pprof file")
    return sel


def _sample_type(sel: Selection, sample_type: str | None) -> str:
    try:
        name, _unit = resolve_type(sel.profiles, sample_type)
        if sel.base:
            resolve_type(sel.base, name)
    except ProfileError as e:
        raise HarnessError(f"sample type: {e}", where=sel.label,
                           hint="pass one of the profile's sample types with --sample-type") from None
    return name


def render(sel: Selection, fmt: str, sample_type: str | None = None, *, min_fraction: float = MIN_FRACTION,
           max_nodes: int | None = MAX_NODES) -> str:
    """The file's text in one of FORMATS."""
    stype = _sample_type(sel, sample_type)
    if fmt in ("folded", "speedscope") and sel.base:
        raise HarnessError(f"--diff-base makes a differential graph; {fmt} holds one profile",
                           hint="use --format svg, html or json for a diff (difffolded.pl diffs two folded files)")
    if fmt == "folded":
        return folded_text(sel.profiles, stype)
    if fmt == "speedscope":
        return json.dumps(speedscope(sel.profiles, stype, name=sel.label), separators=(",", ":"))
    tree = build_flame(sel.profiles, stype, base=sel.base or None, is_own=sel.is_own,
                       min_fraction=min_fraction, max_nodes=max_nodes)
    title = f"{sel.label} {stype}" + (f" against {sel.base_label}" if sel.base_label else "")
    if fmt == "json":
        return dumps(tree)
    if fmt == "svg":
        from harness.report.flame_svg import render_svg
        return render_svg(tree, title)
    if fmt == "html":
        from harness.report.flame_view import standalone_page
        return standalone_page(tree, title)
    raise HarnessError(f"unknown format {fmt!r}", hint=f"one of {', '.join(FORMATS)}")


def write(text: str, out: str) -> str:
    """Write text to `out` ("-" = standard output; a device, pipe or symlink written through, a
    regular file replaced whole: harness.outfile); returns where it went."""
    if out == "-":
        print(text, end="")
        return "standard output"
    return outfile.write(out, text, what="the flame graph")
