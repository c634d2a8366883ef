"""The tests' cgroup readers on a cgroup v1 and a cgroup v2 layout (fake trees: this host has
one of the two, users' hosts may have the other)."""
from __future__ import annotations

from pathlib import Path

import pytest

from .cgroups import Cgroup


def tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text + "\n")


V1 = {"memory/docker/c1/memory.limit_in_bytes": str(64 << 20),
      "memory/docker/c1/memory.memsw.limit_in_bytes": str(128 << 20),
      "memory/docker/c1/memory.usage_in_bytes": "1000",
      "cpu,cpuacct/docker/c1/cpu.cfs_quota_us": "-1", "cpu,cpuacct/docker/c1/cpu.cfs_period_us": "100000",
      "cpu,cpuacct/docker/c1/cpuacct.usage": "5000", "cpuset/docker/c1/cpuset.cpus": "0-1"}
V2 = {"docker/c1/cgroup.controllers": "cpuset cpu io memory pids",
      "docker/c1/memory.max": str(64 << 20), "docker/c1/memory.swap.max": str(64 << 20),
      "docker/c1/memory.current": "1000", "docker/c1/cpu.max": "50000 100000",
      "docker/c1/cpu.stat": "usage_usec 5\nuser_usec 3\nsystem_usec 2", "docker/c1/cpuset.cpus": "",
      "docker/c1/cpuset.cpus.effective": "0-1"}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_readers_agree_across_cgroup_versions(tmp_path, version):
    tree(tmp_path, V1 if version == "v1" else V2)
    dirs = ([tmp_path / "memory/docker/c1", tmp_path / "cpu,cpuacct/docker/c1", tmp_path / "cpuset/docker/c1"]
            if version == "v1" else [tmp_path / "docker/c1"])
    cg = Cgroup(dirs, tmp_path)
    assert cg.v2 == (version == "v2")
    assert cg.memory_limit() == 64 << 20 and cg.memsw_limit() == 128 << 20 and cg.memory_usage() == 1000
    assert cg.cpu_quota() == ((None, 100000) if version == "v1" else (50000, 100000))
    assert cg.cpuset() == "0-1" and cg.cpu_usage_ns() == 5000


def test_unlimited_reads_as_none(tmp_path):
    tree(tmp_path, {**V2, "docker/c1/memory.max": "max", "docker/c1/cpu.max": "max 100000"})
    cg = Cgroup([tmp_path / "docker/c1"], tmp_path)
    assert cg.memory_limit() is None and cg.memsw_limit() is None and cg.cpu_quota() == (None, 100000)
    tree(tmp_path, {"memory/c/memory.limit_in_bytes": "9223372036854771712"})
    assert Cgroup([tmp_path / "memory/c"], tmp_path).memory_limit() is None
