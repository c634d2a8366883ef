"""A real Go service in a real container for the capture tests: built FROM scratch from
goapp/ (static, CGO_ENABLED=0), published on 127.0.0.1, labelled io.harness.test=1 and removed
afterwards."""
from __future__ import annotations

import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from harness.runctx import ServiceInfo
from tests.images import build_go_image

GOAPP = Path(__file__).parent / "goapp"
LABELS = {"io.harness.test": "1"}


@pytest.fixture(scope="session")
def capapp_image(docker_client):
    tag = build_go_image(docker_client, GOAPP, "harness-test-capapp", LABELS)
    yield tag
    docker_client.images.remove(tag, force=True)


def start_service(client, image: str, name: str = "api", **limits) -> ServiceInfo:
    c = client.containers.run(image, detach=True, labels=LABELS, name=f"harness-test-{uuid.uuid4().hex[:8]}",
                              ports={"8080/tcp": ("127.0.0.1", None), "6060/tcp": ("127.0.0.1", None)},
                              mem_limit=limits.get("mem_limit", "256m"),
                              memswap_limit=limits.get("mem_limit", "256m"),      # no swap: OOM is an OOM
                              cpu_period=100000, cpu_quota=int(limits.get("cpus", 1.0) * 100000))
    c.reload()
    ports = c.attrs["NetworkSettings"]["Ports"]
    app, pp = int(ports["8080/tcp"][0]["HostPort"]), int(ports["6060/tcp"][0]["HostPort"])
    _wait_ready(f"http://127.0.0.1:{pp}/debug/pprof/", c)
    return ServiceInfo(name, c.id, c.name, c.attrs["State"]["Pid"], {}, {8080: app, 6060: pp},
                       f"http://127.0.0.1:{pp}/debug/pprof", image=image,
                       limits={"memory": limits.get("mem_limit", "256m"), "cpus": limits.get("cpus", 1.0)},
                       source_root=str(GOAPP), module="example.com/capapp")


def _wait_ready(url: str, container, attempts: int = 100) -> None:
    last = None
    for _ in range(attempts):
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError as e:
            last = e
            time.sleep(0.1)
    container.reload()
    raise AssertionError(f"the test service did not answer on {url}; last error {last}; "
                         f"container status {container.status}; logs: {container.logs()[-500:]!r}")


@pytest.fixture(scope="module")
def capapp(docker_client, capapp_image):
    svc = start_service(docker_client, capapp_image)
    yield svc
    docker_client.containers.get(svc.container_id).remove(force=True)
