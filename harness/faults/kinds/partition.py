"""partition: every packet between the target and the peer is dropped (blackhole)."""
from __future__ import annotations

from harness.faults.backends import iptables
from harness.faults.kinds._params import NetKind
from harness.faults.registry import register


@register
class Partition(NetKind):
    name = "partition"
    summary = "drop all traffic between the target and the peer"
    params_doc = "- (direction defaults to both)"
    backends = ("iptables",)
    default_direction = "both"
    params_schema = {"properties": {}}

    def parse(self, p, node):
        return {}

    def build(self, backend, spec, t):
        return iptables.filter_plan(t, spec.direction, iptables.PARTITION_ACTION)
