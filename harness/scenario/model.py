"""The scenario: a typed, frozen model of a scenario file.

The envelope (name, compose, prepare, services, phases, runs_dir) is read here; each
other section is handed to the part of the harness that owns it (load, faults,
captures, expect), so every part checks its own parameters with the YAML position
in every message. The YAML node and parse-context layer below all of them is
harness/parse.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.capture.spec import CaptureSpec, parse_captures
from harness.errors import ScenarioError
from harness.faults.spec import FaultSpec, parse_fault
from harness.load.spec import LoadSpec, parse_load
from harness.parse.context import ParseContext
from harness.parse.node import Node, load_yaml
from harness.report.expect import ExpectSpec, parse_expect

MAX_SCENARIO_BYTES = 1 << 20
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
CPUSET_RE = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")

TOP_KEYS = ["name", "description", "compose", "prepare", "services", "load", "phases", "duration",
            "warmup", "baseline", "captures", "expect", "runs_dir", "allow_external_targets"]


@dataclass(frozen=True)
class Limits:
    memory: int | None = None          # bytes
    memory_swap: int | None = None     # bytes (memory + swap), -1 = unlimited
    cpus: float | None = None
    cpuset: str | None = None
    pids: int | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Readiness:
    http: str | None                   # path for an HTTP GET that must answer 2xx/3xx
    port: int                          # container port checked (published on loopback)
    timeout: float
    interval: float = 0.25


@dataclass(frozen=True)
class PprofSpec:
    port: int
    path: str = "/debug/pprof"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    limits: Limits = field(default_factory=Limits)
    ports: tuple[int, ...] = ()        # container ports published on 127.0.0.1
    pprof: PprofSpec | None = None
    ready: Readiness | None = None
    source: Path | None = None         # Go source root on the host (defaults to the build context)
    cap_add: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrepareStep:
    cmd: tuple[str, ...]
    cwd: Path
    timeout: float
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Phase:
    name: str
    start: float
    duration: float
    faults: tuple[FaultSpec, ...] = ()

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class ComposeInfo:
    files: tuple[Path, ...]
    project_dir: Path
    services: tuple[str, ...]
    build_contexts: tuple[tuple[str, Path], ...]   # service -> build context directory


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    file: Path
    compose: ComposeInfo
    prepare: tuple[PrepareStep, ...]
    services: dict[str, ServiceSpec]
    phases: tuple[Phase, ...]
    baseline_phase: str | None
    warmup: float
    load: LoadSpec
    captures: CaptureSpec
    expect: ExpectSpec
    runs_dir: Path
    allow_external_targets: bool
    text: str                          # the scenario text as read
    runs_dir_explicit: bool = False    # runs_dir came from the scenario (it then wins over HARNESS_RUNS_DIR)

    @property
    def duration(self) -> float:
        return max(p.end for p in self.phases)

    def fault_specs(self) -> list[FaultSpec]:
        return [f for p in self.phases for f in p.faults]


# -- entry points ---------------------------------------------------------------------------

def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise ScenarioError with file:line:col on any mistake."""
    p = Path(path)
    shown = str(path)
    if not p.exists():
        raise ScenarioError("scenario file not found", where=shown,
                            hint="give the path to a .yaml scenario, e.g. scenarios/demo.yaml")
    if p.is_dir():
        raise ScenarioError("expected a scenario file, got a directory", where=shown)
    if not p.is_file():
        raise ScenarioError("expected a scenario file, got a special file (a device, pipe or socket)",
                            where=shown, hint="give the path to a .yaml file")
    try:
        size = p.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ScenarioError(f"the scenario file is larger than {MAX_SCENARIO_BYTES >> 20} MiB",
                                where=shown, seen=f"{size:,} bytes")
        data = p.read_bytes()
    except OSError as e:
        raise ScenarioError(f"cannot read the scenario file: {e.strerror or e}", where=shown) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ScenarioError("the scenario file is not UTF-8 text", where=f"{shown}:{line}:{col}",
                            seen=f"byte 0x{data[e.start]:02x}", hint="save the file as UTF-8") from None
    root = load_yaml(text, shown)
    return parse_scenario(root, p.resolve(), text)


