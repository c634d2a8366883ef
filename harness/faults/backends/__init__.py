"""Backends: pure builders of Plans (argument lists as data) for one mechanism each.

Each backend module declares its backends in BACKENDS (harness.faults.backends.base.Backend:
the capabilities their faults need, whether they share run-wide objects); BY_NAME collects
them, in the order `harness doctor` lists them.
"""
from __future__ import annotations

from harness.faults.backends import cgroup, docker, iptables, proxy, tc
from harness.faults.backends.base import Backend

BY_NAME: dict[str, Backend] = {b.name: b for m in (tc, iptables, proxy, docker, cgroup) for b in m.BACKENDS}
