"""Resource and process faults through the Docker engine API (the target's own cgroup).

Limits change with POST /containers/{id}/update; the plan's undo restores the values the
container had when the fault was applied (read from its HostConfig just before).
"""
from __future__ import annotations

from harness.errors import HarnessError
from harness.faults.backends.base import Backend
from harness.faults.steps import Plan

BACKENDS = (Backend("docker", ("docker",)),)


def update_plan(t, body: dict, restore: dict) -> Plan:
    return Plan(backend="docker",
                do=[{"op": "docker-update", "container": t.container, "body": body}],
                undo=[{"op": "docker-update", "container": t.container, "body": restore}],
                detail={"set": body, "restore": restore})


def call_plan(t, call: str, kwargs: dict | None = None, undo_call: str | None = None,
              undo_kwargs: dict | None = None) -> Plan:
    p = Plan(backend="docker", do=[{"op": "docker", "container": t.container, "call": call,
                                    "kwargs": kwargs or {}}])
    if undo_call:
        p.undo.append({"op": "docker", "container": t.container, "call": undo_call, "kwargs": undo_kwargs or {}})
    return p


def memory_restore(t, hc: dict) -> dict:
    mem = int(hc.get("Memory") or 0)
    if mem <= 0:
        raise HarnessError(f"fault {t.fault_id}: '{t.service}' has no memory limit, and Docker cannot "
                           "remove a limit once set, so this squeeze could not be restored",
                           where=t.service, seen="HostConfig.Memory = 0 (unlimited)",
                           hint="give the service a memory limit (services.<name>.limits.memory)")
    return {"Memory": mem, "MemorySwap": int(hc.get("MemorySwap") or 0) or -1}


def cpu_bodies(hc: dict, cpus: float) -> tuple[dict, dict]:
    """(set, restore) for a CPU quota of `cpus` CPUs, keeping the container's own mechanism."""
    if int(hc.get("NanoCpus") or 0) > 0:
        return {"NanoCpus": int(cpus * 1e9)}, {"NanoCpus": int(hc["NanoCpus"])}
    period = int(hc.get("CpuPeriod") or 0) or 100000
    quota = int(hc.get("CpuQuota") or 0) or -1
    return ({"CpuPeriod": period, "CpuQuota": int(cpus * period)},
            {"CpuPeriod": period, "CpuQuota": quota})
