"""The `production:` section: what production showed during the incident, for the run to be
measured against (docs/production.md).

    production:
      service: api                     # the reproduction's service the profiles are of (default: the
                                       # load's target service, else the first service)
      phase: fault                     # the reproduction's phase standing for the incident (default: the last)
      baseline_phase: baseline         # ... and for production's normal (default: the scenario's baseline)
      profiles: {cpu: prod/cpu.pb.gz, block: prod/block.pb.gz}   # taken during the incident
      baseline_profiles: {cpu: prod/cpu-normal.pb.gz}            # taken before it (optional)
      latency: {p50: 12ms, p95: 80ms, p99: 250ms}
      error_rate: 2%
      rps: 400
      path_map: [{from: /build/src/app, to: .}]   # production's build paths -> the service's source

Profiles are checked at validate time (they must read as pprof). The run copies them into its
directory (production/), so `harness report` rebuilds the comparison from the run alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from harness.judge.expect import fraction
from harness.parse.context import ParseContext
from harness.parse.node import Node
from rundir.contract import PROFILE_KINDS

KEYS = ("service", "phase", "baseline_phase", "profiles", "baseline_profiles", "latency", "error_rate", "rps",
        "path_map")
LATENCY_KEYS = ("p50", "p95", "p99")
MAX_PROFILE_BYTES = 512 << 20


@dataclass(frozen=True)
class ProductionSpec:
    service: str | None = None
    phase: str | None = None
    baseline_phase: str | None = None
    profiles: tuple[tuple[str, str], ...] = ()            # kind -> absolute path
    baseline_profiles: tuple[tuple[str, str], ...] = ()
    latency_ms: tuple[tuple[str, float], ...] = ()        # "p99" -> ms
    error_rate: float | None = None
    rps: float | None = None
    path_map: tuple[tuple[str, str], ...] = ()            # production prefix -> folder under the service's source
    where: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def parse_production(node: Node | None, ctx: ParseContext) -> ProductionSpec | None:
    if node is None or node.value is None:
        return None
    k = node.keys(KEYS)
    if not ({"profiles", "latency", "error_rate", "rps"} & set(k)):
        raise node.error("gives nothing to compare the run with",
                         hint="add profiles: {cpu: prod-cpu.pb.gz}, latency: {p99: 250ms}, error_rate or rps")
    out: dict = {"where": str(node.mark)}
    if "service" in k:
        out["service"] = ctx.check_service(k["service"])
    for key in ("phase", "baseline_phase"):
        if key in k:
            out[key] = _phase(k[key], ctx)
    for key in ("profiles", "baseline_profiles"):
        if key in k:
            out[key] = _profiles(k[key], ctx)
    if "baseline_profiles" in k and "profiles" not in k:
        raise k["baseline_profiles"].error("baseline profiles compare the change only beside incident profiles",
                                           hint="add profiles: {cpu: ...} taken during the incident")
    if "latency" in k:
        out["latency_ms"] = tuple((q, v.as_duration(allow_zero=False) * 1000)
                                  for q, v in k["latency"].keys(LATENCY_KEYS).items())
    if "error_rate" in k:
        out["error_rate"] = fraction(k["error_rate"])
    if "rps" in k:
        out["rps"] = k["rps"].as_float(min=0, min_exclusive=True)
    if "path_map" in k:
        out["path_map"] = tuple(_mapping(m) for m in k["path_map"].as_list())
    return ProductionSpec(**out)


def _phase(node: Node, ctx: ParseContext) -> str:
    name = node.as_str()
    if name not in ctx.phase_names:
        raise node.error(f"unknown phase '{name}'", seen=f"phases in the scenario: {', '.join(ctx.phase_names)}")
    return name


def _profiles(node: Node, ctx: ParseContext) -> tuple[tuple[str, str], ...]:
    out = []
    for kind, child in node.keys(PROFILE_KINDS).items():
        path = ctx.resolve(child)
        if not path.is_file():
            raise child.error("profile file not found", seen=str(path), hint="paths are relative to the scenario file")
        from rundir.pprof import (  # only for a scenario with profiles: validate starts fast
            ProfileError,
            load_profile,
        )
        try:
            prof = load_profile(str(path), MAX_PROFILE_BYTES)
        except (ProfileError, OSError) as e:
            raise child.error("not a pprof profile", seen=str(e)[:200],
                              hint="save it with curl -o cpu.pb.gz http://host/debug/pprof/profile?seconds=30, "
                                   "or export pprof from your continuous profiler") from None
        if not prof.sample_types:
            raise child.error("the profile has no sample types", seen=str(path))
        out.append((kind, str(path)))
    return tuple(out)


def _mapping(node: Node) -> tuple[str, str]:
    m = node.keys(("from", "to"), required=("from", "to"))
    return m["from"].as_str().rstrip("/") or "/", m["to"].as_str(nonempty=False).strip("/").removeprefix("./")


SCHEMA: dict = {
    "type": "object", "additionalProperties": False,
    "description": "production's evidence of the incident, to measure the reproduction against "
                   "(docs/production.md)",
    "properties": {
        "service": {"type": "string"}, "phase": {"type": "string"}, "baseline_phase": {"type": "string"},
        "profiles": {"type": "object", "additionalProperties": False,
                     "properties": {k: {"type": "string"} for k in PROFILE_KINDS}},
        "baseline_profiles": {"type": "object", "additionalProperties": False,
                              "properties": {k: {"type": "string"} for k in PROFILE_KINDS}},
        "latency": {"type": "object", "additionalProperties": False,
                    "properties": {k: {} for k in LATENCY_KEYS}},
        "error_rate": {"type": ["number", "string"]},
        "rps": {"type": "number", "exclusiveMinimum": 0},
        "path_map": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                                "required": ["from", "to"],
                                                "properties": {"from": {"type": "string"},
                                                               "to": {"type": "string"}}}},
    },
}
