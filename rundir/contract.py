"""The run directory's files: the contract between the engine that writes runs (harness/) and
the parts that read them (the language server, the report, the CLI). docs/DESIGN.md "Run
directory" describes the files; this module is the one place that reads and writes
manifest.json, names the artifact and event kinds and reads the function latency files
(functions/<phase>/<service>.json).

Reading is pure: a broken manifest yields a RunInfo with `error` set, so that a caller can tell
the user once and keep going.
"""
from __future__ import annotations

import json
import math
import os
import reprlib
import stat
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 << 20   # a manifest is kilobytes; more is not a manifest
PROFILE_SUFFIXES = (".pb.gz", ".pprof", ".pb")
# Profiles, in the order the report shows them.
PROFILE_KINDS = ("cpu", "perf", "heap", "allocs", "goroutine", "goroutine-peak", "block", "mutex", "offcpu",
                 "trace-sched", "trace-sync", "trace-net", "trace-syscall")
ARTIFACT_KINDS = (*PROFILE_KINDS, "trace", "load-history", "load-stats", "load-requests", "container-stats",
                  "runtime", "functions")
EVENT_KINDS = (
    "run-start", "run-end", "prepare", "watchdog-started", "env-up", "env-started", "env-ready", "env-down",
    "load-start", "load-late", "load-end", "load-stopped", "load-error", "load-worker-killed",
    "load-generator-saturated", "load-generator-recovered", "phase-start", "phase-end", "fault-shared",
    "fault-applied", "fault-reverted", "fault-failed", "fault-skipped", "capture-failed", "container-start",
    "container-die", "oom-kill", "teardown-error", "report-failed")


