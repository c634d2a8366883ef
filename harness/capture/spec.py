"""The `captures:` section of a scenario: which profiles, traces, perf windows and stats to take.

    captures:
      pprof: [cpu, heap, allocs, goroutine, block, mutex]   # per phase, per service with pprof
      services: [api]                                       # default: every service with pprof
      phases: [baseline, fault]                             # default: every phase
      cpu_margin: 1s                                        # CPU window = phase duration - margin
      rates: {url: /debug/harness/rates, block: 10000, mutex: 10}
      trace: {phases: [fault], seconds: 3}
      perf: {phases: [baseline, fault], frequency: 99}
      stats_interval: 1s                                    # 0 turns the container stats off
      runtime: {interval: 1s}                               # false turns the runtime sampler off
      functions:                                            # per-call latency with uprobes (perf probe)
        services: [api]                                     # default: the services of `services:`
        functions: [main.handler, "example.com/x/store.(*Store).Get"]
        phases: [baseline, fault]                           # default: every phase
        raw: {phase: fault, seconds: 2}                     # optional: every call of a window, raw

A scenario without the section gets cpu, heap, allocs and goroutine per phase,
container stats every second and the runtime state (goroutines, heap, GC) every second.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.parse.context import ParseContext
from harness.parse.node import Node

PPROF_KINDS = ("cpu", "heap", "allocs", "goroutine", "block", "mutex")
DEFAULT_PPROF = ("cpu", "heap", "allocs", "goroutine")
TOP_KEYS = ("pprof", "services", "phases", "cpu_margin", "rates", "trace", "perf", "stats_interval",
            "fetch_timeout", "runtime", "functions")
MAX_FUNCTIONS = 64
RUNTIME_MIN_INTERVAL = 0.1


@dataclass(frozen=True)
class RatesSpec:
    """An endpoint of the service that turns on block/mutex profiling: GET <url>?block=N&mutex=M."""
    url: str
    block: int
    mutex: int


@dataclass(frozen=True)
class WindowSpec:
    """A trace or perf capture: in which phases, for how long (None = the phase minus the margin)."""
    phases: tuple[str, ...]
    seconds: float | None = None
    frequency: int = 99


@dataclass(frozen=True)
class RuntimeSpec:
    """The runtime sampler: goroutines, heap and GC from each service's pprof pages every interval."""
    interval: float = 1.0


@dataclass(frozen=True)
class FunctionsSpec:
    """Go functions whose every call is timed with uprobes (entry + every RET), per phase."""
    functions: tuple[str, ...]
    services: tuple[str, ...] | None = None         # None: the capture's services
    phases: tuple[str, ...] | None = None           # None: every phase
    raw_phase: str | None = None                    # keep every call of this window, raw
    raw_seconds: float = 0.0
    where: str = ""                                 # file:line of `functions:` (for errors at run time)


@dataclass(frozen=True)
class CaptureSpec:
    pprof: tuple[str, ...] = DEFAULT_PPROF
    services: tuple[str, ...] | None = None
    phases: tuple[str, ...] | None = None
    cpu_margin: float = 1.0
    rates: RatesSpec | None = None
    trace: WindowSpec | None = None
    perf: WindowSpec | None = None
    stats_interval: float = 1.0
    fetch_timeout: float = 10.0
    runtime: RuntimeSpec | None = RuntimeSpec()
    functions: FunctionsSpec | None = None
    # the sections a capture kind parses itself (Capture.key -> what its parse returned)
    own: Mapping[str, object] = field(default_factory=dict)

    def wants_service(self, name: str) -> bool:
        return self.services is None or name in self.services

    def wants_phase(self, name: str) -> bool:
        return self.phases is None or name in self.phases


