"""The scenario: a typed, frozen model of a scenario file.

The envelope (name, compose, prepare, services, phases, runs_dir) is read here; each
other section is handed to the part of the harness that owns it (load, faults,
captures, expect), so every part checks its own parameters with the YAML position
in every message. The YAML node and parse-context layer below all of them is
harness/parse.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.capture.sections import parse_captures
from harness.capture.spec import CaptureSpec
from harness.docker_engine import check_host
from harness.errors import HarnessError, ScenarioError
from harness.faults.spec import FaultSpec, parse_fault
from harness.judge.expect import ExpectSpec, parse_expect
from harness.judge.production import ProductionSpec, parse_production
from harness.load.spec import LoadSpec, parse_load
from harness.parse.context import ParseContext
from harness.parse.node import Node, load_yaml

MAX_SCENARIO_BYTES = 1 << 20
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
CPUSET_RE = re.compile(r"^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$")   # no CPU has 6 digits

TOP_KEYS = ["name", "description", "compose", "prepare", "services", "load", "phases", "duration",
            "warmup", "baseline", "captures", "expect", "production", "runs_dir", "docker", "allow_external_targets",
            "allow_host_namespaces", "allow_public_ports"]


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

    @property
    def published(self) -> tuple[int, ...]:
        """Container ports the harness publishes on 127.0.0.1: `ports` and the pprof port."""
        extra = (self.pprof.port,) if self.pprof and self.pprof.port not in self.ports else ()
        return self.ports + extra


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
    # service -> why it shares a namespace of the host ("network_mode: host at compose.yml:7")
    host_access: tuple[tuple[str, tuple[str, ...]], ...] = ()


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
    allow_host_namespaces: bool = False
    allow_public_ports: bool = False
    warnings: tuple[str, ...] = ()     # legal but risky choices, shown by validate and run
    production: ProductionSpec | None = None   # production's evidence of the incident (docs/production.md)
    docker_host: str | None = None     # docker: {host}: the engine (harness/docker_engine.py)
    docker_context: str | None = None  # docker: {context}
    docker_where: str = "docker"       # file:line:col of the docker: section

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
    try:
        exists = p.exists()
    except OSError as e:                    # a name too long, no permission on a folder above it
        raise ScenarioError(f"cannot read the scenario file: {e.strerror or e}", where=shown) from None
    if not exists:
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
    allow = {k: top[k].as_bool() if k in top else False
             for k in ("allow_external_targets", "allow_host_namespaces", "allow_public_ports")}
    compose = _compose(top["compose"], scenario_dir, allow["allow_public_ports"])
    phases_raw = _phase_frames(top)
    ctx = ParseContext(file=root.mark.file, scenario_dir=scenario_dir, services=compose.services,
                       phase_names=tuple(n for n, _, _, _ in phases_raw),
                       allow_external_targets=allow["allow_external_targets"],
                       allow_host_namespaces=allow["allow_host_namespaces"],
                       host_access=dict(compose.host_access))
    services = _services(top.get("services"), ctx, compose)
    ctx = dataclasses.replace(ctx, ports={n: s.published for n, s in services.items()})
    phases = _phases(phases_raw, ctx)
    baseline = _baseline(top.get("baseline"), phases)
    expect = parse_expect(top.get("expect"), ctx)
    production = parse_production(top.get("production"), ctx)
    if production is None and expect.matches_production():
        raise ScenarioError("matches_production needs production's evidence",
                            where=expect.matches_production()[0].where,
                            hint="add a production: section with profiles (docs/production.md)")
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
        expect=expect,
        production=production,
        runs_dir=ctx.resolve(top["runs_dir"]) if "runs_dir" in top
        else (scenario_dir.parent / "runs" if scenario_dir.name == "scenarios" else scenario_dir / "runs"),
        allow_external_targets=allow["allow_external_targets"],
        text=text,
        runs_dir_explicit="runs_dir" in top,
        allow_host_namespaces=allow["allow_host_namespaces"],
        allow_public_ports=allow["allow_public_ports"],
        warnings=_warnings(services, compose, allow["allow_host_namespaces"]),
        **_docker(top.get("docker")),
    )


def _docker(node: Node | None) -> dict:
    """docker: {host: tcp://HOST:PORT} or {context: NAME}: the engine, unless the command line or
    $HARNESS_DOCKER_HOST says otherwise (harness/docker_engine.py)."""
    if node is None:
        return {}
    keys = node.keys(("host", "context"))
    if len(keys) != 1:
        raise node.error("give one of 'host' and 'context'", seen=", ".join(keys) or "neither",
                         hint="docker: {host: tcp://build-host:2376} or docker: {context: build-host}")
    if "host" in keys:
        try:
            host = check_host(keys["host"].as_str(), str(keys["host"].mark))
        except HarnessError as e:
            raise keys["host"].error(e.what, seen=e.seen, hint=e.hint) from None
        return {"docker_host": host, "docker_where": str(node.mark)}
    return {"docker_context": keys["context"].as_str(), "docker_where": str(node.mark)}


def _warnings(services: dict[str, ServiceSpec], compose: ComposeInfo, host_ok: bool) -> tuple[str, ...]:
    out = []
    for name, spec in services.items():
        broad = [c for c in spec.cap_add if c.upper().removeprefix("CAP_") in ("ALL", "SYS_ADMIN")]
        if broad:
            out.append(f"services.{name}.cap_add gives the container {', '.join(broad)}: it can change "
                       "this machine's kernel settings; add only the capabilities the service needs")
    if host_ok:
        for name, why in compose.host_access:
            out.append(f"service '{name}' shares this machine's namespaces ({'; '.join(why)}): with "
                       "allow_host_namespaces: true, network faults on it act on this machine's own network")
    return tuple(out)


# -- envelope parts ---------------------------------------------------------------------------

def _name(node: Node) -> str:
    name = node.as_str()
    if not NAME_RE.match(name):
        raise node.error("expected lowercase letters, digits, '-', '_' or '.', at most 63",
                         seen=repr(name), hint="it names the run directory and the compose project")
    return name


def _compose(node: Node, scenario_dir: Path, public_ok: bool = False) -> ComposeInfo:
    if isinstance(node.value, (str, list)):
        file_nodes = node.as_list(allow_single=True)
        project_node = None
    else:
        keys = node.keys(["files", "project_dir"], required=["files"])
        file_nodes = keys["files"].as_list(allow_single=True)
        project_node = keys.get("project_dir")
    if not file_nodes:
        raise node.error("expected at least one compose file")
    files = [_compose_file(fn, scenario_dir) for fn in file_nodes]
    project_dir = files[0].parent
    if project_node is not None:
        project_dir = project_node.as_path(scenario_dir)
        if not project_dir.is_dir():
            raise project_node.error("folder not found", seen=str(project_dir))
    found: dict[str, ComposeService] = {}
    for fn, p in zip(file_nodes, files):
        found.update(_compose_services(fn, p, project_dir))
    if not found:
        raise node.error("the compose file(s) define no services", seen=", ".join(map(str, files)))
    if not public_ok:
        _refuse_public_ports(found)
    contexts = tuple((s.name, s.context) for s in found.values() if s.context is not None)
    host = _host_access(found)
    return ComposeInfo(tuple(files), project_dir, tuple(found), contexts,
                       tuple((n, host[n]) for n in found if host[n]))


def _compose_file(fn: Node, scenario_dir: Path) -> Path:
    p = fn.as_path(scenario_dir)
    if p.is_dir():
        inside = sorted(c.name for c in p.iterdir() if c.name in COMPOSE_NAMES)
        raise fn.error("expected a compose file, got a folder", seen=str(p),
                       hint=f"name the file: {fn.value.rstrip('/')}/{inside[0]}" if inside else
                       "name the compose file itself (docker-compose.yml)")
    if not p.is_file():
        raise fn.error("compose file not found", seen=str(p),
                       hint="paths are relative to the scenario file's folder")
    return p


COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
# the service names Compose accepts
COMPOSE_SERVICE_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclass(frozen=True)
class ComposeService:
    """What the harness needs to know of one service of the user's compose file."""
    name: str
    where: str                                  # compose.yml:LINE of the service
    context: Path | None                        # build context
    network_mode: str | None = None
    network_mode_at: str = ""                   # compose.yml:LINE of network_mode
    host_flags: tuple[str, ...] = ()            # "pid: host", "privileged: true" (with their line)
    public_ports: tuple[tuple[str, str], ...] = ()   # (port as written, compose.yml:LINE)


def _compose_services(node: Node, path: Path, project_dir: Path) -> dict[str, ComposeService]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ScenarioError(f"compose file is not valid YAML: {getattr(e, 'problem', e)}", where=where,
                            hint=f"referenced from {node.mark}") from None
    except (OSError, RecursionError) as e:
        raise node.error(f"cannot read compose file {path}: {getattr(e, 'strerror', None) or e}",
                         own_path=False) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise ScenarioError("compose file has no 'services:' mapping", where=str(path),
                            hint=f"referenced from {node.mark}")
    marks = _compose_marks(text, path)
    out: dict[str, ComposeService] = {}
    for name, svc in doc["services"].items():
        where = marks.get((str(name), ""), str(path))
        if not isinstance(name, str) or not COMPOSE_SERVICE_RE.match(name):
            raise ScenarioError("Compose refuses this service name", where=where, seen=repr(name),
                                hint="use letters, digits, '_', '.' and '-', starting with a letter or digit")
        out[name] = _compose_service(name, svc if isinstance(svc, dict) else {}, project_dir, marks, where)
    return out


def _compose_service(name: str, svc: dict, project_dir: Path, marks: dict, where: str) -> ComposeService:
    build = svc.get("build")
    ctx_dir = build if isinstance(build, str) else (build.get("context", ".") if isinstance(build, dict) else None)
    try:
        context = (project_dir / str(ctx_dir)).resolve() if ctx_dir is not None else None
    except (ValueError, OSError, RuntimeError) as e:
        raise ScenarioError("the service's build context is not a usable path", where=marks.get((name, "build"), where),
                            seen=f"{str(ctx_dir)[:80]!r}: {e}", hint="give a folder relative to the compose file") from None
    at = lambda key: marks.get((name, key), where)  # noqa: E731
    flags = []
    if str(svc.get("pid", "")) == "host":
        flags.append(f"pid: host at {at('pid')}")
    if svc.get("privileged") is True:
        flags.append(f"privileged: true at {at('privileged')}")
    ports = svc.get("ports") if isinstance(svc.get("ports"), list) else []
    public = tuple((_port_text(p), marks.get((name, f"ports[{i}]"), at("ports")))
                   for i, p in enumerate(ports) if _is_public(p))
    mode = svc.get("network_mode")
    return ComposeService(name, where, context, str(mode) if mode else None, at("network_mode"),
                          tuple(flags), public)


def _compose_marks(text: str, path: Path) -> dict[tuple[str, str], str]:
    """compose.yml:LINE of every service, of its keys and of its port entries."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return {}
    if not isinstance(root, yaml.MappingNode):
        return {}
    services = next((v for k, v in root.value if k.value == "services"), None)
    out: dict[tuple[str, str], str] = {}
    for k, v in services.value if isinstance(services, yaml.MappingNode) else ():
        name = str(k.value)
        out[(name, "")] = f"{path}:{k.start_mark.line + 1}"
        for kk, vv in v.value if isinstance(v, yaml.MappingNode) else ():
            out[(name, str(kk.value))] = f"{path}:{kk.start_mark.line + 1}"
            if kk.value == "ports" and isinstance(vv, yaml.SequenceNode):
                for i, item in enumerate(vv.value):
                    out[(name, f"ports[{i}]")] = f"{path}:{item.start_mark.line + 1}"
    return out


def _port_text(p) -> str:
    return str(p) if not isinstance(p, dict) else ", ".join(f"{k}: {v}" for k, v in p.items())


def _is_public(p) -> bool:
    """A compose `ports:` entry that publishes on every address of the machine (no host IP, or
    0.0.0.0 / ::). Short syntax: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]."""
    if isinstance(p, dict):
        ip = str(p.get("host_ip") or "")
    else:
        text = str(p)
        ip = text.rsplit(":", 2)[0] if text.count(":") >= 2 and not text.startswith("[") else ""
        if text.startswith("["):
            ip = text[1:text.index("]")] if "]" in text else ""
    ip = ip.strip("[]")
    return not (ip.startswith("127.") or ip in ("::1", "localhost"))


def _refuse_public_ports(found: dict[str, ComposeService]) -> None:
    for svc in found.values():
        for text, where in svc.public_ports:
            raise ScenarioError(f"compose service '{svc.name}' publishes port '{text}' on every address of "
                                "this machine", where=where,
                                seen="a port without a host address (or 0.0.0.0) is reachable from "
                                     "other machines, pprof endpoints included",
                                hint=f"bind it to loopback ('127.0.0.1:{text}'), or remove it and list the "
                                     f"container port under services.{svc.name}.ports in the scenario (the "
                                     "harness publishes those on 127.0.0.1), or set allow_public_ports: true "
                                     "at the top of the scenario")


def _host_access(found: dict[str, ComposeService]) -> dict[str, tuple[str, ...]]:
    """Why each service shares a namespace of the host (empty: it does not). A service on
    `network_mode: service:X` shares X's network namespace."""
    out = {}
    for name, svc in found.items():
        why, seen, cur = list(svc.host_flags), {name}, svc
        while cur is not None and cur.network_mode:
            if cur.network_mode == "host":
                why.append(f"network_mode: host at {cur.network_mode_at}")
                break
            mode = cur.network_mode
            nxt = mode.removeprefix("service:") if mode.startswith("service:") else None
            cur = found.get(nxt) if nxt and nxt not in seen else None
            seen.add(nxt)
        out[name] = tuple(why)
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
        cwd = ctx.resolve(keys["cwd"]) if "cwd" in keys else ctx.scenario_dir
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
        source = ctx.resolve(keys["source"])
        if not source.is_dir():
            raise keys["source"].error("folder not found", seen=str(source),
                                       hint="the Go source root of the service, relative to the scenario")
    cap_add = tuple(_capability(c) for c in keys["cap_add"].as_list(allow_single=True)) if "cap_add" in keys else ()
    return ServiceSpec(name, limits, ports, pprof, ready, source, cap_add)


