"""Typed records of summary.json: what the verdict and `expect` judge, read once per summary.

summary.json is data other tools write too (older harness versions, hand-edited files in
tests and bug reports): every reader here takes what it finds and gives a missing or
mistyped field its empty value (None, 0, an empty tuple), so judging never fails on a key.
The summary itself is built by harness/report/summary.py; docs/report.md describes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOAD_KEYS = ("p50_ms", "p95_ms", "p99_ms", "error_rate", "rps", "target_rps")


def _dict(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list:
    return v if isinstance(v, list) else []


def _num(v: Any) -> float | None:
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


@dataclass(frozen=True)
class Load:
    """A phase's load figures (summary.load_stats)."""
    requests: float | None = None
    failures: float = 0
    error_rate: float | None = None
    rps: float | None = None
    target_rps: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    approx: bool | None = None
    generator: dict = field(default_factory=dict)   # summary's load.generator: seconds the generator was the limit

    @classmethod
    def of(cls, d: Any) -> Load:
        d = _dict(d)
        return cls(requests=_num(d.get("requests")), failures=_num(d.get("failures")) or 0,
                   error_rate=_num(d.get("error_rate")), rps=_num(d.get("rps")),
                   target_rps=_num(d.get("target_rps")), p50_ms=_num(d.get("p50_ms")),
                   p95_ms=_num(d.get("p95_ms")), p99_ms=_num(d.get("p99_ms")), max_ms=_num(d.get("max_ms")),
                   approx=d.get("approx") if isinstance(d.get("approx"), bool) else None,
                   generator=_dict(d.get("generator")))

    def get(self, key: str):
        return getattr(self, key, None)

    def generator_limited(self) -> tuple[int, int, list[str]] | None:
        """(seconds the load generator was the limit, seconds of the phase, its reasons), or
        None when it never was."""
        g = self.generator
        n = _num(g.get("saturated_s"))
        if not n:
            return None
        reasons = [str(r) for r in _list(g.get("reasons"))]
        return int(n), int(_num(g.get("seconds")) or n), reasons

    def sent_nothing(self) -> bool:
        """A phase whose load issued no request (exact figures only)."""
        return self.approx is False and self.requests == 0

    def kept_up(self) -> float | None:
        """Completions per second, as a share of the target rate when the load has one (an open
        model's phases may ask for different rates), else as they are."""
        if self.rps is None:
            return None
        return self.rps / self.target_rps if self.target_rps else self.rps

    def evidence(self) -> dict:
        return {k: self.get(k) for k in LOAD_KEYS}


@dataclass(frozen=True)
class Container:
    """One service's container statistics in a phase."""
    cpu_pct_mean: float | None = None
    throttled_ms: float | None = None
    throttled_periods: float = 0
    periods: float = 0
    mem_peak: float | None = None
    mem_limit: float | None = None
    mem_peak_share: float | None = None
    oom_kills: int = 0
    restarts: int = 0

    @classmethod
    def of(cls, d: Any) -> Container:
        d = _dict(d)
        return cls(cpu_pct_mean=_num(d.get("cpu_pct_mean")), throttled_ms=_num(d.get("throttled_ms")),
                   throttled_periods=_num(d.get("throttled_periods")) or 0, periods=_num(d.get("periods")) or 0,
                   mem_peak=_num(d.get("mem_peak")), mem_limit=_num(d.get("mem_limit")),
                   mem_peak_share=_num(d.get("mem_peak_share")), oom_kills=int(_num(d.get("oom_kills")) or 0),
                   restarts=int(_num(d.get("restarts")) or 0))

    def throttled_share(self, seconds: float) -> float | None:
        """The share of the CFS periods in which the container was throttled (throttled time per
        second of the phase, at most 1, for stats without period counts); None without either."""
        if self.periods:
            return self.throttled_periods / self.periods
        if self.throttled_ms is None:
            return None
        return min(1.0, self.throttled_ms / 1000 / seconds)


@dataclass(frozen=True)
class Runtime:
    """One service's runtime state in a phase (the runtime sampler)."""
    goroutines_max: float | None = None
    gc_per_s: float | None = None
    gc_pause_ms_per_s: float | None = None

    @classmethod
    def of(cls, d: Any) -> Runtime:
        d = _dict(d)
        return cls(goroutines_max=_num(_dict(d.get("goroutines")).get("max")), gc_per_s=_num(d.get("gc_per_s")),
                   gc_pause_ms_per_s=_num(d.get("gc_pause_ms_per_s")))


