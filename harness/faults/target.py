"""The resolved target of a fault: container, interface, peer address; and the names the
fault's own kernel objects get (chain, qdisc handle, IFB device, proxy ports)."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness import docker_engine as engine
from harness.errors import HarnessError


@dataclass(frozen=True)
class Target:
    fault_id: str
    service: str
    container: str                 # container id
    run_dir: Path
    tag: str                       # 8 hex digits, unique per run and fault
    dev: str = "eth0"              # interface inside the target facing the peer
    ip: str | None = None          # target's IP on that interface
    peer_ip: str | None = None
    peer_port: int | None = None
    protocol: str = "all"          # tcp | udp | all
    own_port: bool = False         # peer_port is a port of the target itself
    pid: int = 0                   # host PID of the container's main process
    root_tag: str = "00000000"     # 8 hex digits, unique per run and target (shared tc objects)
    ips: tuple[str, ...] = ()      # every IPv4 address of the target (one per network)
    capture_ports: tuple[int, ...] = ()   # the target's ports the harness reads (pprof): never faulted
    host_config: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def chain(self) -> str:
        return "HF" + self.tag                       # iptables chain prefix (<= 28 chars with suffix)

    @property
    def handle(self) -> str:
        return "%x:" % (0x100 + int(self.tag[:4], 16) % 0xfe00)   # never 0: or ffff:

    @property
    def root_handle(self) -> str:
        """The run's htb root on this target (shared by its tc faults); never a fault's handle."""
        h = 0x100 + int(self.root_tag[:4], 16) % 0xfe00
        if "%x:" % h == self.handle:
            h = 0x100 + (h - 0x100 + 1) % 0xfe00
        return "%x:" % h

    @property
    def shared_ifb(self) -> str:
        return "hf" + self.root_tag                  # 10 chars, below IFNAMSIZ

    @property
    def class_minor(self) -> str:
        return "%x" % (2 + int(self.tag[4:], 16) % 0xfff0)

    @property
    def filter_prio(self) -> int:
        return 2 + int(self.tag[:4], 16) % 60000

    @property
    def proxy_ports(self) -> tuple[int, int]:
        base = 20000 + (int(self.tag, 16) % 10000) * 2
        return base, base + 1                        # (outbound listener, inbound listener)

    @property
    def comment(self) -> str:
        return f"harness fault {self.tag}"

    @property
    def has_peer(self) -> bool:
        return self.peer_ip is not None or self.peer_port is not None


def make_tag(run_id: str, fault_id: str) -> str:
    return hashlib.sha1(f"{run_id}/{fault_id}".encode()).hexdigest()[:8]


def resolve(rc, spec, docker_client) -> Target:
    """Build the Target from the run context and the live container (current IPs)."""
    info = rc.services.get(spec.target)
    if info is None:
        raise HarnessError(f"fault {spec.id}: the target service '{spec.target}' is not running",
                           where=spec.where or None, seen=f"services: {', '.join(rc.services) or 'none'}")
    # one look at the live container: its IPs, PID and limits as they are now (a fault before
    # this one may have restarted it or changed its limits)
    attrs = _attrs(docker_client, info.container_id)
    nets = _networks(attrs) or dict(info.ips)
    pid = int(attrs.get("State", {}).get("Pid") or info.pid or 0) if engine.current().local else 0   # another host's
    tag = make_tag(rc.run_id, spec.id)
    base = dict(fault_id=spec.id, service=spec.target, container=info.container_id, run_dir=rc.run_dir,
                tag=tag, pid=pid, root_tag=make_tag(rc.run_id, f"tc-root/{spec.target}"),
                host_config=dict(attrs.get("HostConfig") or {}), ips=tuple(nets.values()),
                capture_ports=capture_ports(info))
    from harness.faults import registry
    kind = registry.get(spec.kind)
    if kind is not None and not kind.network:
        return Target(**base, ip=next(iter(nets.values()), None))
    if not spec.allow_host and shares_host_network(pid, base["host_config"]):
        raise HarnessError(f"fault {spec.id}: '{spec.target}' shares this machine's network namespace; "
                           "a network fault on it would act on this machine's own network",
                           where=spec.where or None,
                           seen=f"network mode {base['host_config'].get('NetworkMode') or '?'}, PID {pid}",
                           hint="give the service its own network; to do this on purpose, set "
                                "allow_host_namespaces: true at the top of the scenario")
    peer = spec.peer
    if peer is None:
        ip = next(iter(nets.values()), None)
        return Target(**base, ip=ip, dev=_dev_for(pid, ip))
    peer_ip = peer.ip
    ip = next(iter(nets.values()), None)
    if peer.service:
        pinfo = rc.services.get(peer.service)
        if pinfo is None:
            raise HarnessError(f"fault {spec.id}: the peer service '{peer.service}' is not running",
                               where=spec.where or None)
        pnets = _networks(_attrs(docker_client, pinfo.container_id)) or dict(pinfo.ips)
        shared = [n for n in nets if n in pnets]
        if not shared:
            raise HarnessError(f"fault {spec.id}: '{spec.target}' and '{peer.service}' share no network",
                               where=spec.where or None,
                               seen=f"{spec.target}: {sorted(nets)}; {peer.service}: {sorted(pnets)}")
        peer_ip, ip = pnets[shared[0]], nets[shared[0]]
    return Target(**base, ip=ip, dev=_dev_for(pid, ip), peer_ip=peer_ip,
                  peer_port=peer.port, protocol=peer.protocol, own_port=peer.own_port)


def capture_ports(info) -> tuple[int, ...]:
    """The container ports behind the service's pprof URL: the harness's own observation
    channel, which network faults leave alone (a fault cutting it would cut the profiles)."""
    url = getattr(info, "pprof_url", None) or ""
    published = getattr(info, "published", None) or {}
    address = getattr(info, "address", "127.0.0.1")
    return tuple(sorted(c for c, h in published.items() if url.startswith(f"http://{address}:{h}/")))


def shares_host_network(pid: int, host_config: dict | None = None) -> bool:
    """Whether the process `pid` is in the harness's own network namespace (the host's), by the
    namespace's inode; `network_mode: host` says so without a look."""
    if (host_config or {}).get("NetworkMode") == "host":
        return True
    if not pid:
        return False
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False


def _attrs(client, container: str) -> dict:
    return client.containers.get(container).attrs if client is not None else {}


def _networks(attrs: dict) -> dict[str, str]:
    nets = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return {name: n["IPAddress"] for name, n in nets.items() if n.get("IPAddress")}


def _dev_for(pid: int, ip: str | None) -> str:
    """The interface inside the container that carries `ip` (eth0 when it cannot be told)."""
    if not pid or ip is None:
        return "eth0"
    import json

    from harness import proc
    from harness.undo.steps import ns_argv
    res = proc.run(ns_argv(pid, ["ip", "-j", "-4", "addr", "show"]), timeout=10, check=False)
    try:
        for link in json.loads(res.stdout or "[]"):
            if any(a.get("local") == ip for a in link.get("addr_info", [])):
                return link["ifname"]
    except ValueError:
        pass
    return "eth0"
