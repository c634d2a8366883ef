"""Find and remove what runs left behind, by label.

Every container, network, volume and image a run creates carries
io.harness.project / io.harness.run / io.harness.owner_pid / io.harness.owner_host.
A run whose owner process is gone is a leftover.
"""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from dataclasses import dataclass, field
from typing import Iterable

log = logging.getLogger("harness.clean")

LABEL_RUN = "io.harness.run"
LABEL_PROJECT = "io.harness.project"
LABEL_PID = "io.harness.owner_pid"
LABEL_HOST = "io.harness.owner_host"
LABEL_RUN_DIR = "io.harness.run_dir"


def _client():
    import docker

    return docker.from_env(timeout=30)


@dataclass
class Leftover:
    project: str
    run_id: str
    owner_pid: int | None
    owner_host: str
    alive: bool
    run_dir: str | None = None
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


def owner_alive(pid: int | None, host: str) -> bool:
    if pid is None or host != socket.gethostname():
        return False if pid is None else True  # another host's run: not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ")
        return b"harness" in cmd or b"python" in cmd or b"pytest" in cmd
    except OSError:
        return False


def find(client=None) -> dict[str, Leftover]:
    """All harness projects on this engine, by project name."""
    client = client or _client()
    found: dict[str, Leftover] = {}

    def entry(labels: dict) -> Leftover:
        project = labels.get(LABEL_PROJECT, "?")
        if project not in found:
            pid_s = labels.get(LABEL_PID, "")
            pid = int(pid_s) if pid_s.isdigit() else None
            host = labels.get(LABEL_HOST, "")
            found[project] = Leftover(project, labels.get(LABEL_RUN, "?"), pid, host,
                                      owner_alive(pid, host), labels.get(LABEL_RUN_DIR))
        return found[project]

    flt = {"label": LABEL_PROJECT}
    for c in client.containers.list(all=True, filters=flt, ignore_removed=True):
        entry(c.labels).containers.append(c.name)
    for n in client.networks.list(filters=flt):
        entry(n.attrs.get("Labels") or {}).networks.append(n.name)
    for v in client.volumes.list(filters=flt):
        entry(v.attrs.get("Labels") or {}).volumes.append(v.name)
    for i in client.images.list(filters=flt):
        entry(i.labels or {}).images.append(i.tags[0] if i.tags else i.short_id)
    return found


def cleanup_project(project: str, client=None) -> dict[str, list[str]]:
    """Remove every container, network, volume and image labelled with this project."""
    client = client or _client()
    flt = {"label": f"{LABEL_PROJECT}={project}"}
    removed: dict[str, list[str]] = {"containers": [], "networks": [], "volumes": [], "images": []}
    for c in client.containers.list(all=True, filters=flt, ignore_removed=True):
        try:
            if c.status == "paused":
                c.unpause()
            c.remove(force=True, v=True)
            removed["containers"].append(c.name)
        except Exception as e:
            log.warning("container %s: %s", c.name, e)
    for n in client.networks.list(filters=flt):
        try:
            n.remove()
            removed["networks"].append(n.name)
        except Exception as e:
            log.warning("network %s: %s", n.name, e)
    for v in client.volumes.list(filters=flt):
        try:
            v.remove(force=True)
            removed["volumes"].append(v.name)
        except Exception as e:
            log.warning("volume %s: %s", v.name, e)
    for i in client.images.list(filters=flt):
        try:
            client.images.remove(i.id, force=True)
            removed["images"].append(i.tags[0] if i.tags else i.short_id)
        except Exception as e:
            log.warning("image %s: %s", i.short_id, e)
    return removed


def clean(leftovers: Iterable[Leftover], client=None) -> list[tuple[Leftover, dict]]:
    """Remove the given leftover runs: replay their open fault ledger, then remove their
    resources. Which runs count (owner gone, or all) is the caller's choice; see find()."""
    client = client or _client()
    done = []
    for lo in leftovers:
        _revert_ledger_for(lo)
        done.append((lo, cleanup_project(lo.project, client)))
    return done


def _revert_ledger_for(lo: Leftover) -> None:
    """Revert what a dead run's fault ledger still has open (host-side proxies, pressure
    helpers, rules in namespaces that outlive it), before its containers go."""
    if not lo.run_dir or not (Path(lo.run_dir) / "faults.ledger").exists():
        return
    try:
        from harness.faults.ledger import revert_open

        done = revert_open(Path(lo.run_dir), log=log.info)
        if done:
            log.info("reverted %d open fault(s) of %s", len(done), lo.project)
    except Exception as e:
        log.warning("reverting the fault ledger of %s failed: %s", lo.project, e)
