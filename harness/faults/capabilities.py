"""Probes of what this host can do for faults, each without touching anything real:
kernel features are tried inside a throw-away network namespace (`unshare --net`).

PROBES is the table: one record per capability (its check, and the remediation hint shown
when the check fails). Which capabilities a fault needs is declared by its backend
(harness/faults/backends). Results are cached per process.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import docker_engine as engine
from harness import proc
from harness.errors import CommandError
from harness.faults import registry
from harness.faults.backends import BY_NAME

T = 15.0


@dataclass(frozen=True)
class Capability:
    name: str
    ok: bool
    detail: str
    hint: str = ""


@dataclass(frozen=True)
class Probe:
    """How to find out one capability. check() -> (ok, detail); `ok_detail` replaces the
    detail when it is ok, `hint` is shown when it is not."""
    name: str
    label: str
    check: Callable[[], tuple[bool, str]]
    hint: str = ""
    ok_detail: str = ""
    local_only: bool = False     # what nsenter from this host needs: a remote engine's fault helper does not


def _scratch(argv: list[str], input: str | None = None) -> tuple[bool, str]:
    """Run argv in a new, empty network namespace; (ok, one-line output). On a remote engine the
    namespace is a throw-away fault helper's there: its kernel is the one that counts."""
    if not engine.current().local:
        return _on_engine(argv, input)
    try:
        res = proc.run(["unshare", "--net", "--", *argv], timeout=T, check=False, input=input)
    except CommandError as e:
        return False, e.what
    text = (res.stderr or res.stdout).strip().splitlines()
    return res.returncode == 0, (text[-1] if text else f"exit code {res.returncode}")


def _on_engine(argv: list[str], input: str | None) -> tuple[bool, str]:
    from harness.faults import helper
    try:
        import docker
        code, out = helper.probe(docker.from_env(timeout=30), argv, input)
    except Exception as e:  # noqa: BLE001 - any failure means the probe could not tell; it says why
        return False, f"the fault helper could not run on the engine: {type(e).__name__}: {str(e)[:120]}"
    text = out.strip().splitlines()
    return code == 0, "on the engine: " + (text[-1] if text else f"exit code {code}")


def version(argv: list[str]) -> tuple[bool, str]:
    """Run a tool's version command; (ok, its first line)."""
    try:
        res = proc.run(argv, timeout=T, check=False)
    except CommandError as e:
        return False, e.what
    text = (res.stdout or res.stderr).strip().splitlines()
    return res.returncode == 0, (text[0] if text else "")


def _root() -> tuple[bool, str]:
    ok = os.geteuid() == 0
    return ok, "running as root" if ok else f"uid {os.geteuid()}"


def _docker() -> tuple[bool, str]:
    try:
        import docker
        v = docker.from_env(timeout=10).version()
        return True, f"engine {v.get('Version')} (API {v.get('ApiVersion')})"
    except Exception as e:  # noqa: BLE001 - any failure means no usable engine; the probe reports it
        return False, f"{type(e).__name__}: {str(e)[:120]}"


def _compose() -> tuple[bool, str]:
    ok, d = version(["docker", "compose", "version"])
    if ok:
        return True, d
    ok, d = version(["docker-compose", "version", "--short"])
    return ok, f"docker-compose {d} (v1)" if ok else "neither `docker compose` nor docker-compose"


def _local_engine() -> tuple[bool, str]:
    eng = engine.current()
    if eng.local:
        return True, f"{eng.host}: the containers run on this host"
    return False, f"the Docker engine is remote ({eng.host}, from {eng.source}): its containers' processes " \
                  "and namespaces are not on this host"


def _cgroup_join() -> tuple[bool, str]:
    ok = os.geteuid() == 0 and Path("/sys/fs/cgroup").is_dir()
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    return ok, ("cgroup v2" if v2 else "cgroup v1") + (", writable" if ok else "")


def _tool(name: str, label: str, argv: list[str], hint: str) -> Probe:
    return Probe(name, label, functools.partial(version, argv), hint)


def _qdisc(kind: str, args: list[str], hint: str = "") -> Probe:
    argv = ["tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", kind, *args]
    return Probe(f"qdisc-{kind}", f"qdisc {kind}", functools.partial(_scratch, argv),
                 hint or f"the kernel lacks sch_{kind}: `modprobe sch_{kind}`", "available")


def _in_scratch(name: str, label: str, argv: list[str], ok_detail: str, hint: str,
                input: str | None = None) -> Probe:
    return Probe(name, label, functools.partial(_scratch, argv, input), hint, ok_detail)


_IPT = ["iptables", "-w", "5"]
_MIRRED = ("qdisc add dev lo handle ffff: ingress\n"
           "filter add dev lo parent ffff: protocol ip prio 1 u32 match u32 0 0 "
           "action mirred egress redirect dev lo\n")