# Linux capabilities (capabilities(7)); Compose and Docker take them with or without CAP_
CAPABILITIES = frozenset("""AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND BPF CHECKPOINT_RESTORE CHOWN
    DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE MAC_ADMIN
    MAC_OVERRIDE MKNOD NET_ADMIN NET_BIND_SERVICE NET_BROADCAST NET_RAW PERFMON SETFCAP SETGID SETPCAP
    SETUID SYSLOG SYS_ADMIN SYS_BOOT SYS_CHROOT SYS_MODULE SYS_NICE SYS_PACCT SYS_PTRACE SYS_RAWIO
    SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG WAKE_ALARM ALL""".split())


def _capability(node: Node) -> str:
    cap = node.as_str()
    bare = cap.upper().removeprefix("CAP_")
    if bare not in CAPABILITIES:
        close = difflib.get_close_matches(bare, CAPABILITIES, n=1, cutoff=0.6)
        raise node.error(f"unknown Linux capability '{cap}'", seen="see capabilities(7)",
                         hint=f"did you mean '{close[0]}'?" if close else "e.g. NET_ADMIN, SYS_PTRACE")
    return cap


def _limits(node: Node) -> Limits:
    k = node.keys(LIMIT_KEYS)
    memory = k["memory"].as_size(min=6 << 20, max=INT64_MAX) if "memory" in k else None
    swap = None
    if "memory_swap" in k:
        swap = -1 if k["memory_swap"].value == -1 else k["memory_swap"].as_size(min=6 << 20, max=INT64_MAX)
        if memory is not None and swap != -1 and swap < memory:
            raise k["memory_swap"].error("limits.memory_swap: must be at least limits.memory "
                                         "(it is memory plus swap)",
                                         seen=f"{swap} < {memory} bytes", own_path=False)
    cpus = _cpus(k["cpus"]) if "cpus" in k else None
    cpuset = _cpuset(k["cpuset"]) if "cpuset" in k else None
    pids = k["pids"].as_int(min=1, max=INT64_MAX) if "pids" in k else None
    return Limits(memory, swap, cpus, cpuset, pids)