def parse_captures(node: Node | None, ctx: ParseContext, owned: Mapping | None = None) -> CaptureSpec:
    """`owned`: key -> the capture kind that parses that section itself (Capture.key, .parse);
    harness/capture/sections.py passes every kind's."""
    if node is None or node.value is None:
        return CaptureSpec()
    owned = owned or {}
    keys = node.keys((*TOP_KEYS, *owned))
    return CaptureSpec(
        own={key: kind.parse(keys[key], ctx) for key, kind in owned.items() if key in keys},
        pprof=_pprof(keys["pprof"]) if "pprof" in keys else DEFAULT_PPROF,
        services=_names(keys["services"], ctx.check_service) if "services" in keys else None,
        phases=_phases(keys["phases"], ctx) if "phases" in keys else None,
        cpu_margin=keys["cpu_margin"].as_duration(max=60) if "cpu_margin" in keys else 1.0,
        rates=_rates(keys["rates"]) if "rates" in keys else None,
        trace=_window(keys["trace"], ctx, with_frequency=False) if "trace" in keys else None,
        perf=_window(keys["perf"], ctx, with_frequency=True) if "perf" in keys else None,
        stats_interval=keys["stats_interval"].as_duration(max=60) if "stats_interval" in keys else 1.0,
        fetch_timeout=keys["fetch_timeout"].as_duration(min=1, max=300) if "fetch_timeout" in keys
        else 10.0,
        runtime=_runtime(keys["runtime"]) if "runtime" in keys else RuntimeSpec(),
        functions=_functions(keys["functions"], ctx) if "functions" in keys else None,
    )


def _functions(node: Node, ctx: ParseContext) -> FunctionsSpec:
    """`functions: {functions: [...], services: [...], phases: [...], raw: {phase, seconds}}`; whether
    each function exists is checked against the service's binary when the run starts."""
    keys = node.keys(["functions", "services", "phases", "raw"], required=["functions"])
    names = []
    for item in keys["functions"].as_list(allow_single=True):
        name = item.as_str().strip()
        if not name or any(c.isspace() for c in name) or name.startswith(("-", "+")):
            raise item.error("expected a Go function's full name", seen=repr(item.value),
                             hint='like main.handler or "example.com/x/store.(*Store).Get"')
        if name not in names:
            names.append(name)
    if len(names) > MAX_FUNCTIONS:
        raise keys["functions"].error(f"at most {MAX_FUNCTIONS} functions", seen=f"{len(names)} functions",
                                      hint="each adds probes to every call; pick the ones the incident is about")
    raw_phase, raw_seconds = None, 0.0
    if "raw" in keys:
        raw = keys["raw"].keys(["phase", "seconds"], required=["phase"])
        raw_phase = _phase_name(raw["phase"], ctx)
        raw_seconds = raw["seconds"].as_duration(min=0.1, max=60) if "seconds" in raw else 2.0
    return FunctionsSpec(
        functions=tuple(names),
        services=_names(keys["services"], ctx.check_service) if "services" in keys else None,
        phases=_phases(keys["phases"], ctx) if "phases" in keys else None,
        raw_phase=raw_phase, raw_seconds=raw_seconds, where=str(node.mark))


def _pprof(node: Node) -> tuple[str, ...]:
    kinds = []
    for item in node.as_list(allow_single=True):
        kind = item.as_enum(PPROF_KINDS)
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def _names(node: Node, check) -> tuple[str, ...]:
    return tuple(dict.fromkeys(check(item) for item in node.as_list(allow_single=True)))


def _phases(node: Node, ctx: ParseContext) -> tuple[str, ...]:
    return _names(node, lambda item: _phase_name(item, ctx))


def _phase_name(node: Node, ctx: ParseContext) -> str:
    import difflib

    name = node.as_str()
    if name not in ctx.phase_names:
        close = difflib.get_close_matches(name, ctx.phase_names, n=1, cutoff=0.6)
        raise node.error(f"unknown phase '{name}'",
                         seen=f"phases in the scenario: {', '.join(ctx.phase_names)}",
                         hint=f"did you mean '{close[0]}'?" if close else "use a phase name from phases:")
    return name


