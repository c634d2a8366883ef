"""What the engine hands to the parts of a run: the clock, the run directory, a live view
of the environment's services, and thread-safe logs of events and artifacts.

Every time in a run is seconds since t0 on CLOCK_MONOTONIC (see docs/DESIGN.md).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Clock:
    mono_t0: float
    wall_t0: float

    @classmethod
    def start(cls) -> Clock:
        wall = time.time()
        mono = time.monotonic()
        return cls(mono_t0=mono, wall_t0=wall)

    def now(self) -> float:
        """Seconds since t0."""
        return time.monotonic() - self.mono_t0

    def at(self, mono: float) -> float:
        """A CLOCK_MONOTONIC reading (seconds) as seconds since t0."""
        return mono - self.mono_t0

    def to_json(self) -> dict:
        iso = datetime.fromtimestamp(self.wall_t0, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return {"wall_t0": self.wall_t0, "wall_t0_iso": iso, "mono_t0": self.mono_t0}


@dataclass(frozen=True)
class ServiceInfo:
    """A running service of the environment, as the run sees it."""
    name: str
    container_id: str
    container_name: str
    pid: int                       # host PID of the container's main process (for nsenter, perf)
    ips: dict[str, str]            # network name -> container IP on that network
    published: dict[int, int]      # container port -> host port on `address`
    pprof_url: str | None          # http://<address>:<port>/debug/pprof, or None
    image: str = ""
    address: str = "127.0.0.1"     # where published ports are reached: the engine's (harness/docker_engine.py)
    exposed: dict[int, tuple[str, int]] = field(default_factory=dict)   # container port -> (address,
    #   host port) published on a named interface too (load.target.publish, for remote workers)
    limits: dict[str, Any] = field(default_factory=dict)
    source_root: str | None = None
    module: str | None = None

    @property
    def ip(self) -> str | None:
        return next(iter(self.ips.values()), None)


@dataclass(frozen=True)
class PhaseWindow:
    name: str
    start_s: float
    end_s: float

    @property
    def duration(self) -> float:
        return self.end_s - self.start_s


class EventLog:
    """Events on the run clock; thread-safe; also appended to events.jsonl as they happen."""

    def __init__(self, clock: Clock, path: Path | None = None):
        self._clock = clock
        self._lock = threading.Lock()
        self._events: list[dict] = []
        self._path = path

    def add(self, kind: str, detail: str = "", *, t_s: float | None = None, **extra: Any) -> dict:
        ev = {"t_s": round(self._clock.now() if t_s is None else t_s, 6), "kind": kind, "detail": detail}
        ev.update(extra)
        with self._lock:
            self._events.append(ev)
            if self._path is not None:
                with open(self._path, "a") as f:
                    f.write(json.dumps(ev) + "\n")
        logging.getLogger("harness.events").info("%7.2fs %s %s", ev["t_s"], kind, detail)
        return ev

    def all(self) -> list[dict]:
        with self._lock:
            return sorted(self._events, key=lambda e: e["t_s"])


class ArtifactLog:
    """Artifacts written into the run directory (paths relative to it); thread-safe."""

    def __init__(self, run_dir: Path):
        self._run_dir = run_dir
        self._lock = threading.Lock()
        self._items: list[dict] = []

    def add(self, kind: str, path: Path | str, *, service: str | None = None,
            phase: str | None = None, start_s: float | None = None, end_s: float | None = None,
            sample_types: list[str] | None = None, **extra: Any) -> dict:
        p = Path(path)
        rel = p.relative_to(self._run_dir) if p.is_absolute() else p
        item = {"kind": kind, "service": service, "phase": phase, "path": rel.as_posix(),
                "start_s": None if start_s is None else round(start_s, 6),
                "end_s": None if end_s is None else round(end_s, 6),
                "sample_types": sample_types or []}
        item.update(extra)
        with self._lock:
            self._items.append(item)
        return item

    def all(self) -> list[dict]:
        with self._lock:
            return list(self._items)


class Services(Mapping[str, ServiceInfo]):
    """The running services by name, as a read-only mapping. The environment owns the live
    one (its values are re-read after a fault that gives a container a new process); a part
    asks it when it needs a PID, an IP or a port, and never keeps the answer across a fault."""

    def __init__(self, initial: Mapping[str, ServiceInfo] | None = None):
        self._lock = threading.Lock()
        self._items: dict[str, ServiceInfo] = dict(initial or {})

    def __getitem__(self, name: str) -> ServiceInfo:
        with self._lock:
            return self._items[name]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._items))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def put(self, info: ServiceInfo) -> None:
        """For the owner: a service's current facts."""
        with self._lock:
            self._items[info.name] = info


@dataclass(frozen=True)
class RunContext:
    """The immutable facts of a run, handed to every part (phases go to the parts that need
    them, when they are known)."""
    run_id: str
    run_dir: Path
    clock: Clock
    services: Services
    events: EventLog
    artifacts: ArtifactLog
    project: str                   # compose project name (unique per run); also the label value

    @classmethod
    def of(cls, run_id: str, run_dir: Path, clock: Clock, services: Mapping[str, ServiceInfo] | None = None,
           project: str | None = None, events_file: Path | None = None) -> RunContext:
        """A context with fresh logs; `services` may be a plain dict (tests, benchmarks)."""
        live = services if isinstance(services, Services) else Services(services)
        return cls(run_id, Path(run_dir), clock, live, EventLog(clock, events_file), ArtifactLog(Path(run_dir)),
                   project or run_id)