def parse_scenario(root: Node, file: Path, text: str) -> Scenario:
    top = root.keys(TOP_KEYS, required=["name", "compose", "load"])
    name = _name(top["name"])
    scenario_dir = file.parent
    allow_ext = top["allow_external_targets"].as_bool() if "allow_external_targets" in top else False
    compose = _compose(top["compose"], scenario_dir)
    phases_raw = _phase_frames(top)
    ctx = ParseContext(file=root.mark.file, scenario_dir=scenario_dir, services=compose.services,
                       phase_names=tuple(n for n, _, _, _ in phases_raw),
                       allow_external_targets=allow_ext)
    services = _services(top.get("services"), ctx, compose)
    phases = _phases(phases_raw, ctx)
    baseline = _baseline(top.get("baseline"), phases)
    return Scenario(
        name=name,
        description=top["description"].as_str(nonempty=False) if "description" in top else "",
        file=file,
        compose=compose,
        prepare=_prepare(top.get("prepare"), ctx),
        services=services,
        phases=phases,
        baseline_phase=baseline,
        warmup=top["warmup"].as_duration(max=600) if "warmup" in top else 0.0,
        load=parse_load(top["load"], ctx),
        captures=parse_captures(top.get("captures"), ctx),
        expect=parse_expect(top.get("expect"), ctx),
        runs_dir=ctx.resolve(top["runs_dir"].as_str()) if "runs_dir" in top
        else (scenario_dir.parent / "runs" if scenario_dir.name == "scenarios" else scenario_dir / "runs"),
        allow_external_targets=allow_ext,
        text=text,
        runs_dir_explicit="runs_dir" in top,
    )


# -- envelope parts ---------------------------------------------------------------------------

def _name(node: Node) -> str:
    name = node.as_str()
    if not NAME_RE.match(name):
        raise node.error("expected lowercase letters, digits, '-', '_' or '.', at most 63",
                         seen=repr(name), hint="it names the run directory and the compose project")
    return name


def _compose(node: Node, scenario_dir: Path) -> ComposeInfo:
    if isinstance(node.value, (str, list)):
        file_nodes = node.as_list(allow_single=True)
        project_node = None
    else:
        keys = node.keys(["files", "project_dir"], required=["files"])
        file_nodes = keys["files"].as_list(allow_single=True)
        project_node = keys.get("project_dir")
    if not file_nodes:
        raise node.error("expected at least one compose file")
    files = []
    for fn in file_nodes:
        p = Path(fn.as_str()).expanduser()
        p = p if p.is_absolute() else (scenario_dir / p).resolve()
        if not p.is_file():
            raise fn.error("compose file not found", seen=str(p),
                           hint="paths are relative to the scenario file's folder")
        files.append(p)
    project_dir = files[0].parent
    if project_node is not None:
        project_dir = (scenario_dir / project_node.as_str()).resolve()
        if not project_dir.is_dir():
            raise project_node.error("folder not found", seen=str(project_dir))
    services: dict[str, Path | None] = {}
    for fn, p in zip(file_nodes, files):
        services.update(_compose_services(fn, p, project_dir))
    if not services:
        raise node.error("the compose file(s) define no services", seen=", ".join(map(str, files)))
    contexts = tuple((s, c) for s, c in services.items() if c is not None)
    return ComposeInfo(tuple(files), project_dir, tuple(services), contexts)


def _compose_services(node: Node, path: Path, project_dir: Path) -> dict[str, Path | None]:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ScenarioError(f"compose file is not valid YAML: {getattr(e, 'problem', e)}", where=where,
                            hint=f"referenced from {node.mark}") from None
    except OSError as e:
        raise node.error(f"cannot read compose file: {e}", own_path=False) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise ScenarioError("compose file has no 'services:' mapping", where=str(path),
                            hint=f"referenced from {node.mark}")
    out: dict[str, Path | None] = {}
    for name, svc in doc["services"].items():
        build = (svc or {}).get("build") if isinstance(svc, dict) else None
        ctx_dir = None
        if isinstance(build, str):
            ctx_dir = build
        elif isinstance(build, dict):
            ctx_dir = build.get("context", ".")
        out[str(name)] = (project_dir / ctx_dir).resolve() if ctx_dir is not None else None
    return out