def _rates(node: Node) -> RatesSpec:
    keys = node.keys(["url", "block", "mutex"], required=["url"])
    url = keys["url"].as_str()
    if not url.startswith("/"):
        raise keys["url"].error("expected a path on the pprof listener, like "
                                "/debug/harness/rates", seen=repr(url))
    block = keys["block"].as_int(min=0) if "block" in keys else 10000
    mutex = keys["mutex"].as_int(min=0) if "mutex" in keys else 10
    return RatesSpec(url, block, mutex)


def _window(node: Node, ctx: ParseContext, *, with_frequency: bool) -> WindowSpec:
    allowed = ["phases", "seconds"] + (["frequency"] if with_frequency else [])
    if isinstance(node.value, bool):
        return WindowSpec(phases=ctx.phase_names) if node.as_bool() else None
    keys = node.keys(allowed)
    phases = _phases(keys["phases"], ctx) if "phases" in keys else ctx.phase_names
    seconds = keys["seconds"].as_duration(min=1, max=600) if "seconds" in keys else None
    freq = keys["frequency"].as_int(min=1, max=10000) if "frequency" in keys else 99
    return WindowSpec(phases=phases, seconds=seconds, frequency=freq)


def _runtime(node: Node) -> RuntimeSpec | None:
    """`runtime: false` (off), `runtime: true` (every second) or `runtime: {interval: 2s}`."""
    if isinstance(node.value, bool):
        return RuntimeSpec() if node.as_bool() else None
    if not isinstance(node.value, dict):
        raise node.expected("true, false or a mapping like {interval: 1s}")
    keys = node.keys(["interval"])
    if "interval" not in keys:
        return RuntimeSpec()
    return RuntimeSpec(interval=keys["interval"].as_duration(min=RUNTIME_MIN_INTERVAL, max=60))


_NAMES = {"type": "array", "items": {"type": "string"}}
_WINDOW = {
    "oneOf": [
        {"type": "boolean"},
        {"type": "object", "additionalProperties": False,
         "properties": {"phases": _NAMES, "seconds": {"type": ["number", "string"]},
                        "frequency": {"type": "integer", "minimum": 1, "maximum": 10000}}},
    ]
}

CAPTURES_SCHEMA = {
    "type": "object",
    "description": "What to capture per phase: pprof profiles, runtime traces, perf, container stats.",
    "additionalProperties": False,
    "properties": {
        "pprof": {"type": "array", "items": {"enum": list(PPROF_KINDS)},
                  "default": list(DEFAULT_PPROF)},
        "services": _NAMES,
        "phases": _NAMES,
        "cpu_margin": {"type": ["number", "string"], "description": "CPU window = phase minus this",
                       "default": "1s"},
        "rates": {"type": "object", "additionalProperties": False, "required": ["url"],
                  "description": "endpoint that calls SetBlockProfileRate/SetMutexProfileFraction",
                  "properties": {"url": {"type": "string"}, "block": {"type": "integer", "minimum": 0},
                                 "mutex": {"type": "integer", "minimum": 0}}},
        "trace": _WINDOW,
        "perf": _WINDOW,
        "stats_interval": {"type": ["number", "string"], "default": "1s"},
        "fetch_timeout": {"type": ["number", "string"], "default": "10s"},
        "functions": {
            "type": "object", "additionalProperties": False, "required": ["functions"],
            "description": "per-call latency of Go functions with uprobes (an entry probe and one per RET)",
            "properties": {"functions": _NAMES, "services": _NAMES, "phases": _NAMES,
                           "raw": {"type": "object", "additionalProperties": False, "required": ["phase"],
                                   "properties": {"phase": {"type": "string"},
                                                  "seconds": {"type": ["number", "string"]}}}}},
        "runtime": {
            "description": "goroutines, heap in use and GC sampled from each service's pprof pages; "
                           "false turns it off",
            "default": {"interval": "1s"},
            "oneOf": [{"type": "boolean"},
                      {"type": "object", "additionalProperties": False,
                       "properties": {"interval": {"type": ["number", "string"],
                                                   "description": "between samples, at least 100ms",
                                                   "default": "1s"}}}]},
    },
}
