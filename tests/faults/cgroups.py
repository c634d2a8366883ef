"""What the kernel enforces on a process, read from its cgroup, on cgroup v1 and v2 hosts.

The resource-fault tests check the kernel's own files rather than Docker's view. The files
differ between the two cgroup versions; each reader here returns the same unit on both:

| reader          | cgroup v1                                     | cgroup v2                        |
|-----------------|-----------------------------------------------|----------------------------------|
| memory_limit    | memory/memory.limit_in_bytes                  | memory.max                       |
| memsw_limit     | memory/memory.memsw.limit_in_bytes            | memory.max + memory.swap.max     |
| memory_usage    | memory/memory.usage_in_bytes                  | memory.current                   |
| cpu_quota       | cpu/cpu.cfs_quota_us, cpu.cfs_period_us       | cpu.max ("max 100000")           |
| cpuset          | cpuset/cpuset.cpus                            | cpuset.cpus (.effective if unset)|
| cpu_usage_ns    | cpuacct/cpuacct.usage                         | cpu.stat usage_usec * 1000       |

Unlimited reads as None.
"""
from __future__ import annotations

from pathlib import Path

from harness.faults.stress import cgroup_dirs


class Cgroup:
    def __init__(self, dirs: list[Path], root: Path = Path("/sys/fs/cgroup")):
        self.dirs, self.root = dirs, root
        self.v2 = any((d / "cgroup.controllers").exists() for d in dirs)

    @classmethod
    def of(cls, pid: int, root: Path = Path("/sys/fs/cgroup")) -> Cgroup:
        return cls(cgroup_dirs(pid, root), root)

    def _read(self, v1_controller: str, file: str) -> str:
        if self.v2:
            for d in self.dirs:
                if (d / file).exists():
                    return (d / file).read_text().strip()
            raise FileNotFoundError(f"{file} in none of {self.dirs}")
        for d in self.dirs:
            if v1_controller in d.relative_to(self.root).parts[0].split(",") and (d / file).exists():
                return (d / file).read_text().strip()
        raise FileNotFoundError(f"{v1_controller}/{file} in none of {self.dirs}")

    @staticmethod
    def _limit(text: str) -> int | None:
        # v1 writes "unlimited" as a huge page-aligned number, v2 as "max"
        return None if text == "max" or int(text) >= 1 << 62 else int(text)

    def memory_limit(self) -> int | None:
        return self._limit(self._read("memory", "memory.max" if self.v2 else "memory.limit_in_bytes"))

    def memsw_limit(self) -> int | None:
        """Memory plus swap, as Docker's MemorySwap counts it."""
        if not self.v2:
            return self._limit(self._read("memory", "memory.memsw.limit_in_bytes"))
        mem, swap = self.memory_limit(), self._limit(self._read("memory", "memory.swap.max"))
        return None if mem is None or swap is None else mem + swap

    def memory_usage(self) -> int:
        return int(self._read("memory", "memory.current" if self.v2 else "memory.usage_in_bytes"))

    def cpu_quota(self) -> tuple[int | None, int]:
        """(quota in µs per period or None for no quota, period in µs)."""
        if self.v2:
            quota, period = self._read("cpu", "cpu.max").split()
            return (None if quota == "max" else int(quota)), int(period)
        quota = int(self._read("cpu", "cpu.cfs_quota_us"))
        return (None if quota < 0 else quota), int(self._read("cpu", "cpu.cfs_period_us"))

    def cpuset(self) -> str:
        text = self._read("cpuset", "cpuset.cpus")
        return text or (self._read("cpuset", "cpuset.cpus.effective") if self.v2 else text)

    def cpu_usage_ns(self) -> int:
        if self.v2:
            stat = dict(line.split() for line in self._read("cpu", "cpu.stat").splitlines())
            return int(stat["usage_usec"]) * 1000
        return int(self._read("cpuacct", "cpuacct.usage"))
