"""Parameter readers shared by the kinds (range checks, units, JSON-Schema fragments)."""
from __future__ import annotations

import re

from harness.faults.backends import tc
from harness.faults.registry import Kind

PERCENT = {"type": "number", "exclusiveMinimum": 0, "maximum": 100, "description": "percent"}
CORRELATION = {"type": "number", "minimum": 0, "maximum": 100, "description": "percent (netem only)"}
DURATION = {"type": ["string", "number"], "description": "e.g. 100ms, 1.5s, or seconds"}
SIZE = {"type": ["string", "integer"], "description": "bytes, or 64m, 256MiB, 1g"}
RATE = {"type": ["string", "integer"], "description": "bits per second, or 1mbit, 500kbit, 2gbit"}

_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)?\s*$", re.I)
_RATE_MULT = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9}


def pct(v: float) -> str:
    """A share as netem writes it: 20%, 0.1%."""
    return f"{v:g}%"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:g}ms"


def correlated(p: dict) -> list[str]:
    """netem's correlation argument, when the fault has one."""
    return [pct(p["correlation"])] if p.get("correlation") else []


def correlation(p: dict) -> float:
    return p["correlation"].as_float(min=0, max=100) if "correlation" in p else 0.0


def rate_bits(n) -> int:
    """Bits per second from `1mbit` (tc units: bit/kbit/mbit/gbit, decimal), `125kbps` (bytes) or an int."""
    v = n.value
    m = _RATE_RE.match(v) if isinstance(v, str) else None
    if isinstance(v, int) and not isinstance(v, bool):
        bits = v
    elif m:
        bits = float(m.group(1)) * _RATE_MULT[(m.group(2) or "bit").lower()]   # inf for 400 digits
    else:
        raise n.error("expected a rate like 1mbit, 500kbit or 125kbps",
                      seen=repr(v)[:80], hint="tc units: bit, kbit, mbit, gbit (bits); bps, kbps, mbps (bytes)")
    if not 8000 <= bits <= 100 * 10**9:
        raise n.error("rate must be between 8kbit and 100gbit", seen=repr(v)[:80])
    return int(bits)


def grace(p: dict) -> float:
    """The seconds docker gives a container to stop before it kills it (restart, stop)."""
    return p["grace"].as_duration(max=600) if "grace" in p else 10.0


GRACE = {"type": ["string", "number"], "description": "seconds docker waits before killing (10s)"}


def need(p: dict, key: str, node):
    if key not in p:
        raise node.error(f"missing required key '{key}'", hint=f"add '{key}:' to the fault")
    return p[key]


class NetKind(Kind):
    """A network fault. A kind netem can do says how (netem(params): its arguments after
    `netem`, see tc-netem(8)); netem_plan puts it as a netem leaf under the tc backend."""

    def netem(self, p: dict) -> list[str]:
        raise NotImplementedError(f"netem cannot do {self.name}")

    def netem_plan(self, spec, t):
        return tc.directional_plan(t, spec.direction, ["netem", *self.netem(spec.params)], "netem")


class NetemPercentKind(NetKind):
    """A netem-only kind whose one parameter is a share of packets (with correlation)."""
    backends = ("netem",)
    params_doc = "percent, correlation=0"
    units = {"percent": "percent", "correlation": "percent"}
    params_schema = {"required": ["percent"], "properties": {"percent": PERCENT, "correlation": CORRELATION}}

    def parse(self, p, node):
        return {"percent": need(p, "percent", node).as_float(min=0, max=100, min_exclusive=True),
                "correlation": correlation(p)}

    def netem(self, p):
        return [self.name, pct(p["percent"]), *correlated(p)]

    def build(self, backend, spec, t):
        return self.netem_plan(spec, t)
