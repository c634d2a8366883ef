"""manifest.json of a run (docs/DESIGN.md "Run directory"): built from what the engine
knows, written through rundir.contract (the one writer and reader of the file).

It is written twice: when the run starts (so that `harness runs`, the watchdog and `harness
clean` find the run) and once at the end, with the verdict already decided.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.runctx import PhaseWindow, RunContext
from harness.scenario.model import Scenario
from rundir.contract import SCHEMA_VERSION, write_manifest


@dataclass(frozen=True)
class Outcome:
    """How a run ended: the same in manifest.json, summary.json, report.html and junit.xml."""
    status: str                        # running | completed | failed | interrupted
    reason: str | None = None
    exit_code: int | None = None

    def to_json(self, end_s: float) -> dict:
        return {"status": self.status, "reason": self.reason, "exit_code": self.exit_code,
                "end_s": round(end_s, 3)}


@dataclass
class ManifestWriter:
    scenario: Scenario
    rc: RunContext
    tools: dict[str, str] = field(default_factory=dict)
    # The source as it was when the run started (the editor compares against it) and the
    # scenario as run: computed once, written into every version of the manifest.
    source: dict[str, dict[str, str]] = field(init=False)
    resolved: dict = field(init=False)
    owner: dict = field(init=False)
    production: dict | None = field(init=False)

    def __post_init__(self) -> None:
        roots = {spec.source for spec in self.scenario.services.values() if spec.source}
        by_root = {root: source_hashes(root) for root in roots}
        self.source = {name: by_root[spec.source] for name, spec in self.scenario.services.items()
                       if spec.source}
        self.resolved = resolved_scenario(self.scenario)
        self.owner = owner()
        self.production = copy_production(self.scenario, self.rc.run_dir)

    def build(self, outcome: Outcome, windows: list[PhaseWindow], load_t0: float | None,
              faults: list[dict]) -> dict:
        sc, rc = self.scenario, self.rc
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": rc.run_id,
            "scenario": {"name": sc.name, "description": sc.description, "path": str(sc.file),
                         "resolved": self.resolved},
            "tools": dict(self.tools),
            "clock": rc.clock.to_json(),
            "load_t0_s": load_t0,
            "phases": self._phases(windows),
            "baseline_phase": sc.baseline_phase,
            "services": self._services(),
            "compose_project": rc.project,
            "owner": self.owner,
            "artifacts": rc.artifacts.all(),
            "faults": faults,
            "events": rc.events.all(),
            "result": outcome.to_json(rc.clock.now()),
            **({"production": self.production} if self.production else {}),
        }

    def write(self, outcome: Outcome, windows: list[PhaseWindow], load_t0: float | None,
              faults: list[dict]) -> dict:
        manifest = self.build(outcome, windows, load_t0, faults)
        self.write_built(manifest)
        return manifest

    def write_built(self, manifest: dict) -> None:
        write_manifest(self.rc.run_dir, manifest)

    def _phases(self, windows: list[PhaseWindow]) -> list[dict]:
        by_name = {w.name: w for w in windows}
        out = []
        for p in self.scenario.phases:
            w = by_name.get(p.name)
            out.append({"name": p.name, "start_s": w.start_s if w else None, "end_s": w.end_s if w else None,
                        "offset_s": p.start, "duration_s": p.duration, "faults": [f.id for f in p.faults]})
        return out

    def _services(self) -> dict[str, dict[str, Any]]:
        services = {}
        for name, spec in self.scenario.services.items():
            info = self.rc.services.get(name)
            entry: dict[str, Any] = {"limits": spec.limits.to_json(),
                                     "source_root": str(spec.source) if spec.source else None}
            if info is not None:
                entry.update({"container": info.container_id, "container_name": info.container_name,
                              "image": info.image, "pprof": info.pprof_url, "module": info.module,
                              "published": {str(k): v for k, v in info.published.items()},
                              "published_on_interface": {str(k): f"{a}:{p}" for k, (a, p) in info.exposed.items()},
                              "limits_applied": info.limits})
            if name in self.source:
                entry["source_hashes"] = self.source[name]
            services[name] = entry
        return services


def copy_production(sc: Scenario, run_dir: Path) -> dict | None:
    """The scenario's production evidence with its profiles copied into the run (production/), so
    that `harness report` compares from the run alone; the defaults resolved (docs/production.md)."""
    p = sc.production
    if p is None:
        return None
    out: dict[str, Any] = {"service": p.service or sc.load.target_service or next(iter(sc.services), None),
                           "phase": p.phase or sc.phases[-1].name,
                           "baseline_phase": p.baseline_phase or sc.baseline_phase or sc.phases[0].name,
                           "latency_ms": dict(p.latency_ms), "error_rate": p.error_rate, "rps": p.rps,
                           "path_map": [list(pair) for pair in p.path_map], "where": p.where, "sources": {}}
    for key, side in (("profiles", "incident"), ("baseline_profiles", "baseline")):
        copied = {}
        for kind, src in getattr(p, key):
            target = run_dir / "production" / side / f"{kind}{''.join(Path(src).suffixes[-2:]) or '.pb.gz'}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            copied[kind] = target.relative_to(run_dir).as_posix()
            out["sources"][f"{side}/{kind}"] = src
        out[key] = copied
    return out


def owner() -> dict:
    """The harness process that runs this run: `harness runs` tells a killed run by it."""
    import psutil

    return {"pid": os.getpid(), "host": socket.gethostname(), "started": psutil.Process().create_time()}


def source_hashes(root: Path, limit: int = 2000) -> dict[str, str]:
    """sha256 of every .go file under root (vendor/ left out), relative paths as keys."""
    out: dict[str, str] = {}
    for p in sorted(Path(root).rglob("*.go")):
        if len(out) >= limit or "vendor" in p.parts:
            break
        try:
            out[p.relative_to(root).as_posix()] = "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
        except OSError:
            continue
    return out


def resolved_scenario(sc: Scenario) -> dict:
    try:
        doc = yaml.safe_load(sc.text)
    except yaml.YAMLError:
        doc = None
    return {"document": doc, "compose_files": [str(f) for f in sc.compose.files],
            "project_dir": str(sc.compose.project_dir), "duration_s": sc.duration, "warmup_s": sc.warmup,
            "phases": [{"name": p.name, "start_s": p.start, "duration_s": p.duration} for p in sc.phases]}