_NO_NETEM = ("the kernel lacks sch_netem: `modprobe sch_netem` (package linux-modules-extra-$(uname -r)); "
             "meanwhile delay/jitter use backend: proxy, loss uses backend: iptables, rate uses backend: tbf")

PROBES: dict[str, Probe] = {p.name: p for p in (
    Probe("docker", "Docker engine", _docker, "start the Docker engine (dockerd) and check `docker info`"),
    Probe("compose", "compose (v2 plugin or v1)", _compose,
          "install the compose plugin (v2) or docker-compose"),
    Probe("root", "root", _root, "network and cgroup faults need root (sudo harness ...)", local_only=True),
    Probe("local-engine", "Docker engine on this host", _local_engine,
          "cpu/memory pressure, perf, off-CPU time and function latency need the engine on this host (on a "
          "remote engine tc, iptables and proxy faults go through the fault helper)"),
    Probe("nsenter", "nsenter", functools.partial(version, ["nsenter", "--version"]), "install util-linux",
          local_only=True),
    _tool("unshare", "unshare (probes)", ["unshare", "--version"], "install util-linux"),
    _tool("tc", "tc (iproute2)", ["tc", "-V"], "install iproute2"),
    _qdisc("netem", ["delay", "1ms"], _NO_NETEM),
    _qdisc("tbf", ["rate", "1mbit", "burst", "3200", "latency", "50ms"]),
    _qdisc("htb", ["default", "1"]),
    _in_scratch("qdisc-ingress", "qdisc ingress", ["tc", "qdisc", "add", "dev", "lo", "handle", "ffff:", "ingress"],
                "available", "the kernel lacks sch_ingress: `modprobe sch_ingress`"),
    _in_scratch("tc-filter", "u32 filter + mirred", ["tc", "-batch", "-"],
                "u32 classifier and mirred action available", "`modprobe cls_u32 act_mirred`", _MIRRED),
    _in_scratch("ifb", "IFB devices", ["ip", "link", "add", "hfprobe0", "type", "ifb"], "IFB devices can be created",
                "`modprobe ifb`; inbound rate limits need it (or use backend: proxy)"),
    _tool("iptables", "iptables", ["iptables", "-V"], "install iptables"),
    _in_scratch("iptables-statistic", "iptables statistic match",
                [*_IPT, "-A", "OUTPUT", "-m", "statistic", "--mode", "random", "--probability", "0.5",
                 "-j", "ACCEPT"], "statistic match available", "`modprobe xt_statistic`"),
    _in_scratch("iptables-reject", "iptables REJECT tcp-reset",
                [*_IPT, "-A", "OUTPUT", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
                "REJECT --reject-with tcp-reset available", "`modprobe ipt_REJECT`"),
    _in_scratch("iptables-redirect", "iptables nat REDIRECT",
                [*_IPT, "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-j", "REDIRECT", "--to-ports", "1"],
                "nat REDIRECT available", "`modprobe xt_REDIRECT iptable_nat`; the proxy backend needs it"),
    _tool("nft", "nftables", ["nft", "--version"], "install nftables (optional: iptables is used)"),
    Probe("cgroup-join", "cgroup join (pressure)", _cgroup_join,
          "pressure faults join the target's cgroup and need root"),
)}


@functools.cache
def run(p: Probe) -> Capability:
    """The probe's result (cached per process)."""
    ok, detail = p.check()
    return Capability(p.name, ok, (p.ok_detail or detail) if ok else detail, "" if ok else p.hint)


_BY_ENGINE: dict[tuple[str, str], Capability] = {}


def probe(name: str) -> Capability:
    """The capability on the current engine's host (cached per engine and process)."""
    p = PROBES[name]
    eng = engine.current()
    if p.local_only and not eng.local:
        return Capability(name, True, "not needed: on a remote engine the fault helper runs tc and iptables")
    key = (name, eng.host)
    if key not in _BY_ENGINE:
        _BY_ENGINE[key] = run.__wrapped__(p)
    return _BY_ENGINE[key]


def needs(backend: str, kind: str, direction: str, has_peer: bool) -> list[str]:
    """Capabilities a backend needs for one fault (as the backend declares them, and the kind
    for itself on that backend)."""
    k = registry.get(kind)
    own = k.backend_needs.get(backend, ()) if k else ()
    return list(dict.fromkeys([*BY_NAME[backend].needs_for(direction, has_peer), *own]))


def needs_local_engine(spec) -> bool:
    """Whether every backend this fault may use needs the Docker engine on this host."""
    kind = registry.get(spec.kind)
    names = list(kind.backends) if spec.backend == "auto" else [spec.backend]
    return all("local-engine" in BY_NAME[b].all_needs for b in names)


def missing(backend: str, kind: str, direction: str, has_peer: bool) -> list[Capability]:
    return [c for c in (probe(n) for n in needs(backend, kind, direction, has_peer)) if not c.ok]
