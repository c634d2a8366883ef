"""One entry of a phase's `faults:` list -> a frozen FaultSpec (envelope first, then the
kind's own parameters), and fault_schema(), the JSON Schema of one entry.
"""
from __future__ import annotations

import difflib
import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from harness.faults import registry

ENVELOPE_KEYS = ("id", "kind", "target", "peer", "direction", "backend", "allow_skip")
PROTOCOLS = ("tcp", "udp", "all")


@dataclass(frozen=True)
class Peer:
    """Which traffic of the target a network fault touches.

    service set:            traffic between the target and that service (optionally one port of it)
    ip set:                 traffic between the target and that address (loopback, or opted in)
    only port set:          connections on the target's own port (e.g. its published HTTP port)
    """
    service: str | None = None
    port: int | None = None
    protocol: str = "tcp"
    ip: str | None = None

    @property
    def own_port(self) -> bool:
        return self.service is None and self.ip is None and self.port is not None

    def to_json(self) -> dict:
        return {k: v for k, v in (("service", self.service), ("ip", self.ip), ("port", self.port),
                                  ("protocol", self.protocol)) if v is not None}


@dataclass(frozen=True)
class FaultSpec:
    id: str
    kind: str
    target: str
    params: dict = field(hash=False)
    peer: Peer | None = None
    direction: str = "egress"
    backend: str = "auto"
    allow_skip: bool = False
    where: str = ""                 # file:line:col of the entry, for error messages
    allow_host: bool = False        # the scenario's opt-in: the target may share the host's namespaces

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "target": self.target,
                "peer": self.peer.to_json() if self.peer else None, "direction": self.direction,
                "backend": self.backend, "allow_skip": self.allow_skip, "params": dict(self.params)}

    @classmethod
    def from_json(cls, d: dict) -> FaultSpec:
        peer = Peer(**d["peer"]) if d.get("peer") else None
        return cls(id=d["id"], kind=d["kind"], target=d["target"], params=dict(d.get("params") or {}),
                   peer=peer, direction=d.get("direction", "egress"), backend=d.get("backend", "auto"),
                   allow_skip=bool(d.get("allow_skip", False)))


def parse_fault(node, ctx) -> FaultSpec:
    """Parse one fault entry; every error names file:line:col, what was seen and a hint."""
    m = node.as_map()
    if "kind" not in m:
        raise node.error("missing required key 'kind'",
                         hint=f"valid kinds: {', '.join(sorted(registry.kinds()))}")
    kinds = registry.kinds()
    kind_node = m["kind"]
    name = kind_node.as_str()
    kind = kinds.get(name)
    if kind is None:
        close = difflib.get_close_matches(name, list(kinds), n=1, cutoff=0.6)
        raise kind_node.error(f"unknown fault kind '{name}'",
                              seen=f"valid kinds: {', '.join(sorted(kinds))}",
                              hint=f"did you mean '{close[0]}'?" if close else None)
    own = tuple(kind.params_schema.get("properties", {}))
    allowed = ENVELOPE_KEYS + own if kind.network else \
        tuple(k for k in ENVELOPE_KEYS if k not in ("peer", "direction")) + own
    m = node.keys(allowed, required=("kind", "target"))
    target = ctx.check_service(m["target"])
    if kind.network and ctx.host_access.get(target) and not ctx.allow_host_namespaces:
        raise m["target"].error(f"a network fault on '{target}' would act on this machine's own network",
                                seen="; ".join(ctx.host_access[target]),
                                hint="target a service with its own network namespace; to do this on "
                                     "purpose, set allow_host_namespaces: true at the top of the scenario")
    fid = m["id"].as_str() if "id" in m else f"{name}-L{node.mark.line}"
    backend = m["backend"].as_enum(("auto",) + kind.backends) if "backend" in m else "auto"
    allow_skip = m["allow_skip"].as_bool() if "allow_skip" in m else False
    direction = kind.default_direction
    peer = None
    if kind.network:
        if "direction" in m:
            direction = m["direction"].as_enum(kind.directions)
        if "peer" in m:
            peer = _parse_peer(m["peer"], ctx, target)
    params = kind.parse({k: v for k, v in m.items() if k in own}, node)
    if backend != "auto":
        why = kind.unsupported(backend, params, direction)
        if why:
            alts = [b for b in kind.backends if b != backend and not kind.unsupported(b, params, direction)]
            raise m["backend"].error(f"backend '{backend}' cannot do this {name} fault",
                                     seen=why, hint=f"use backend: {alts[0]}" if alts else
                                     "change the fault's parameters")
    elif not any(kind.unsupported(b, params, direction) is None for b in kind.backends):
        raise node.error(f"no backend can do this {name} fault",
                         seen="; ".join(f"{b}: {kind.unsupported(b, params, direction)}" for b in kind.backends),
                         hint="change the fault's parameters")
    return FaultSpec(id=fid, kind=name, target=target, params=params, peer=peer, direction=direction,
                     backend=backend, allow_skip=allow_skip, where=str(node.mark),
                     allow_host=ctx.allow_host_namespaces)