@dataclass(frozen=True)
class _Place:
    """Where an own line is: its file as the report shows it, its number and function, and the
    file as the profile names it (for an editor to find)."""
    file: str
    line: int
    function: str | None = None
    path: str | None = None

    @property
    def at(self) -> tuple[str, int]:
        return self.file, self.line

    @staticmethod
    def place(d: dict) -> dict | None:
        """The place fields of an entry, or None when it names no file and line."""
        if _str(d.get("file")) is None or not isinstance(d.get("line"), int):
            return None
        return {"file": d["file"], "line": d["line"], "function": _str(d.get("function")), "path": _str(d.get("path"))}


@dataclass(frozen=True)
class Line(_Place):
    """An own line of a profile table: its value, share of the profile and value per second."""
    value: float = 0
    share: float = 0.0
    rate: float | None = None

    @classmethod
    def of(cls, d: Any) -> Line | None:
        d = _dict(d)
        where = cls.place(d)
        return None if where is None else cls(**where, value=_num(d.get("value")) or 0,
                                              share=_num(d.get("share")) or 0.0, rate=_num(d.get("rate")))


def _lines(v: Any, of=Line.of) -> tuple:
    return tuple(x for x in (of(e) for e in _list(v)) if x is not None)


@dataclass(frozen=True)
class Function:
    """An own function of a profile table, with its value and share of the profile."""
    function: str
    value: float = 0
    share: float = 0.0

    @classmethod
    def of(cls, d: Any) -> Function | None:
        d = _dict(d)
        if _str(d.get("function")) is None:
            return None
        return cls(function=d["function"], value=_num(d.get("value")) or 0, share=_num(d.get("share")) or 0.0)


@dataclass(frozen=True)
class Table:
    """A profile's own-code table in a phase (harness/report/profiles.py): lines and functions by
    value, most first."""
    unit: str | None = None
    total: float = 0
    own_total: float = 0
    seconds: float | None = None
    lines: tuple[Line, ...] = ()
    functions: tuple[Function, ...] = ()

    @classmethod
    def of(cls, d: Any) -> Table | None:
        if not isinstance(d, dict):
            return None
        return cls(unit=_str(d.get("unit")), total=_num(d.get("total")) or 0,
                   own_total=_num(d.get("own_total")) or 0, seconds=_num(d.get("seconds")),
                   lines=_lines(d.get("lines")), functions=_lines(d.get("functions"), Function.of))

    def per_second(self) -> float | None:
        """The profile's total per second of its window (None for a snapshot)."""
        return self.total / self.seconds if self.seconds else None

    def line(self, at: tuple[str, int]) -> Line | None:
        return next((e for e in self.lines if e.at == at), None)


@dataclass(frozen=True)
class WaitLine(_Place):
    """An own line's waiting in a trace window (harness/report/waits.py), in seconds per second."""
    per_s: float = 0.0
    wait: str | None = None

    @classmethod
    def of(cls, d: Any) -> WaitLine | None:
        d = _dict(d)
        where = cls.place(d)
        return None if where is None else cls(**where, per_s=_num(d.get("per_s")) or 0.0,
                                              wait=_str(d.get("class")))


@dataclass(frozen=True)
class Waits:
    """A service's waits in a trace window: its own lines, most waiting first."""
    lines: tuple[WaitLine, ...] = ()

    @classmethod
    def of(cls, d: Any) -> Waits | None:
        if not isinstance(d, dict):
            return None
        return cls(lines=_lines(d.get("lines"), WaitLine.of))


@dataclass(frozen=True)
class Sched:
    """Scheduler latency in a trace window: each runnable -> running wait of a goroutine (None
    for a trace without any)."""
    p50_ms: float | None = None
    p99_ms: float | None = None

    @classmethod
    def of(cls, trace_summary: Any) -> Sched | None:
        d = _dict(_dict(trace_summary).get("sched_latency"))
        if not d.get("count"):
            return None
        return cls(p50_ms=_num(d.get("p50_ms")), p99_ms=_num(d.get("p99_ms")))