def _prepare(node: Node | None, ctx: ParseContext) -> tuple[PrepareStep, ...]:
    if node is None:
        return ()
    steps = []
    for item in node.as_list():
        if isinstance(item.value, list):
            keys = {"cmd": item}
        else:
            keys = item.keys(["cmd", "cwd", "timeout", "env"], required=["cmd"])
        cmd_nodes = keys["cmd"].as_list()
        if not cmd_nodes:
            raise keys["cmd"].error("expected a non-empty argument list",
                                    hint="write the command as a list: [go, build, -o, app, .]")
        cmd = tuple(str(c.value) if isinstance(c.value, (int, float)) else c.as_str() for c in cmd_nodes)
        cwd = ctx.resolve(keys["cwd"].as_str()) if "cwd" in keys else ctx.scenario_dir
        if "cwd" in keys and not cwd.is_dir():
            raise keys["cwd"].error("folder not found", seen=str(cwd))
        timeout = keys["timeout"].as_duration(allow_zero=False, max=3600) if "timeout" in keys else 300.0
        env = ()
        if "env" in keys:
            env = tuple((k, str(v.value)) for k, v in keys["env"].as_map().items())
        steps.append(PrepareStep(cmd, cwd, timeout, env))
    return tuple(steps)


SERVICE_KEYS = ["limits", "ports", "pprof", "ready", "source", "cap_add"]
LIMIT_KEYS = ["memory", "memory_swap", "cpus", "cpuset", "pids"]


def _services(node: Node | None, ctx: ParseContext, compose: ComposeInfo) -> dict[str, ServiceSpec]:
    out: dict[str, ServiceSpec] = {}
    contexts = dict(compose.build_contexts)
    if node is not None:
        for name, snode in node.as_map().items():
            key_node = Node(name, node.key_mark(name), f"services.{name}")
            ctx.check_service(key_node)
            out[name] = _service(name, snode, ctx, contexts.get(name))
    for name in compose.services:
        if name not in out:
            out[name] = ServiceSpec(name=name, source=contexts.get(name))
    return out


def _service(name: str, node: Node, ctx: ParseContext, build_ctx: Path | None) -> ServiceSpec:
    keys = node.keys(SERVICE_KEYS) if node.value is not None else {}
    limits = _limits(keys["limits"]) if "limits" in keys else Limits()
    ports = tuple(p.as_int(min=1, max=65535) for p in keys["ports"].as_list(allow_single=True)) \
        if "ports" in keys else ()
    pprof = _pprof(keys["pprof"], ports) if "pprof" in keys else None
    ready = _ready(keys["ready"], ports) if "ready" in keys else None
    source = build_ctx
    if "source" in keys:
        source = ctx.resolve(keys["source"].as_str())
        if not source.is_dir():
            raise keys["source"].error("folder not found", seen=str(source),
                                       hint="the Go source root of the service, relative to the scenario")
    cap_add = tuple(c.as_str() for c in keys["cap_add"].as_list(allow_single=True)) if "cap_add" in keys else ()
    return ServiceSpec(name, limits, ports, pprof, ready, source, cap_add)


def _limits(node: Node) -> Limits:
    k = node.keys(LIMIT_KEYS)
    memory = k["memory"].as_size(min=6 << 20) if "memory" in k else None
    swap = None
    if "memory_swap" in k:
        swap = -1 if k["memory_swap"].value == -1 else k["memory_swap"].as_size(min=6 << 20)
        if memory is not None and swap != -1 and swap < memory:
            raise k["memory_swap"].error("limits.memory_swap: must be at least limits.memory "
                                         "(it is memory plus swap)",
                                         seen=f"{swap} < {memory} bytes", own_path=False)
    cpus = k["cpus"].as_float(min=0.01, max=1024) if "cpus" in k else None
    cpuset = None
    if "cpuset" in k:
        cpuset = str(k["cpuset"].value)
        if not CPUSET_RE.match(cpuset):
            raise k["cpuset"].error("expected CPU numbers like 0, 0-1 or 0,2",
                                    seen=repr(k["cpuset"].value))
    pids = k["pids"].as_int(min=1) if "pids" in k else None
    return Limits(memory, swap, cpus, cpuset, pids)


