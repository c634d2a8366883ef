"""A synthetic run directory (no Docker): manifest, load history, container stats, CPU profiles."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

from rundir.pprof.proto import Profile

SRC = "/src/app"


def cpu_profile(costs: dict[tuple[str, int, str], int]) -> bytes:
    """A CPU profile: each (file, line, function) leaf called from runtime.goexit, value in ns."""
    return profile(costs, (("samples", "count"), ("cpu", "nanoseconds")))


def profile(costs: dict[tuple[str, int, str], int], types: tuple[tuple[str, str], ...]) -> bytes:
    """A profile with sample types `types` ((type, unit), the last the default); the last value of
    a sample is its cost, the others cost // 10,000,000."""
    msg = Profile()
    strings = {"": 0}

    def s(text):
        if text not in strings:
            strings[text] = len(strings)
            msg.string_table.append(text)
        return strings[text]

    msg.string_table.append("")
    for stype, unit in types:
        msg.sample_type.add(type=s(stype), unit=s(unit))
    msg.function.add(id=1, name=s("runtime.goexit"), filename=s("/go/src/runtime/asm.s"))
    msg.location.add(id=1, address=1).line.add(function_id=1, line=1)
    for i, ((file, line, func), value) in enumerate(sorted(costs.items()), 2):
        msg.function.add(id=i, name=s(func), filename=s(file))
        msg.location.add(id=i, address=i * 16).line.add(function_id=i, line=line)
        msg.sample.add(location_id=[i, 1], value=[value // 10_000_000] * (len(types) - 1) + [value])
    return gzip.compress(msg.SerializeToString())


def make_run(root: Path, name: str = "run-a", *, fault_hot: int = 600, with_load: bool = True,
             expect: str = "", slow: float = 1.0) -> Path:
    """`slow` multiplies the fault phase's latencies (two runs that differ, for compare)."""
    run = root / name
    phases = [("baseline", 0.0, 5.0), ("fault", 5.0, 10.0)]
    tables = {"baseline": {(f"{SRC}/main.go", 40, "main.burn"): 800_000_000,
                           (f"{SRC}/main.go", 55, "main.alloc"): 200_000_000},
              "fault": {(f"{SRC}/main.go", 40, "main.burn"): 400_000_000,
                        (f"{SRC}/main.go", 55, "main.alloc"): fault_hot * 1_000_000,
                        ("/go/src/runtime/mgc.go", 100, "runtime.gcBgMarkWorker"): 300_000_000}}
    artifacts = []
    for phase, start, end in phases:
        path = run / "profiles" / phase / "api" / "cpu.pb.gz"
        path.parent.mkdir(parents=True)
        path.write_bytes(cpu_profile(tables[phase]))
        artifacts.append({"kind": "cpu", "service": "api", "phase": phase, "path": path.relative_to(run).as_posix(),
                          "start_s": start + 0.1, "end_s": end - 0.9, "sample_types": ["samples/count", "cpu/nanoseconds"]})
    (run / "stats").mkdir()
    with open(run / "stats" / "containers.jsonl", "w") as f:
        f.writelines(json.dumps({"t_s": t + 0.5, "service": "api", "cpu_pct": 30.0 if t < 5 else 20.0,
                                "throttled_periods": 0 if t < 5 else 9, "throttled_ms": 0.0 if t < 5 else 250.0,
                                "mem_bytes": (50 + t * 10) << 20, "mem_limit": 256 << 20, "rx_bytes": t * 1000,
                                "tx_bytes": t * 2000, "restarts": 0, "oom_kills": 0}) + "\n" for t in range(10))
    if with_load:
        (run / "load").mkdir()
        with open(run / "load" / "history.jsonl", "w") as f:
            for t in range(1, 11):
                late = t > 5
                f.write(json.dumps({"t_s": float(t), "phase": "fault" if late else "baseline",
                                    "rps": 100.0, "fps": 5.0 if late else 0.0,
                                    "p50_ms": 30.0 * slow if late else 3.0, "p95_ms": 80.0 * slow if late else 8.0,
                                    "p99_ms": 120.0 * slow if late else 12.0,
                                    "max_ms": 200.0 * slow if late else 20.0}) + "\n")
    manifest = {"schema_version": 1, "run_id": name, "scenario": {"name": "synth"},
                "clock": {"wall_t0": 1.0, "wall_t0_iso": "2026-11-22T12:00:00.000Z", "mono_t0": 1.0},
                "phases": [{"name": n, "start_s": a, "end_s": b, "faults": ["f1"] if n == "fault" else []}
                           for n, a, b in phases],
                "baseline_phase": "baseline",
                "services": {"api": {"source_root": SRC, "module": "example.com/app", "limits": {}}},
                "artifacts": artifacts,
                "faults": [{"id": "f1", "kind": "delay", "target": "api", "phase": "fault", "applied_s": 5.05,
                            "reverted_s": 9.95}],
                "events": [{"t_s": 7.0, "kind": "oom-kill", "detail": "api: oom", "service": "api"}],
                "result": {"status": "completed", "exit_code": 0, "end_s": 10.0}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    if expect:
        (run / "scenario.yaml").write_text("name: synth\n" + expect)
    return run


def add_profile(run: Path, kind: str, phase: str, costs: dict[tuple[str, int, str], int],
                types: tuple[tuple[str, str], ...], window: str | None = None) -> None:
    """Write profiles/<phase>/api/<kind>.pb.gz and list it in the run's manifest."""
    path = run / "profiles" / phase / "api" / f"{kind}.pb.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(profile(costs, types))
    manifest = json.loads((run / "manifest.json").read_text())
    start, end = next((p["start_s"], p["end_s"]) for p in manifest["phases"] if p["name"] == phase)
    manifest["artifacts"].append({"kind": kind, "service": "api", "phase": phase, "path": path.relative_to(run).as_posix(),
                                  "start_s": start + 0.1, "end_s": end - 0.1, "window": window,
                                  "sample_types": [f"{t}/{u}" for t, u in types]})
    (run / "manifest.json").write_text(json.dumps(manifest))