@dataclass(frozen=True)
class Phase:
    name: str
    start_s: float = 0.0
    end_s: float = 0.0
    finished: bool | None = None
    fault_ids: tuple[str, ...] = ()
    load: Load = field(default_factory=Load)
    containers: dict[str, Container] = field(default_factory=dict)
    profiles: dict[str, dict[str, Table]] = field(default_factory=dict)
    runtime: dict[str, Runtime] = field(default_factory=dict)
    waits: dict[str, Waits] = field(default_factory=dict)
    probed: dict[str, list[dict]] = field(default_factory=dict)   # function latency entries per service
    sched: dict[str, Sched] = field(default_factory=dict)         # scheduler latency per traced service

    @classmethod
    def of(cls, d: Any) -> Phase:
        d = _dict(d)
        profiles = {}
        for svc, kinds in _dict(d.get("profiles")).items():
            tables = {k: t for k, t in ((k, Table.of(v)) for k, v in _dict(kinds).items()) if t is not None}
            profiles[svc] = tables
        waits = {svc: w for svc, w in ((s, Waits.of(v)) for s, v in _dict(d.get("waits")).items()) if w is not None}
        return cls(name=str(d.get("name")), start_s=_num(d.get("start_s")) or 0.0, end_s=_num(d.get("end_s")) or 0.0,
                   finished=d.get("finished") if isinstance(d.get("finished"), bool) else None,
                   fault_ids=tuple(str(f) for f in _list(d.get("faults"))), load=Load.of(d.get("load")),
                   containers={s: Container.of(v) for s, v in _dict(d.get("containers")).items()},
                   profiles=profiles, runtime={s: Runtime.of(v) for s, v in _dict(d.get("runtime")).items()},
                   waits=waits,
                   sched={s: x for s, x in ((s, Sched.of(v)) for s, v in _dict(d.get("traces")).items()) if x},
                   probed={s: [e for e in _list(v) if isinstance(e, dict)] for s, v in _dict(d.get("functions")).items()})

    @property
    def seconds(self) -> float:
        return max(1e-3, self.end_s - self.start_s)

    def services(self) -> set[str]:
        return set(self.containers) | set(self.profiles)

    def table(self, service: str, kind: str) -> Table | None:
        return self.profiles.get(service, {}).get(kind)

    def container(self, service: str) -> Container:
        return self.containers.get(service) or Container()

    def runtime_of(self, service: str) -> Runtime:
        return self.runtime.get(service) or Runtime()

    def waits_of(self, service: str) -> Waits | None:
        return self.waits.get(service)


@dataclass(frozen=True)
class Grown:
    """A row of a change's grown lines: its key (file:line), shares and rates before and after."""
    key: str
    function: str | None = None
    share_before: float | None = None
    share_after: float | None = None
    rate_before: float | None = None
    rate_after: float | None = None

    @classmethod
    def of(cls, d: Any) -> Grown | None:
        d = _dict(d)
        if _str(d.get("key")) is None:
            return None
        return cls(key=d["key"], function=_str(d.get("function")), share_before=_num(d.get("share_before")),
                   share_after=_num(d.get("share_after")), rate_before=_num(d.get("rate_before")),
                   rate_after=_num(d.get("rate_after")))


@dataclass(frozen=True)
class Change:
    """What changed in one service's profile of one kind, from the baseline to a phase."""
    service: str | None
    kind: str | None
    phase: str | None
    grew: tuple[Grown, ...] = ()

    @classmethod
    def of(cls, d: Any) -> Change:
        d = _dict(d)
        return cls(service=_str(d.get("service")), kind=_str(d.get("kind")), phase=_str(d.get("phase")),
                   grew=_lines(_dict(d.get("lines")).get("grew"), Grown.of))


@dataclass(frozen=True)
class Fault:
    id: str | None
    kind: str
    target: str | None
    phase: str | None = None
    params: dict = field(default_factory=dict)
    peer: dict = field(default_factory=dict)

    @classmethod
    def of(cls, d: Any) -> Fault:
        d = _dict(d)
        return cls(id=_str(d.get("id")), kind=_str(d.get("kind")) or "", target=_str(d.get("target")),
                   phase=_str(d.get("phase")), params=_dict(d.get("params")), peer=_dict(d.get("peer")))


@dataclass(frozen=True)
class Summary:
    baseline: str | None
    phases: tuple[Phase, ...]
    changes: tuple[Change, ...] = ()
    faults: tuple[Fault, ...] = ()
    source_roots: dict[str, str | None] = field(default_factory=dict)
    service_names: tuple[str, ...] = ()

    @classmethod
    def of(cls, d: Any) -> Summary:
        d = _dict(d)
        services = _dict(d.get("services"))
        return cls(baseline=_str(d.get("baseline_phase")), phases=tuple(Phase.of(p) for p in _list(d.get("phases"))),
                   changes=tuple(Change.of(c) for c in _list(d.get("changes"))),
                   faults=tuple(Fault.of(f) for f in _list(d.get("faults"))),
                   source_roots={s: _str(_dict(v).get("source_root")) for s, v in services.items()},
                   service_names=tuple(services))

    def phase(self, name: str | None) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    def change(self, service: str, kind: str, phase: str) -> Change | None:
        return next((c for c in self.changes if (c.service, c.kind, c.phase) == (service, kind, phase)), None)

    def faults_in(self, phase: Phase) -> list[Fault]:
        ids = set(phase.fault_ids)
        return [f for f in self.faults if f.id in ids or f.phase == phase.name]