def _pprof(node: Node, ports: tuple[int, ...]) -> PprofSpec:
    if isinstance(node.value, bool) or node.value is None:
        if not node.as_bool():
            raise node.error("to turn pprof off, leave the key out")
        if not ports:
            raise node.error("'true' needs a port in 'ports:'",
                             hint="write pprof: {port: 6060}")
        return PprofSpec(port=ports[0])
    if isinstance(node.value, int):
        return PprofSpec(port=node.as_int(min=1, max=65535))
    k = node.keys(["port", "path"], required=["port"])
    path = k["path"].as_str() if "path" in k else "/debug/pprof"
    if not path.startswith("/"):
        raise k["path"].error("expected a URL path starting with '/'", seen=repr(path))
    return PprofSpec(port=k["port"].as_int(min=1, max=65535), path=path.rstrip("/"))


def _ready(node: Node, ports: tuple[int, ...]) -> Readiness:
    k = node.keys(["http", "port", "timeout", "interval"])
    http = None
    if "http" in k:
        http = k["http"].as_str()
        if not http.startswith("/"):
            raise k["http"].error("expected a URL path starting with '/'", seen=repr(http))
    if "port" in k:
        port = k["port"].as_int(min=1, max=65535)
    elif ports:
        port = ports[0]
    else:
        raise node.error("needs a port (or a port in the service's 'ports:')")
    timeout = k["timeout"].as_duration(allow_zero=False, max=3600) if "timeout" in k else 60.0
    interval = k["interval"].as_duration(allow_zero=False, max=60) if "interval" in k else 0.25
    return Readiness(http, port, timeout, interval)


PHASE_KEYS = ["name", "duration", "start", "faults"]


def _phase_frames(top: dict[str, Node]) -> list[tuple[str, float, float, Node | None]]:
    """Names and windows of the phases (faults parsed later, when the context is known)."""
    if "phases" in top and "duration" in top:
        raise top["duration"].error("give either 'duration' or 'phases', not both",
                                    hint="the run lasts until the end of the last phase")
    if "phases" not in top:
        dur = top["duration"].as_duration(allow_zero=False, max=24 * 3600) if "duration" in top else 30.0
        return [("main", 0.0, dur, None)]
    items = top["phases"].as_list()
    if not items:
        raise top["phases"].error("expected at least one phase")
    frames: list[tuple[str, float, float, Node | None]] = []
    seen: dict[str, Node] = {}
    t = 0.0
    for item in items:
        k = item.keys(PHASE_KEYS, required=["name", "duration"])
        name = _name(k["name"])
        if name in seen:
            raise k["name"].error(f"duplicate phase name '{name}'",
                                  seen=f"first used at line {seen[name].mark.line}")
        seen[name] = k["name"]
        start = k["start"].as_duration(max=24 * 3600) if "start" in k else t
        if start < t - 1e-9:
            raise k["start"].error("phase starts before the previous one ends",
                                   seen=f"start {start:g}s, previous phase ends at {t:g}s",
                                   hint="phases run one after another; leave 'start' out to follow on")
        dur = k["duration"].as_duration(allow_zero=False, max=24 * 3600)
        frames.append((name, start, dur, k.get("faults")))
        t = start + dur
    return frames


def _phases(frames, ctx: ParseContext) -> tuple[Phase, ...]:
    phases = []
    for name, start, dur, faults_node in frames:
        faults = ()
        if faults_node is not None:
            faults = tuple(parse_fault(f, ctx) for f in faults_node.as_list())
        phases.append(Phase(name, start, dur, faults))
    return tuple(phases)


def _baseline(node: Node | None, phases: tuple[Phase, ...]) -> str | None:
    if node is not None:
        return node.as_enum([p.name for p in phases])
    if len(phases) < 2:
        return None
    return next((p.name for p in phases if not p.faults), phases[0].name)
