"""`harness.*` commands (workspace/executeCommand); each returns JSON.

A command whose arguments are wrong returns {"error": "..."} and tells the user
once; the server state is left as it was.
"""
from __future__ import annotations

from typing import Any

from lsp.runs import find_run
from lsp.session import is_profile_path, runs_dir


def _arg(args: tuple, key: str, default: Any = None) -> Any:
    """The first argument is an object of named arguments (as docs/DESIGN.md lists them)."""
    if args and isinstance(args[0], dict):
        return args[0].get(key, default)
    return default


def _error(ls, message: str) -> dict:
    ls.tell(message)
    return {"error": message}


def list_runs(ls) -> list[dict]:
    return [r.to_json() for r in ls.runs]


def list_profiles(ls) -> list[dict]:
    run = ls.view.run
    if run is None:
        return []
    return [{"kind": a.kind, "phase": a.phase, "service": a.service, "path": str(a.path),
             "sampleTypes": list(a.sample_types)} for a in run.profiles()]


def hot_lines(ls, limit: int) -> list[dict]:
    return [{"uri": uri, "line": p.line, "function": p.entry.function, "value": p.entry.value,
             "share": p.entry.share, "label": p.entry.label, "stale": p.stale}
            for uri, p, _cur in ls.ranked(limit)]


def register_commands(server) -> None:
    @server.command("harness.listRuns")
    async def cmd_list_runs(ls, *args):
        await ls.wait_ready()
        return list_runs(ls)

    @server.command("harness.listProfiles")
    async def cmd_list_profiles(ls, *args):
        await ls.wait_ready()
        return list_profiles(ls)

    @server.command("harness.status")
    async def cmd_status(ls, *args):
        await ls.wait_ready()
        return ls.status()

    @server.command("harness.unmappedFiles")
    async def cmd_unmapped(ls, *args):
        await ls.wait_ready()
        from lsp.server import unmapped
        return unmapped(ls.view)

    @server.command("harness.hotLines")
    async def cmd_hot_lines(ls, *args):
        await ls.wait_ready()
        limit = _arg(args, "limit", 50)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            return _error(ls, f"harness.hotLines: limit must be a positive integer, got {limit!r}")
        return hot_lines(ls, limit)

    @server.command("harness.selectRun")
    async def cmd_select_run(ls, *args):
        key = _arg(args, "run")
        if key is not None and not isinstance(key, str):
            return _error(ls, f"harness.selectRun: run must be a run id, a path or null, got {key!r}")
        if key and find_run(ls.runs, key, runs_dir(ls.settings, ls.roots)) is None:
            valid = ", ".join(r.id for r in ls.runs) or "none"
            return _error(ls, f"harness.selectRun: no run {key!r} (runs: {valid})")
        ls.sel.run, ls.sel.phase = key or None, None
        await ls.reload()
        return ls.status()

    @server.command("harness.selectProfile")
    async def cmd_select_profile(ls, *args):
        profile, sample_type = _arg(args, "profile"), _arg(args, "sampleType")
        if profile is not None:
            if not isinstance(profile, str) or not profile:
                return _error(ls, f"harness.selectProfile: profile must be a kind or a path, got {profile!r}")
            ls.sel.profile = profile
        if sample_type is not None and not isinstance(sample_type, str):
            return _error(ls, f"harness.selectProfile: sampleType must be a string, got {sample_type!r}")
        ls.sel.sample_type = sample_type or None
        await ls.reload(rescan=False)
        return ls.status()

    @server.command("harness.openProfile")
    async def cmd_open_profile(ls, *args):
        path = _arg(args, "path")
        if not isinstance(path, str) or not path:
            return _error(ls, f"harness.openProfile: path must be a file path, got {path!r}")
        ls.sel.profile = path if is_profile_path(path) else "./" + path
        ls.sel.sample_type = None
        await ls.reload(rescan=False)
        return ls.status()

    @server.command("harness.selectPhase")
    async def cmd_select_phase(ls, *args):
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

    @server.command("harness.compare")
    async def cmd_compare(ls, *args):
        spec = args[0] if args and isinstance(args[0], dict) else None
        if spec is None or not ({"baseline", "run", "off"} & set(spec)):
            return _error(ls, 'harness.compare: expected {"baseline": "<phase>"}, {"run": "<id or path>"} '
                              f'or {{"off": true}}, got {spec!r}')
        if spec.get("off"):
            ls.sel.compare = None
        elif "baseline" in spec:
            run = ls.view.run
            if run is None or spec["baseline"] not in run.phases:
                phases = ", ".join(run.phases) if run else "no run selected"
                return _error(ls, f"harness.compare: no phase {spec['baseline']!r} ({phases})")
            ls.sel.compare = {"baseline": spec["baseline"]}
        else:
            if find_run(ls.runs, str(spec["run"]), runs_dir(ls.settings, ls.roots)) is None:
                return _error(ls, f"harness.compare: no run {spec['run']!r}")
            ls.sel.compare = {"run": str(spec["run"])}
        await ls.reload(rescan=False)
        return ls.status()

    @server.command("harness.toggle")
    async def cmd_toggle(ls, *args):
        enabled = _arg(args, "enabled")
        if enabled is not None and not isinstance(enabled, bool):
            return _error(ls, f"harness.toggle: enabled must be true or false, got {enabled!r}")
        ls.sel.enabled = (not ls.sel.enabled) if enabled is None else enabled
        ls.placed_cache.clear()
        ls.refresh()
        return ls.status()

    @server.command("harness.reload")
    async def cmd_reload(ls, *args):
        await ls.reload()
        return ls.status()
