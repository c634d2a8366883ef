"""Mapping profile file names to files on this machine.

Profile file names come in several shapes: absolute build paths, container
paths (/src/...), module paths from `-trimpath` builds (example.com/m/x.go),
GOROOT files (runtime/proc.go or /usr/local/go/src/runtime/proc.go) and module
cache files (golang.org/x/net@v0.1.0/...). Rules are tried in order: the user's
pathMappings, the file itself, the run's services (source_root and module),
the workspace's go.mod modules, GOROOT and the module cache, and last a unique
path-suffix match among the workspace's .go files. What maps nowhere is kept
in `unmapped`, never dropped silently.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".cache"}
_MAX_FILES = 50_000
_SUFFIX_DEPTH = 4


@dataclass(frozen=True)
class GoEnv:
    goroot: Path | None
    modcache: Path | None


def detect_go_env(timeout: float = 10.0) -> GoEnv:
    """GOROOT and GOMODCACHE from the environment, else from `go env` when go is installed."""
    goroot = os.environ.get("GOROOT")
    modcache = os.environ.get("GOMODCACHE")
    go = shutil.which("go") or shutil.which("go", path=os.path.dirname(sys.executable))
    if (not goroot or not modcache) and go:
        try:
            out = subprocess.run([go, "env", "GOROOT", "GOMODCACHE"], capture_output=True, text=True,
                                 timeout=timeout, check=False).stdout.split("\n")
            goroot = goroot or (out[0].strip() if out else "")
            modcache = modcache or (out[1].strip() if len(out) > 1 else "")
        except (OSError, subprocess.SubprocessError):
            pass
    return GoEnv(Path(goroot) if goroot else None, Path(modcache) if modcache else None)


def _go_files(roots: Iterable[Path], skip: set[Path]) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and Path(dirpath, d) not in skip]
            out.extend(Path(dirpath, f) for f in filenames if f.endswith(".go") or f == "go.mod")
            if len(out) > _MAX_FILES:
                return out
    return out


def _module_of(gomod: Path) -> str | None:
    try:
        for line in gomod.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "module":
                return parts[1].strip('"')
    except OSError:
        return None
    return None


@dataclass
class PathMapper:
    workspace: tuple[Path, ...]
    rules: tuple[tuple[str, str], ...] = ()
    services: tuple[tuple[str | None, str | None], ...] = ()   # (source_root, module)
    go_env: GoEnv = GoEnv(None, None)
    skip: tuple[Path, ...] = ()
    modules: list[tuple[str, Path]] = field(default_factory=list)
    suffixes: dict[tuple[str, ...], list[Path]] = field(default_factory=dict)
    unmapped: set[str] = field(default_factory=set)
    _cache: dict[str, Path | None] = field(default_factory=dict)

    @classmethod
    def build(cls, workspace: Iterable[Path], rules=(), services=(), go_env: GoEnv | None = None,
              skip: Iterable[Path] = ()) -> PathMapper:
        ws = tuple(Path(w).resolve() for w in workspace)
        mapper = cls(ws, tuple(rules), tuple(services), go_env or GoEnv(None, None),
                     tuple(Path(s).resolve() for s in skip))
        mapper._index()
        return mapper

    def _index(self) -> None:
        for path in _go_files(self.workspace, set(self.skip)):
            if path.name == "go.mod":
                mod = _module_of(path)
                if mod:
                    self.modules.append((mod, path.parent))
                continue
            parts = path.parts
            for n in range(1, _SUFFIX_DEPTH + 1):
                if n <= len(parts):
                    self.suffixes.setdefault(tuple(parts[-n:]), []).append(path)
        self.modules.sort(key=lambda m: -len(m[0]))

    def resolve(self, filename: str) -> Path | None:
        if filename in self._cache:
            return self._cache[filename]
        found = self._resolve(filename) if filename else None
        self._cache[filename] = found
        if found is None and filename:
            self.unmapped.add(filename)
        return found

    def is_own(self, filename: str) -> bool:
        """True for files that map into the workspace (and are not GOROOT or module cache files)."""
        path = self.resolve(filename)
        if path is None:
            return False
        for other in (self.go_env.goroot, self.go_env.modcache):
            if other is not None and _under(path, other):
                return False
        return any(_under(path, w) for w in self.workspace)

    def _resolve(self, name: str) -> Path | None:
        for attempt in (self._by_rules, self._as_is, self._by_services, self._by_modules,
                        self._by_toolchain, self._by_suffix):
            found = attempt(name)
            if found is not None:
                return found
        return None

    def _by_rules(self, name: str) -> Path | None:
        for src, dst in self.rules:
            if name == src or name.startswith(src.rstrip("/") + "/"):
                rest = name[len(src.rstrip("/")):].lstrip("/")
                cand = Path(dst) / rest if rest else Path(dst)
                if cand.is_file():
                    return cand.resolve()
        return None

    def _as_is(self, name: str) -> Path | None:
        p = Path(name)
        return p.resolve() if p.is_absolute() and p.is_file() else None

    def _by_services(self, name: str) -> Path | None:
        for root, module in self.services:
            if not root:
                continue
            if module and name.startswith(module + "/"):
                cand = Path(root) / name[len(module) + 1:]
                if cand.is_file():
                    return cand.resolve()
        return None

    def _by_modules(self, name: str) -> Path | None:
        for module, root in self.modules:
            if name.startswith(module + "/"):
                cand = root / name[len(module) + 1:]
                if cand.is_file():
                    return cand.resolve()
        return None

    def _by_toolchain(self, name: str) -> Path | None:
        goroot, modcache = self.go_env.goroot, self.go_env.modcache
        if modcache is not None:
            rest = name.split("/pkg/mod/", 1)[1] if "/pkg/mod/" in name else name
            if "@" in rest.split("/", 3)[-1] or "@" in rest:
                cand = modcache / rest
                if cand.is_file():
                    return cand.resolve()
        if goroot is not None:
            rest = name.rsplit("/src/", 1)[1] if name.startswith("/") and "/src/" in name else name
            if not rest.startswith("/"):
                cand = goroot / "src" / rest
                if cand.is_file():
                    return cand.resolve()
        return None

    def _by_suffix(self, name: str) -> Path | None:
        parts = tuple(p for p in name.replace("\\", "/").split("/") if p)
        for n in range(min(_SUFFIX_DEPTH, len(parts)), 0, -1):
            hits = self.suffixes.get(parts[-n:])
            if hits:
                return hits[0].resolve() if len(hits) == 1 else None
        return None


def _under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False
