"""`harness.*` commands (workspace/executeCommand); each returns JSON.

Every command is a module-level coroutine `command(ls, args)`: `ls` is the server (anything
shaped like `Host`), `args` the command's named arguments (the first argument when it is an
object, else None; see `named`). `COMMANDS` maps each command name to its function; lsp.server
registers the table. A command whose arguments are wrong returns {"error": "..."} and tells the
user once; the server state is left as it was.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from lsp import flamegraph
from lsp.placement import Placed
from lsp.session import Selection, View, is_profile_path, runs_dir, unmapped
from lsp.settings import Settings
from rundir.contract import RunInfo, find_run


class Host(Protocol):
    """What the commands use of the server."""
    settings: Settings
    sel: Selection
    roots: tuple[Path, ...]
    runs: list[RunInfo]
    view: View

    async def wait_ready(self) -> None: ...
    async def reload(self, rescan: bool = True, rewalk: bool = False) -> None: ...
    def tell(self, message: str) -> None: ...
    def status(self) -> dict: ...
    def refresh(self) -> None: ...
    def ranked(self, limit: int | None, threshold: float = 0.0) -> list[tuple[str, Placed, Any]]: ...


def named(arguments) -> dict | None:
    """The named arguments of a command: its first argument when that is an object (docs/DESIGN.md)."""
    return arguments[0] if arguments and isinstance(arguments[0], dict) else None


def _arg(args: dict | None, key: str, default: Any = None) -> Any:
    return args.get(key, default) if args is not None else default


def _error(ls: Host, message: str) -> dict:
    ls.tell(message)
    return {"error": message}


async def list_runs(ls: Host, args: dict | None) -> list[dict]:
    await ls.wait_ready()
    return [r.to_json() for r in ls.runs]


async def list_profiles(ls: Host, args: dict | None) -> list[dict]:
    await ls.wait_ready()
    run = ls.view.run
    if run is None:
        return []
    return [{"kind": a.kind, "phase": a.phase, "service": a.service, "path": str(a.path),
             "sampleTypes": list(a.sample_types)} for a in run.profiles()]


async def status(ls: Host, args: dict | None) -> dict:
    await ls.wait_ready()
    return ls.status()


async def unmapped_files(ls: Host, args: dict | None) -> list[str]:
    await ls.wait_ready()
    return unmapped(ls.view)


async def hot_lines(ls: Host, args: dict | None) -> list[dict] | dict:
    await ls.wait_ready()
    limit = _arg(args, "limit", 50)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        return _error(ls, f"harness.hotLines: limit must be a positive integer, got {limit!r}")
    return [{"uri": uri, "line": p.line, "function": p.entry.function, "value": p.entry.value,
             "share": p.entry.share, "label": p.entry.label, "stale": p.stale}
            for uri, p, _lines in ls.ranked(limit)]


async def flame_graph(ls: Host, args: dict | None) -> dict:
    """The flame graphs of the current selection (run, phase, profile, sample type; the diff when
    comparing), files mapped to this machine: lsp.flamegraph.view_graphs."""
    await ls.wait_ready()
    max_nodes = _arg(args, "maxNodes", flamegraph.DEFAULT_MAX_NODES)
    low, high = flamegraph.LIMITS
    if not isinstance(max_nodes, int) or isinstance(max_nodes, bool) or not low <= max_nodes <= high:
        return _error(ls, f"harness.flameGraph: maxNodes must be an integer from {low} to {high}, got {max_nodes!r}")
    return await asyncio.to_thread(flamegraph.view_graphs, ls.view, ls.sel.compare, max_nodes)


async def select_run(ls: Host, args: dict | None) -> dict:
    key = _arg(args, "run")
    if key is not None and not isinstance(key, str):
        return _error(ls, f"harness.selectRun: run must be a run id, a path or null, got {key!r}")
    if key and find_run(ls.runs, key, runs_dir(ls.settings, ls.roots)) is None:
        valid = ", ".join(r.id for r in ls.runs) or "none"
        return _error(ls, f"harness.selectRun: no run {key!r} (runs: {valid})")
    ls.sel.run, ls.sel.phase = key or None, None
    await ls.reload()
    return ls.status()


async def select_profile(ls: Host, args: dict | None) -> dict:
    profile, sample_type = _arg(args, "profile"), _arg(args, "sampleType")
    if profile is not None and (not isinstance(profile, str) or not profile):
        return _error(ls, f"harness.selectProfile: profile must be a kind or a path, got {profile!r}")
    if sample_type is not None and not isinstance(sample_type, str):
        return _error(ls, f"harness.selectProfile: sampleType must be a string, got {sample_type!r}")
    if profile is not None:
        ls.sel.profile = profile
    ls.sel.sample_type = sample_type or None
    await ls.reload(rescan=False)
    return ls.status()


async def open_profile(ls: Host, args: dict | None) -> dict:
    path = _arg(args, "path")
    if not isinstance(path, str) or not path:
        return _error(ls, f"harness.openProfile: path must be a file path, got {path!r}")
    ls.sel.profile = path if is_profile_path(path) else "./" + path
    ls.sel.sample_type = None
    await ls.reload(rescan=False)
    return ls.status()


async def select_phase(ls: Host, args: dict | None) -> dict:
    phase = _arg(args, "phase")
    run = ls.view.run
    if run is None:
        return _error(ls, "harness.selectPhase: no run is selected")
    if phase is not None and phase not in run.phases:
        return _error(ls, f"harness.selectPhase: run {run.id} has no phase {phase!r} "
                          f"(phases: {', '.join(run.phases)})")
    ls.sel.phase = phase
    await ls.reload(rescan=False)
    return ls.status()


def _compare_spec(ls: Host, spec: dict | None) -> tuple[dict | None, str | None]:
    """(the new compare selection, None) or (None, what is wrong with spec)."""
    if spec is not None and spec.get("off"):
        return None, None
    if spec is not None and "baseline" in spec:
        run = ls.view.run
        if run is None or spec["baseline"] not in run.phases:
            phases = ", ".join(run.phases) if run else "no run selected"
            return None, f"harness.compare: no phase {spec['baseline']!r} ({phases})"
        return {"baseline": spec["baseline"]}, None
    if spec is not None and "run" in spec:
        if find_run(ls.runs, str(spec["run"]), runs_dir(ls.settings, ls.roots)) is None:
            return None, f"harness.compare: no run {spec['run']!r}"
        return {"run": str(spec["run"])}, None
    if spec is not None and spec.get("production") is True:
        return {"production": True}, None
    if spec is not None and isinstance(spec.get("profile"), str) and spec["profile"]:
        return {"profile": spec["profile"]}, None
    return None, ('harness.compare: expected {"baseline": "<phase>"}, {"run": "<id or path>"}, '
                  f'{{"production": true}}, {{"profile": "<pprof file>"}} or {{"off": true}}, got {spec!r}')


async def compare(ls: Host, args: dict | None) -> dict:
    selected, problem = _compare_spec(ls, args)
    if problem is not None:
        return _error(ls, problem)
    ls.sel.compare = selected
    await ls.reload(rescan=False)
    return ls.status()


async def toggle(ls: Host, args: dict | None) -> dict:
    enabled = _arg(args, "enabled")
    if enabled is not None and not isinstance(enabled, bool):
        return _error(ls, f"harness.toggle: enabled must be true or false, got {enabled!r}")
    ls.sel.enabled = (not ls.sel.enabled) if enabled is None else enabled
    ls.refresh()
    return ls.status()


async def reload(ls: Host, args: dict | None) -> dict:
    """Read everything again: the runs, the profiles and the workspace's files (for path mapping)."""
    await ls.reload(rewalk=True)
    return ls.status()


Command = Callable[[Host, dict | None], Awaitable[Any]]   # (server, named arguments) -> JSON

COMMANDS: dict[str, Command] = {
    "harness.listRuns": list_runs,
    "harness.listProfiles": list_profiles,
    "harness.status": status,
    "harness.unmappedFiles": unmapped_files,
    "harness.hotLines": hot_lines,
    "harness.flameGraph": flame_graph,
    "harness.selectRun": select_run,
    "harness.selectProfile": select_profile,
    "harness.openProfile": open_profile,
    "harness.selectPhase": select_phase,
    "harness.compare": compare,
    "harness.toggle": toggle,
    "harness.reload": reload,
}
