"""Helpers for the load tests: the Go test server, a RunContext, scenario nodes, raw-log maths."""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
from pathlib import Path

from harness.load.spec import LoadSpec, parse_load
from harness.parse.context import ParseContext
from harness.parse.node import load_yaml
from harness.runctx import Clock, PhaseWindow, RunContext
from rundir import gosource

HERE = Path(__file__).resolve().parent
SERVER_SRC = HERE / "goserver"


def go_binary() -> str | None:
    """The project's Go toolchain (lsp.gosource.go_binary), or None when there is none."""
    go = gosource.go_binary()
    return go if Path(go).exists() or shutil.which(go) else None


def build_server(cache_dir: Path) -> Path:
    """Build the Go test server once per source version (static, standard library only)."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(SERVER_SRC.glob("*")))).hexdigest()[:12]
    out = cache_dir / f"loadtestserver-{digest}"
    if out.exists():
        return out
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod", GOPROXY="off")
    subprocess.run([go_binary(), "build", "-o", str(out), "."], cwd=SERVER_SRC, env=env, check=True,
                   timeout=300, capture_output=True)
    return out


class Server:
    """The Go test server on 127.0.0.1 (a random port; or `addr`), stopped and reaped on close."""

    def __init__(self, binary: Path, addr: str = "127.0.0.1:0"):
        self.proc = subprocess.Popen([str(binary), "-addr", addr], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            self.close()
            raise RuntimeError(f"test server did not start: {line}")
        self.url = "http://" + line[1]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def run_context(run_dir: Path, phases: list[tuple[str, float, float]],
                services=None) -> tuple[RunContext, list[PhaseWindow]]:
    """A run context for the load, and the phase windows (relative to the run clock's t0)."""
    rc = RunContext.of("load-test", run_dir, Clock.start(), services or {})
    return rc, [PhaseWindow(n, a, b) for n, a, b in phases]


def parse(text: str, *, phases=("main",), services=("api",), allow_external=False,
          scenario_dir: Path | None = None) -> LoadSpec:
    root = load_yaml(text, "scenario.yaml")
    ctx = ParseContext(file="scenario.yaml", scenario_dir=scenario_dir or HERE, services=tuple(services),
                       phase_names=tuple(phases), allow_external_targets=allow_external)
    return parse_load(root.get("load"), ctx)


def exact_percentile(sorted_values: list[float], pct: float) -> float:
    """The nearest-rank percentile, the definition HdrHistogram uses."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values) - 1e-9))
    return sorted_values[rank - 1]
