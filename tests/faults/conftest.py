"""Fixtures: the Go test image (built once per session), a labelled network with a target and
two peers (per module), and a RunContext + FaultController per test."""
from __future__ import annotations

import uuid

import pytest

from . import helpers


@pytest.fixture(scope="session")
def image(docker_client):
    import os
    if os.geteuid() != 0:
        pytest.skip("fault integration tests need root (nsenter, tc, iptables in the containers' namespaces)")
    tag = helpers.build_image(docker_client)
    yield tag
    try:
        docker_client.images.remove(tag, force=True)
    except Exception:
        pass


class Env:
    def __init__(self, client, image, prefix):
        self.client, self.image = client, image
        self.project = f"hft-{prefix}-{uuid.uuid4().hex[:6]}"
        self.network = client.networks.create(self.project, driver="bridge",
                                              labels={**helpers.LABEL, "io.harness.project": self.project})
        self.containers = {}

    def add(self, name, **kw):
        c = helpers.start(self.client, self.image, self.network.name, f"{self.project}-{name}", self.project, **kw)
        self.containers[name] = c
        return c

    def info(self, name):
        return helpers.service_info(self.containers[name], name)

    def ip(self, name):
        return self.info(name).ip

    def services(self):
        return {n: self.info(n) for n in self.containers}

    def close(self):
        for c in self.containers.values():
            try:
                c.remove(force=True)
            except Exception:
                pass
        try:
            self.network.remove()
        except Exception:
            pass


@pytest.fixture(scope="module")
def env(docker_client, image):
    e = Env(docker_client, image, "net")
    e.add("target", mem_limit="256m")
    e.add("peer_a")
    e.add("peer_b")
    helpers_wait(e)
    yield e
    e.close()


def helpers_wait(e, names=None):
    import time
    for name in names or e.containers:
        ip = e.ip(name)
        deadline = time.monotonic() + 20
        while True:
            try:
                helpers.get(ip, "/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


@pytest.fixture
def rc(env, tmp_path):
    return helpers.run_context(tmp_path / "run", env.services(), env.project)


@pytest.fixture
def controller(rc, docker_client):
    from harness.faults.controller import FaultController
    fc = FaultController(rc, docker_client=docker_client)
    yield fc
    fc.revert_all()


HERE_DRIVER = __import__("pathlib").Path(__file__).parent / "driver.py"