INT64_MAX = (1 << 63) - 1


def host_cpus() -> int:
    return os.cpu_count() or 1


def _cpus(node: Node) -> float:
    cpus = node.as_float(min=0.01, max=1024)
    if cpus > host_cpus():
        raise node.error(f"more CPUs than this machine has ({host_cpus()})", seen=f"{cpus:g}",
                         hint=f"Docker refuses a CPU limit above the host's CPUs; use at most {host_cpus()}")
    return cpus


def _cpuset(node: Node) -> str:
    cpuset = str(node.value)
    if isinstance(node.value, bool) or not CPUSET_RE.match(cpuset):
        raise node.error("expected CPU numbers like 0, 0-1 or 0,2", seen=repr(node.value)[:80])
    for part in cpuset.split(","):
        lo, _, hi = part.partition("-")
        if hi and int(hi) < int(lo):
            raise node.error(f"the range '{part}' is reversed", seen=repr(cpuset), hint=f"write {hi}-{lo}")
        if int(hi or lo) >= host_cpus():
            raise node.error(f"CPU {hi or lo} does not exist on this machine", seen=repr(cpuset),
                             hint=f"this machine has CPUs 0-{host_cpus() - 1}")
    return cpuset


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
    ids: dict[str, str] = {}
    for name, start, dur, faults_node in frames:
        faults = ()
        if faults_node is not None:
            faults = tuple(parse_fault(f, ctx) for f in faults_node.as_list())
        _check_faults(faults, ids)
        phases.append(Phase(name, start, dur, faults))
    return tuple(phases)


def _check_faults(faults: tuple[FaultSpec, ...], ids: dict[str, str]) -> None:
    """Fault ids are unique in the scenario (they name the fault's kernel objects and records);
    a phase has one fault of a kind per target and traffic (a second would replace the first)."""
    seen: dict[tuple, FaultSpec] = {}
    for f in faults:
        if f.id in ids:
            raise ScenarioError(f"duplicate fault id '{f.id}'", where=f.where, seen=f"first used at {ids[f.id]}",
                                hint="give each fault its own id")
        ids[f.id] = f.where
        for d in ("egress", "ingress") if f.direction == "both" else (f.direction,):
            first = seen.setdefault((f.kind, f.target, f.peer, d), f)
            if first is f:
                continue
            raise ScenarioError(f"a second '{f.kind}' fault on '{f.target}' for the same traffic in one phase",
                                where=f.where, seen=f"the first is '{first.id}' at {first.where}",
                                hint="combine them into one fault, give them different peers, or put "
                                     "them in different phases")


def _baseline(node: Node | None, phases: tuple[Phase, ...]) -> str | None:
    if node is not None:
        return node.as_enum([p.name for p in phases])
    if len(phases) < 2:
        return None
    return next((p.name for p in phases if not p.faults), phases[0].name)
