"""Production's profiles (copied into the run's production/ folder) read as own-code tables of the
service they stand for, and compared with the run's phases (harness/judge/fidelity.py).

Production binaries are built elsewhere, so their file names are mapped onto the service's own
files: first by `path_map` (a production prefix -> a folder under the service's source), then by
the service's own source root or module path (a -trimpath or container build), then by the
longest own file of the run's profiles that the name ends with.
"""
from __future__ import annotations

import posixpath

from harness.report import profiles
from rundir.pprof import ProfileError, load_profile, own_costs


class PathMap:
    def __init__(self, service: dict, path_map: list, known: set[str]):
        self.service = service
        self.pairs = [(str(a).rstrip("/") or "/", str(b)) for a, b in path_map or []]
        self.is_own = profiles.own_matcher(service)
        self.known = sorted(known, key=len, reverse=True)
        self._cache: dict[str, str | None] = {}

    def __call__(self, filename: str) -> str | None:
        if filename not in self._cache:
            self._cache[filename] = self._map(filename)
        return self._cache[filename]

    def _map(self, f: str) -> str | None:
        for prefix, to in self.pairs:
            if f == prefix or f.startswith(prefix.rstrip("/") + "/"):
                rel = f[len(prefix):].lstrip("/")
                return posixpath.normpath(posixpath.join(to, rel)) if to else rel
        if self.is_own(f) and f.endswith(".go"):
            return profiles.short(f, self.service)
        return next((k for k in self.known if f.endswith("/" + k) or f == k), None)


def inputs(run, tables: dict, services: dict) -> tuple[dict, dict, dict, dict] | None:
    """What the fidelity judgement reads (harness/judge/fidelity.py): the manifest's production block,
    production's tables {"incident"|"baseline": {kind: table}}, the service's tables {phase: {kind:
    table}} and its manifest entry; None for a run without production evidence."""
    prod = run.manifest.get("production")
    if not isinstance(prod, dict):
        return None
    name = prod.get("service")
    service = services.get(name) or {}
    repro: dict[str, dict] = {p["name"]: {} for p in run.phases}
    for (phase, svc, kind), table in tables.items():
        if svc == name:
            repro.setdefault(phase, {})[kind] = table
    known = {e["file"] for by_kind in repro.values() for t in by_kind.values() for e in t.get("lines", [])}
    rename = PathMap(service, prod.get("path_map") or [], known)
    prod_tables = {side: _tables(run, prod.get(key) or {}, service, rename)
                   for side, key in (("incident", "profiles"), ("baseline", "baseline_profiles"))}
    own = profiles.own_matcher(service)
    for by_kind in repro.values():
        for kind, table in list(by_kind.items()):
            if kind in (prod.get("profiles") or {}) and table.get("path"):
                by_kind[kind] = {**table, "own_count": own_count(run.path / table["path"], own)}
    return prod, prod_tables, repro, service


def own_count(path, is_own) -> int | None:
    """How many samples (events) of a profile fall in own code, when its first sample type counts
    them (samples, contentions, objects, goroutines): how much a shape rests on."""
    try:
        prof = load_profile(str(path))
    except (ProfileError, OSError):
        return None
    if not prof.sample_types or prof.sample_types[0][1] != "count":
        return None
    return sum(c.own for c in own_costs(prof, 0, is_own).values())


def _tables(run, paths: dict, service: dict, rename: PathMap) -> dict:
    out = {}
    for kind, rel in paths.items():
        try:
            out[kind] = profiles.profile_table(str(run.path / rel), service, None, rename=rename)
            out[kind]["seconds"] = out[kind].get("duration_s")
            out[kind]["own_count"] = own_count(run.path / rel, lambda f: rename(f) is not None)
        except (ProfileError, OSError) as e:
            run.problems.append(f"production {kind} profile {rel}: {e}")
    return out
