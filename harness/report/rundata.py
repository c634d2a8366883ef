"""Reading a run directory for the report: the manifest and the files it names, tolerant of
missing parts (a run that failed early still gets a report)."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from rundir import contract


@dataclass
class RunData:
    path: Path
    manifest: dict
    history: list[dict] = field(default_factory=list)       # load/history.jsonl
    load_stats: dict = field(default_factory=dict)          # load/stats.json
    containers: list[dict] = field(default_factory=list)    # stats/containers.jsonl
    runtime: dict[str, list[dict]] = field(default_factory=dict)  # service -> runtime/<service>.jsonl rows
    functions: dict[tuple[str, str], dict] = field(default_factory=dict)  # (phase, service) -> function latency
    problems: list[str] = field(default_factory=list)       # what could not be read, for the report

    @property
    def phases(self) -> list[dict]:
        return [p for p in self.manifest.get("phases", []) if p.get("start_s") is not None]

    @property
    def baseline(self) -> str | None:
        names = [p["name"] for p in self.phases]
        base = self.manifest.get("baseline_phase")
        if base in names:
            return base
        for p in self.phases:
            if not p.get("faults"):
                return p["name"]
        return names[0] if names else None

    def artifacts(self, kind: str | None = None, phase: str | None = None) -> list[dict]:
        return [a for a in self.manifest.get("artifacts", [])
                if (kind is None or a.get("kind") == kind) and (phase is None or a.get("phase") == phase)]

    def end_s(self) -> float:
        ends = [p["end_s"] for p in self.phases] + [h.get("t_s", 0) for h in self.history[-1:]]
        ends.append((self.manifest.get("result") or {}).get("end_s") or 0)
        return max([e for e in ends if e is not None] or [1.0])


def load_run(path: str | Path, manifest: dict | None = None) -> RunData:
    """The run's data; `manifest` is the one the engine is about to write (read from disk if
    not given)."""
    run = Path(path)
    if manifest is not None:
        return _with_files(RunData(run, manifest))
    mpath = run / contract.MANIFEST
    if not mpath.is_file():
        raise HarnessError("not a run directory: manifest.json is missing", where=str(run),
                           hint="give a folder under runs/ that `harness run` wrote")
    try:
        manifest = contract.read_manifest(run)
    except contract.ManifestError as e:
        raise HarnessError("manifest.json cannot be read", where=str(mpath), seen=str(e)) from None
    return _with_files(RunData(run, manifest))


def _with_files(data: RunData) -> RunData:
    run = data.path
    data.history = _jsonl(run / "load" / "history.jsonl", data.problems)
    data.containers = _jsonl(run / "stats" / "containers.jsonl", data.problems)
    data.runtime = _runtime(run / "runtime", data.problems)
    data.functions = _functions(data)
    stats = run / "load" / "stats.json"
    if stats.is_file():
        try:
            data.load_stats = json.loads(stats.read_text())
        except (OSError, json.JSONDecodeError) as e:
            data.problems.append(f"load/stats.json: {e}")
    return data


def _functions(data: RunData) -> dict[tuple[str, str], dict]:
    """(phase, service) -> the function latency file of each `functions` artifact (read and checked
    by lsp.contract.read_functions); an unreadable one, or parts of one left out, go to problems."""
    out: dict[tuple[str, str], dict] = {}
    root = None
    for a in data.artifacts("functions"):
        rel, phase = a.get("path"), a.get("phase")
        if not isinstance(rel, str) or not isinstance(phase, str):
            data.problems.append(f"functions artifact without a path or phase: {str(a)[:200]}")
            continue
        root = root or os.path.realpath(data.path)
        if not contract.inside(root, rel):
            data.problems.append(f"{rel[:200]}: points outside the run directory; not read")
            continue
        try:
            doc = contract.read_functions(data.path / rel)
        except contract.FunctionsError as e:
            data.problems.append(str(e))
            continue
        data.problems.extend(f"{rel}: {problem}; left out" for problem in doc["problems"])
        out[(phase, str(a.get("service") or doc.get("service") or ""))] = doc
    return out


def _runtime(folder: Path, problems: list[str]) -> dict[str, list[dict]]:
    """runtime/<service>.jsonl rows in time order; a row that is not an object with a numeric
    t_s is left out (and named under problems), a value that is not a number reads as None."""
    out: dict[str, list[dict]] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.jsonl")):
        rows = []
        for n, row in enumerate(_jsonl(path, problems), 1):
            if not isinstance(row, dict) or _number(row.get("t_s")) is None:
                problems.append(f"runtime/{path.name}: row {n} has no numeric t_s; left out")
                continue
            rows.append({k: (v if isinstance(v, str) else None) if k == "phase" else _number(v)
                         for k, v in row.items()})
        out[path.stem] = sorted(rows, key=lambda r: r["t_s"])
    return out


def _number(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _jsonl(path: Path, problems: list[str]) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                problems.append(f"{path.name}:{n}: not JSON (a line cut short when the run ended?)")
    return out
