"""A run's resources, by label: the labels every run puts on what it creates, and removing
one project's containers, networks, volumes and images.

Every container, network, volume and image a run creates carries
io.harness.project / io.harness.run / io.harness.owner_pid / io.harness.owner_host
(and io.harness.run_dir). Finding the leftovers of dead runs and putting them right (their
fault ledger first) is the host layer's job: harness/host/recovery.py.
"""
from __future__ import annotations

import logging

log = logging.getLogger("harness.clean")

LABEL_RUN = "io.harness.run"
LABEL_PROJECT = "io.harness.project"
LABEL_PID = "io.harness.owner_pid"
LABEL_HOST = "io.harness.owner_host"
LABEL_RUN_DIR = "io.harness.run_dir"


def docker_client():
    import docker

    return docker.from_env(timeout=30)


def cleanup_project(project: str, client=None) -> dict[str, list[str]]:
    """Remove every container, network, volume and image labelled with this project."""
    client = client or docker_client()
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