@dataclass(frozen=True)
class Artifact:
    kind: str
    service: str
    phase: str
    path: Path
    sample_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    source_root: str | None
    module: str | None
    source_hashes: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class RunInfo:
    id: str
    path: Path
    scenario: str = ""
    wall_t0: float = 0.0
    wall_t0_iso: str = ""
    phases: tuple[str, ...] = ()
    baseline_phase: str | None = None
    fault_phases: tuple[str, ...] = ()
    status: str = ""
    services: tuple[Service, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    mtime: float = 0.0
    error: str | None = None
    owner: dict = field(default_factory=dict, hash=False, compare=False)   # pid, host, started
    problems: tuple[str, ...] = ()    # parts of the manifest left out (wrong type, path outside the run)

    def to_json(self) -> dict:
        return {"id": self.id, "path": str(self.path), "scenario": self.scenario,
                "wall_t0_iso": self.wall_t0_iso, "phases": list(self.phases),
                "status": self.status if not self.error else "broken"}

    def profiles(self) -> list[Artifact]:
        return [a for a in self.artifacts if a.kind in PROFILE_KINDS or a.path.name.endswith(PROFILE_SUFFIXES)]

    def damage(self) -> str | None:
        """One message naming the parts of the manifest that were left out, or None."""
        if not self.problems:
            return None
        shown = "; ".join(self.problems[:8])
        more = f"; and {len(self.problems) - 8} more" if len(self.problems) > 8 else ""
        return (f"run {self.id}: {len(self.problems)} part(s) of {self.path / MANIFEST} left out, the rest is "
                f"used: {shown}{more} (docs/DESIGN.md \"manifest.json\" has the schema)")

    def default_phase(self) -> str | None:
        """The fault phase if any, else the only/first phase."""
        if self.fault_phases:
            return self.fault_phases[0]
        return self.phases[0] if self.phases else None


class ManifestError(ValueError):
    pass


def scan_runs(runs_dir: Path) -> list[RunInfo]:
    """Every run directory under runs_dir, newest first (broken ones included, with error set)."""
    if not runs_dir.is_dir():
        return []
    runs = []
    for entry in sorted(runs_dir.iterdir()):
        manifest = entry / MANIFEST
        if entry.is_dir() and manifest.is_file():
            runs.append(read_run(entry))
    runs.sort(key=lambda r: (r.wall_t0 or r.mtime, r.id), reverse=True)
    return runs


def runs_signature(runs_dir: Path) -> tuple:
    """A cheap fingerprint of the runs folder: changes when a manifest lands or changes."""
    if not runs_dir.is_dir():
        return ()
    sig = []
    try:
        for entry in os.scandir(runs_dir):
            try:
                st = os.stat(os.path.join(entry.path, MANIFEST))
            except OSError:
                continue
            sig.append((entry.name, st.st_mtime_ns, st.st_size))
    except OSError:
        return ()
    return tuple(sorted(sig))


def read_manifest(run_dir: Path) -> dict:
    """manifest.json of a run directory as a dict; ManifestError says what is wrong, where."""
    manifest = Path(run_dir) / MANIFEST
    try:
        data = json.loads(read_regular(manifest, MAX_MANIFEST_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{manifest}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{manifest}: broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") \
            from None
    except RecursionError:
        raise ManifestError(f"{manifest}: nested too deeply to be a manifest") from None
    except ValueError as exc:    # e.g. a number of more than 4300 digits
        raise ManifestError(f"{manifest}: unreadable JSON: {exc}") from None
    return _obj(data, "manifest")


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; OSError otherwise (a directory, a
    FIFO or a device such as /dev/zero is refused without reading it)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except ValueError as exc:    # a NUL byte in the path
        raise OSError(f"bad path: {exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file (a directory, device, FIFO or socket)")
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(f"larger than {limit >> 20} MiB")
    return data


def write_manifest(run_dir: Path, manifest: dict) -> None:
    """Write manifest.json atomically (a reader never sees half a file)."""
    tmp = Path(run_dir) / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str))
    tmp.replace(Path(run_dir) / MANIFEST)


def read_run(path: Path) -> RunInfo:
    try:
        mtime = (path / MANIFEST).stat().st_mtime
        return _parse(path, read_manifest(path), mtime)
    except OSError as exc:
        return RunInfo(id=path.name, path=path, error=f"{path / MANIFEST}: cannot read: {exc}")
    except ManifestError as exc:
        msg = str(exc)
        where = "" if msg.startswith(str(path)) else f"{path / MANIFEST}: "
        return RunInfo(id=path.name, path=path, error=where + msg)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 2, 40, 40, 4, 4
_JSON_TYPES = {str: "a string", dict: "an object", list: "a list", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def _seen(value) -> str:
    """What a manifest held, short (nested values are cut, so this never recurses deeply)."""
    return f"{_JSON_TYPES.get(type(value), type(value).__name__)} {_REPR.repr(value)}"


def _obj(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise ManifestError(f"{what}: expected an object, got {_seen(value)}")
    return value


def _number(value) -> bool:
    """A JSON number usable as a float: finite, not true/false, not an integer beyond float range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class _Parts:
    """Typed reads of a manifest's parts: a part of the wrong type is named in `problems` (where,
    what was expected, what was seen) and left out, so that the rest of the run stays usable."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def bad(self, where: str, expected: str, value) -> None:
        self.problems.append(f"{where}: expected {expected}, got {_seen(value)}")

    def get(self, obj: dict, key: str, kind, where: str = ""):
        """obj[key] when it has the kind (str, dict, list, int or float: a finite number), else None."""
        value = obj.get(key)
        if value is None:
            return None
        ok = _number(value) if kind is float else \
            isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if ok:
            return value
        self.bad(where + key, _JSON_TYPES[kind], value)
        return None


def _parse(path: Path, data, mtime: float) -> RunInfo:
    data = _obj(data, "manifest")
    p = _Parts()
    clock = p.get(data, "clock", dict) or {}
    scenario = p.get(data, "scenario", dict) or {}
    result = p.get(data, "result", dict) or {}
    phases, faults = _phases(data, p)
    return RunInfo(
        id=p.get(data, "run_id", str) or path.name, path=path, scenario=p.get(scenario, "name", str, "scenario.") or "",
        wall_t0=float(p.get(clock, "wall_t0", float, "clock.") or 0.0),
        wall_t0_iso=p.get(clock, "wall_t0_iso", str, "clock.") or "",
        phases=tuple(phases), baseline_phase=p.get(data, "baseline_phase", str), fault_phases=tuple(faults),
        status=p.get(result, "status", str, "result.") or "", services=_services(data, p),
        artifacts=_artifacts(path, data, p), mtime=mtime, owner=_owner(data, p), problems=tuple(p.problems),
    )


def _phases(data: dict, p: _Parts) -> tuple[list[str], list[str]]:
    names: list[str] = []
    faults: list[str] = []
    for i, ph in enumerate(p.get(data, "phases", list) or []):
        if not isinstance(ph, dict):
            p.bad(f"phases[{i}]", "an object", ph)
            continue
        name = ph.get("name")
        if not isinstance(name, str) or not name or name in names:
            p.bad(f"phases[{i}].name", "a phase name used once", name)
            continue
        names.append(name)
        if p.get(ph, "faults", list, f"phases[{i}]."):
            faults.append(name)
    return names, faults


def _services(data: dict, p: _Parts) -> tuple[Service, ...]:
    out = []
    for name, svc in (p.get(data, "services", dict) or {}).items():
        where = f"services.{name}."
        if not isinstance(svc, dict):
            p.bad(where[:-1], "an object", svc)
            continue
        hashes = p.get(svc, "source_hashes", dict, where) or {}
        good = {k: v for k, v in hashes.items() if isinstance(v, str)}
        if len(good) < len(hashes):
            odd = next(v for v in hashes.values() if not isinstance(v, str))
            p.bad(f"{where}source_hashes (values)", "sha256 strings", odd)
        out.append(Service(name, p.get(svc, "source_root", str, where), p.get(svc, "module", str, where), good))
    return tuple(out)


def _artifacts(run_dir: Path, data: dict, p: _Parts) -> tuple[Artifact, ...]:
    out = []
    root = None
    for i, art in enumerate(p.get(data, "artifacts", list) or []):
        where = f"artifacts[{i}]"
        if not isinstance(art, dict):
            p.bad(where, "an object", art)
            continue
        kind, rel = art.get("kind"), art.get("path")
        if not isinstance(kind, str) or not kind or not isinstance(rel, str) or not rel:
            p.bad(where, "an object with the strings 'kind' and 'path'", art)
            continue
        service, phase = p.get(art, "service", str, where + "."), p.get(art, "phase", str, where + ".")
        if (service is None and art.get("service") is not None) or (phase is None and art.get("phase") is not None):
            continue
        root = root or os.path.realpath(run_dir)
        if not inside(root, rel):
            shown = repr(rel if len(rel) <= 200 else rel[:200] + "...")
            p.problems.append(f"artifact {shown} ({where}, {kind}) points outside the run directory; not read "
                              "(only files inside the run directory are)")
            continue
        types = p.get(art, "sample_types", list, where + ".") or []
        out.append(Artifact(kind, service or "", phase or "main", run_dir / rel,
                            tuple(t for t in types if isinstance(t, str))))
    return tuple(out)


def inside(real_root: str, rel: str) -> bool:
    """Whether real_root/rel (real_root already resolved) stays inside real_root once `..`, an
    absolute rel and symlinks are resolved."""
    try:
        real = os.path.realpath(os.path.join(real_root, rel))
    except (OSError, ValueError):   # a NUL byte, a symlink loop on some Pythons
        return False
    return real.startswith(os.path.join(real_root, ""))


def _owner(data: dict, p: _Parts) -> dict:
    owner = p.get(data, "owner", dict) or {}
    kinds = {"pid": int, "host": str, "started": float}
    return {k: v for k, kind in kinds.items() if (v := p.get(owner, k, kind, "owner.")) is not None}


def find_run(runs: list[RunInfo], key: str, runs_dir: Path) -> RunInfo | None:
    """A run by id, directory name or path (a path outside runs_dir is read directly)."""
    for run in runs:
        if key in (run.id, run.path.name, str(run.path)):
            return run
    candidate = Path(key) if os.path.isabs(key) else runs_dir / key
    if (candidate / MANIFEST).is_file():
        return read_run(candidate)
    return None


# -- function latency (functions/<phase>/<service>.json) ------------------------------------------

FUNCTIONS_VERSION = 1
MAX_FUNCTIONS_BYTES = 16 << 20   # kilobytes per probed function (its histogram); more is not such a file
MAX_FUNCTIONS = 1000             # entries read from one file
FUNCTION_LATENCY_KEYS = ("min", "mean", "p50", "p90", "p99", "p999", "max")
_FUNCTION_COUNTS = ("unfinished", "unmatched", "reentries")


class FunctionsError(ValueError):
    """A function latency file that cannot be used; the message names the file and why."""


def read_functions(path: Path, limit: int = MAX_FUNCTIONS_BYTES) -> dict:
    """A function latency file (docs/captures.md), checked: version 1, every part of its type.

    Returns {"version", "service", "phase", "start_s", "end_s", "seconds", "events",
    "functions": [{"function", "file", "line", "calls", "calls_per_s", "unfinished", "unmatched",
    "reentries", "latency_ms": {min, mean, p50, p90, p99, p999, max: ms or None}, "histogram"}],
    "problems": [...]}: an entry of the wrong shape is left out and named under problems, a value
    of the wrong type reads None. FunctionsError when the file is unreadable, too large, not JSON,
    not an object with a list of functions or of another version."""
    try:
        data = json.loads(read_regular(path, limit).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FunctionsError(f"{path}: cannot read function latency: {exc}") from None
    if not isinstance(data, dict):
        raise FunctionsError(f"{path}: expected a function latency object, got {_seen(data)}")
    if data.get("version") != FUNCTIONS_VERSION:
        raise FunctionsError(f"{path}: function latency version {_REPR.repr(data.get('version'))} is not "
                             f"read here (this version reads {FUNCTIONS_VERSION})")
    entries = data.get("functions")
    if not isinstance(entries, list):
        raise FunctionsError(f"{path}: 'functions': expected a list, got {_seen(entries)}")
    p = _Parts()
    if len(entries) > MAX_FUNCTIONS:
        p.problems.append(f"{len(entries)} functions, only the first {MAX_FUNCTIONS} read")
    functions = [f for i, e in enumerate(entries[:MAX_FUNCTIONS])
                 if (f := _function_entry(e, f"functions[{i}]", p)) is not None]
    return {"version": FUNCTIONS_VERSION, "service": p.get(data, "service", str),
            "phase": p.get(data, "phase", str), "start_s": p.get(data, "start_s", float),
            "end_s": p.get(data, "end_s", float), "seconds": p.get(data, "seconds", float),
            "events": p.get(data, "events", dict) or {}, "functions": functions, "problems": p.problems,
            "complete": data.get("complete") is not False,
            "why": data["why"] if isinstance(data.get("why"), str) else None}


def _function_entry(e, where: str, p: _Parts) -> dict | None:
    """One probed function of a function latency file, or None (named in p.problems)."""
    if not isinstance(e, dict) or not isinstance(e.get("function"), str) or not e["function"]:
        p.bad(where, "an object with the string 'function'", e)
        return None
    w = where + "."
    calls = _count(e, "calls", w, p)
    if calls is None:
        p.bad(w + "calls", "a count of calls", e.get("calls"))
        return None
    latency = p.get(e, "latency_ms", dict, w) or {}
    line = _count(e, "line", w, p)
    return {"function": e["function"], "file": p.get(e, "file", str, w), "line": line or None, "calls": calls,
            "calls_per_s": _amount(e, "calls_per_s", w, p),
            **{k: _count(e, k, w, p) or 0 for k in _FUNCTION_COUNTS},
            "latency_ms": {k: _amount(latency, k, w + "latency_ms.", p) for k in FUNCTION_LATENCY_KEYS},
            "histogram": p.get(e, "histogram", str, w)}


def _count(obj: dict, key: str, where: str, p: _Parts) -> int | None:
    """obj[key] when it is an integer >= 0; else None (a wrong value named in p.problems)."""
    return _at_least_zero(obj, key, int, where, p)


def _amount(obj: dict, key: str, where: str, p: _Parts) -> float | None:
    """obj[key] when it is a finite number >= 0; else None (a wrong value named in p.problems)."""
    return _at_least_zero(obj, key, float, where, p)


def _at_least_zero(obj: dict, key: str, kind: type, where: str, p: _Parts):
    value = p.get(obj, key, kind, where)
    if value is not None and value < 0:
        p.bad(where + key, "a number >= 0", value)
        return None
    return value
