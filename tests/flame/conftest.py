"""Fixtures of the flame-graph tests: real profiles of a Go program with a known call structure
(goprog/main.go), a baseline workload and a fault workload that adds main.extra."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lsp.lspfixtures import go_binary, run

GOPROG = Path(__file__).parent / "goprog"
MODULE = "example.com/flame"


@dataclass(frozen=True)
class Profiles:
    root: Path
    base: Path       # cpu.pb.gz and allocs.pb.gz of the baseline workload
    fault: Path      # the same with main.extra running too


def marker_line(name: str) -> int:
    """1-based line of goprog/main.go carrying `// FLAME:<name>`."""
    for i, text in enumerate((GOPROG / "main.go").read_text().splitlines(), 1):
        if text.rstrip().endswith(f"// FLAME:{name}"):
            return i
    raise LookupError(name)


@pytest.fixture(scope="session")
def profiles(tmp_path_factory) -> Profiles:
    root = tmp_path_factory.mktemp("flameprog")
    binary = root / "flame"
    # Standard library only: no module proxy, no toolchain download; -trimpath as a container build.
    run([go_binary(), "build", "-trimpath", "-o", str(binary), "."], cwd=GOPROG, timeout=600,
        env={"GOPROXY": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"})
    base, fault = root / "base", root / "fault"
    for out, extra in ((base, []), (fault, ["-extra"])):
        out.mkdir()
        run([str(binary), "-out", str(out), "-seconds", "3", *extra], timeout=120)
    return Profiles(root, base, fault)
