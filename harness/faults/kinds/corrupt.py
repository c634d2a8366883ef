"""corrupt: netem only (corrupt a share of packets); this kernel build may lack netem (see doctor)."""
from __future__ import annotations

from harness.faults.kinds._params import NetemPercentKind
from harness.faults.registry import register


@register
class Corrupt(NetemPercentKind):
    name = "corrupt"
    summary = "corrupt a share of the target's packets (netem)"