def _parse_peer(n, ctx, target: str) -> Peer:
    if isinstance(n.value, bool):
        raise n.expected("a service name, a port, or {service, port, protocol}")
    if isinstance(n.value, int):
        return Peer(port=n.as_int(min=1, max=65535))
    if isinstance(n.value, str):
        return Peer(service=_peer_service(n, ctx, target))
    m = n.keys(("service", "ip", "port", "protocol"))
    if "service" in m and "ip" in m:
        raise n.error("give either 'service' or 'ip', not both")
    port = m["port"].as_int(min=1, max=65535) if "port" in m else None
    proto = m["protocol"].as_enum(PROTOCOLS) if "protocol" in m else ("tcp" if port else "all")
    if port and proto == "all":
        raise m["protocol"].error("a port needs protocol tcp or udp", seen="all")
    service = _peer_service(m["service"], ctx, target) if "service" in m else None
    ip = _peer_ip(m["ip"], ctx) if "ip" in m else None
    if service is None and ip is None and port is None:
        raise n.error("a peer needs a service, an ip or a port",
                      hint="e.g. peer: {service: db, port: 5432}")
    return Peer(service=service, port=port, protocol=proto, ip=ip)


def _peer_service(n, ctx, target: str) -> str:
    name = ctx.check_service(n)
    if name == target:
        raise n.error("the peer is the target itself", seen=name,
                      hint="to scope to the target's own port, write peer: <port>")
    return name


def _peer_ip(n, ctx) -> str:
    text = n.as_str()
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise n.error("not an IP address", seen=repr(text),
                      hint="use a service name for the project's containers") from None
    if addr.version != 4:
        raise n.error("only IPv4 peers are supported", seen=text)
    if not addr.is_loopback and not ctx.allow_external_targets:
        raise n.error("fault traffic may only touch loopback or the project's own services",
                      seen=text, hint="use a service name, or set allow_external_targets: true "
                                      "at the top of the scenario if this is really intended")
    return text


@functools.cache
def fault_schema() -> dict[str, Any]:
    """The JSON Schema of one fault entry, one variant per kind (built on first use: it
    loads every kind)."""
    peer = {"oneOf": [
        {"type": "string", "description": "a service of the compose project"},
        {"type": "integer", "minimum": 1, "maximum": 65535, "description": "a port of the target itself"},
        {"type": "object", "additionalProperties": False,
         "properties": {"service": {"type": "string"}, "ip": {"type": "string"},
                        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                        "protocol": {"enum": list(PROTOCOLS)}}}]}
    variants = []
    for name, kind in sorted(registry.kinds().items()):
        props: dict[str, Any] = {
            "id": {"type": "string"}, "kind": {"const": name}, "target": {"type": "string"},
            "backend": {"enum": ["auto", *kind.backends]}, "allow_skip": {"type": "boolean"}}
        if kind.network:
            props["peer"] = peer
            props["direction"] = {"enum": list(kind.directions), "default": kind.default_direction}
        props.update(kind.params_schema.get("properties", {}))
        variants.append({"type": "object", "description": kind.summary, "additionalProperties": False,
                         "required": ["kind", "target", *kind.params_schema.get("required", [])],
                         "properties": props})
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "fault",
            "type": "object", "required": ["kind", "target"], "oneOf": variants}
