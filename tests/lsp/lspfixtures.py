"""Building the test fixtures: a real Go program, real profiles, a run directory.

The Go program in goprog/ is built once per test session (with -trimpath, as a
container build would be) and run twice: a baseline workload and a fault
workload that also runs extra(). Each test then gets its own workspace with a
copy of the source and a run directory that follows docs/DESIGN.md.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rundir.gosource import go_binary  # noqa: F401 - the tests import it from here
from rundir.pprof.proto import Profile as ProfileMessage

GOPROG = Path(__file__).parent / "goprog"
MODULE = "example.com/hot"
RUN_ID = "hot-20261122T110000Z"
KINDS = ("cpu", "allocs", "heap", "block", "mutex", "goroutine")


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 300, env: dict | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
                          env=None if env is None else {**os.environ, **env})
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@dataclass(frozen=True)
class Built:
    root: Path
    binary: Path
    baseline: Path      # directory of profiles from the baseline workload
    fault: Path         # directory of profiles from the fault workload


def build_and_profile(root: Path) -> Built:
    src = root / "src"
    shutil.copytree(GOPROG, src)
    binary = root / "hot"
    # Standard library only: no module proxy, no toolchain download.
    run([go_binary(), "build", "-trimpath", "-o", str(binary), "."], cwd=src, timeout=600,
        env={"GOPROXY": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"})
    base, fault = root / "baseline", root / "fault"
    base.mkdir()
    fault.mkdir()
    run([str(binary), "-out", str(base), "-seconds", "3.5"], timeout=120)
    run([str(binary), "-out", str(fault), "-seconds", "3.5", "-extra"], timeout=120)
    return Built(root, binary, base, fault)


def marker_line(marker: str) -> int:
    """1-based line of the source line carrying `// HOT:<marker>`."""
    for i, text in enumerate((GOPROG / "main.go").read_text().splitlines(), 1):
        if text.rstrip().endswith(f"// HOT:{marker}"):
            return i
    raise LookupError(marker)


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def make_run(runs: Path, built: Built, source_root: Path, run_id: str = RUN_ID, wall_t0: float = 1795000000.0,
             kinds=KINDS) -> Path:
    """A run directory with two phases (baseline, fault) of real profiles."""
    run_dir = runs / run_id
    artifacts = []
    for phase, src in (("baseline", built.baseline), ("fault", built.fault)):
        for kind in kinds:
            rel = f"profiles/{phase}/api/{kind}.pb.gz"
            (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / f"{kind}.pb.gz", run_dir / rel)
            artifacts.append({"kind": kind, "service": "api", "phase": phase, "path": rel,
                              "start_s": 0.0, "end_s": 1.0, "sample_types": []})
    manifest = {
        "schema_version": 1, "run_id": run_id,
        "scenario": {"name": "hot", "path": "", "resolved": {}},
        "tools": {"harness": "0.1.0"},
        "clock": {"wall_t0": wall_t0, "wall_t0_iso": "2026-11-22T11:00:00.000Z", "mono_t0": 100.0},
        "phases": [{"name": "baseline", "start_s": 0.0, "end_s": 2.0, "faults": []},
                   {"name": "fault", "start_s": 2.0, "end_s": 4.0, "faults": ["f1"]}],
        "baseline_phase": "baseline",
        "services": {"api": {"container": "x", "image": "hot", "limits": {},
                             "source_root": str(source_root), "module": MODULE,
                             "source_hashes": {"main.go": sha256_file(source_root / "main.go")}}},
        "artifacts": artifacts,
        "faults": [{"id": "f1", "kind": "delay", "target": "api", "phase": "fault"}],
        "events": [],
        "result": {"status": "completed", "reason": None, "exit_code": 0, "end_s": 4.0},
    }
    tmp = run_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, run_dir / "manifest.json")
    return run_dir


def rewrite_filenames(src: Path, dst: Path, old_prefix: str, new_prefix: str) -> None:
    """Copy a profile with its source file names moved (as a container or another machine would see)."""
    msg = ProfileMessage()
    msg.ParseFromString(gzip.decompress(src.read_bytes()))
    for i, s in enumerate(msg.string_table):
        if s.startswith(old_prefix):
            msg.string_table[i] = new_prefix + s[len(old_prefix):]
    dst.write_bytes(gzip.compress(msg.SerializeToString()))


def make_workspace(root: Path, built: Built) -> Path:
    """workspace/{goprog (the source), other/main.go (a second main.go), runs/<run>}."""
    ws = root
    shutil.copytree(GOPROG, ws / "goprog")
    (ws / "other").mkdir()
    (ws / "other" / "main.go").write_text("package main\n\nfunc main() {}\n")
    make_run(ws / "runs", built, ws / "goprog")
    return ws


def edit_manifest(run_dir: Path, change) -> None:
    """Rewrite a run's manifest.json: change(manifest dict) edits it in place."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def edit_profile(src: Path, dst: Path, change) -> None:
    """Copy a profile to dst with change(profile message) applied (gzip-compressed)."""
    msg = ProfileMessage()
    msg.ParseFromString(gzip.decompress(src.read_bytes()))
    change(msg)
    dst.write_bytes(gzip.compress(msg.SerializeToString(), compresslevel=1))


def gzip_bomb(path: Path, mib: int) -> Path:
    """A gzip file of zeros that decompresses to `mib` MiB (about 1 kB per MiB on disk): one
    gzip member of up to 16 MiB, repeated (gzip readers join the members)."""
    part = min(mib, 16)
    path.write_bytes(gzip.compress(bytes(part << 20), 9) * (mib // part))
    return path
