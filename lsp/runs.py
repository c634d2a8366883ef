"""Run directories (docs/DESIGN.md "Run directory"): discovery and manifest reading.

Pure reading, no state: a broken manifest yields a RunInfo with `error` set, so
the caller can tell the user once and keep going.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

PROFILE_SUFFIXES = (".pb.gz", ".pprof", ".pb")
PROFILE_KINDS = ("cpu", "heap", "allocs", "goroutine", "block", "mutex", "trace-sched", "trace-sync",
                 "trace-net", "trace-syscall", "perf")


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
        manifest = entry / "manifest.json"
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
                st = os.stat(os.path.join(entry.path, "manifest.json"))
            except OSError:
                continue
            sig.append((entry.name, st.st_mtime_ns, st.st_size))
    except OSError:
        return ()
    return tuple(sorted(sig))


def read_run(path: Path) -> RunInfo:
    manifest = path / "manifest.json"
    try:
        mtime = manifest.stat().st_mtime
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return _parse(path, data, mtime)
    except (OSError, UnicodeDecodeError) as exc:
        return RunInfo(id=path.name, path=path, error=f"{manifest}: cannot read: {exc}")
    except json.JSONDecodeError as exc:
        return RunInfo(id=path.name, path=path,
                       error=f"{manifest}: broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
    except ManifestError as exc:
        return RunInfo(id=path.name, path=path, error=f"{manifest}: {exc}")


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
        mtime=mtime,
    )


def find_run(runs: list[RunInfo], key: str, runs_dir: Path) -> RunInfo | None:
    """A run by id, directory name or path (a path outside runs_dir is read directly)."""
    for run in runs:
        if key in (run.id, run.path.name, str(run.path)):
            return run
    candidate = Path(key) if os.path.isabs(key) else runs_dir / key
    if (candidate / "manifest.json").is_file():
        return read_run(candidate)
    return None
