"""Mapping profile file names to files on this machine.

Profile file names come in several shapes: absolute build paths, container
paths (/src/...), module paths from `-trimpath` builds (example.com/m/x.go),
GOROOT files (runtime/proc.go or /usr/local/go/src/runtime/proc.go) and module
cache files (golang.org/x/net@v0.1.0/...). Rules are tried in order: the user's
pathMappings, the file itself, the run's services (source_root and module),
the workspace's go.mod modules, GOROOT and the module cache, and last a unique
path-suffix match among the workspace's .go files. What maps nowhere is kept
in `unmapped`, never dropped silently. The walk of the workspace (WorkspaceIndex)
is the costly part; MapperCache shares it between loads.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rundir.gosource import any_own, go_binary, go_module, own_matcher

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
    go = go_binary()
    if (not goroot or not modcache) and (os.path.exists(go) or shutil.which(go)):
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


@dataclass(frozen=True, eq=False)
class WorkspaceIndex:
    """What the mapper needs from walking the workspace: its go.mod modules (longest first) and
    its .go files by path suffix (up to 4 components)."""
    modules: tuple[tuple[str, Path], ...] = ()
    suffixes: dict[tuple[str, ...], list[Path]] = field(default_factory=dict)

    @classmethod
    def build(cls, workspace: Iterable[Path], skip: Iterable[Path] = ()) -> WorkspaceIndex:
        modules: list[tuple[str, Path]] = []
        suffixes: dict[tuple[str, ...], list[Path]] = {}
        for path in _go_files(workspace, set(skip)):
            if path.name == "go.mod":
                mod = go_module(path.parent)
                if mod:
                    modules.append((mod, path.parent))
                continue
            parts = path.parts
            for n in range(1, _SUFFIX_DEPTH + 1):
                if n <= len(parts):
                    suffixes.setdefault(tuple(parts[-n:]), []).append(path)
        modules.sort(key=lambda m: -len(m[0]))
        return cls(tuple(modules), suffixes)


@dataclass
class PathMapper:
    workspace: tuple[Path, ...]
    rules: tuple[tuple[str, str], ...] = ()
    services: tuple[tuple[str | None, str | None], ...] = ()   # (source_root, module)
    go_env: GoEnv = GoEnv(None, None)
    skip: tuple[Path, ...] = ()
    index: WorkspaceIndex = field(default_factory=WorkspaceIndex)
    unmapped: set[str] = field(default_factory=set)
    _cache: dict[str, Path | None] = field(default_factory=dict)
    services_own: Callable[[str], bool] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        matchers = [own_matcher(root, module) for root, module in self.services if root or module]
        self.services_own = any_own(matchers) if matchers else None

    @classmethod
    def build(cls, workspace: Iterable[Path], rules=(), services=(), go_env: GoEnv | None = None,
              skip: Iterable[Path] = (), index: WorkspaceIndex | None = None) -> PathMapper:
        """A mapper with its own resolved names; `index` (the workspace walk) is made when not given."""
        ws = tuple(Path(w).resolve() for w in workspace)
        skipped = tuple(Path(s).resolve() for s in skip)
        return cls(ws, tuple(rules), tuple(services), go_env or GoEnv(None, None), skipped,
                   index if index is not None else WorkspaceIndex.build(ws, skipped))

    def resolve(self, filename: str) -> Path | None:
        if filename in self._cache:
            return self._cache[filename]
        found = self._resolve(filename) if filename else None
        self._cache[filename] = found
        if found is None and filename:
            self.unmapped.add(filename)
        return found

    def is_own(self, filename: str) -> bool:
        """Own code, as the report counts it (rundir.gosource.own_matcher) when the run names its
        services' source roots or modules; for a profile without a run: files that map into
        the workspace (and are not GOROOT or module cache files)."""
        if self.services_own is not None:
            return self.services_own(filename)
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
                if _is_file(cand):
                    return cand.resolve()
        return None

    def _as_is(self, name: str) -> Path | None:
        p = Path(name)
        return p.resolve() if p.is_absolute() and _is_file(p) else None

    def _by_services(self, name: str) -> Path | None:
        for root, module in self.services:
            if not root:
                continue
            if module and name.startswith(module + "/"):
                cand = Path(root) / name[len(module) + 1:]
                if _is_file(cand):
                    return cand.resolve()
        return None

    def _by_modules(self, name: str) -> Path | None:
        for module, root in self.index.modules:
            if name.startswith(module + "/"):
                cand = root / name[len(module) + 1:]
                if _is_file(cand):
                    return cand.resolve()
        return None

    def _by_toolchain(self, name: str) -> Path | None:
        goroot, modcache = self.go_env.goroot, self.go_env.modcache
        if modcache is not None:
            rest = name.split("/pkg/mod/", 1)[1] if "/pkg/mod/" in name else name
            if "@" in rest.split("/", 3)[-1] or "@" in rest:
                cand = modcache / rest
                if _is_file(cand):
                    return cand.resolve()
        if goroot is not None:
            rest = name.rsplit("/src/", 1)[1] if name.startswith("/") and "/src/" in name else name
            if not rest.startswith("/"):
                cand = goroot / "src" / rest
                if _is_file(cand):
                    return cand.resolve()
        return None

    def _by_suffix(self, name: str) -> Path | None:
        parts = tuple(p for p in name.replace("\\", "/").split("/") if p)
        for n in range(min(_SUFFIX_DEPTH, len(parts)), 0, -1):
            hits = self.index.suffixes.get(parts[-n:])
            if hits:
                return hits[0].resolve() if len(hits) == 1 else None
        return None


class MapperCache:
    """Mappers that share one walk of the workspace per (workspace folders, skipped folders).

    Each `mapper()` is new (its own resolved names and `unmapped`, so every load reports its own
    files and sees files that appeared since); only the WorkspaceIndex is kept. The server calls
    `clear()` when the workspace may hold new files that matter: a new or changed run, a change of
    pathMappings, and an explicit harness.reload.
    """

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._items: dict[tuple, WorkspaceIndex] = {}

    def mapper(self, workspace: Iterable[Path], rules=(), services=(), go_env: GoEnv | None = None,
               skip: Iterable[Path] = ()) -> PathMapper:
        ws = tuple(Path(w).resolve() for w in workspace)
        skipped = tuple(Path(s).resolve() for s in skip)
        key = (ws, skipped)
        index = self._items.get(key)
        if index is None:
            index = self._items[key] = WorkspaceIndex.build(ws, skipped)
            while len(self._items) > self.keep:
                self._items.pop(next(iter(self._items)))
        return PathMapper.build(ws, rules, services, go_env, skipped, index)

    def clear(self) -> None:
        self._items.clear()


def _is_file(path: Path) -> bool:
    """A regular file here; False for any name the system refuses (too long, a NUL byte): file
    names come from profiles, which may hold anything."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False
