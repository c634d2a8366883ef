"""Helpers for the fault tests: a FROM-scratch Go image, containers, a hand-built RunContext,
and measurements from the host and from inside the target."""
from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import statistics
import subprocess
import time
import uuid
from pathlib import Path

from harness import proc
from harness.runctx import Clock, RunContext, ServiceInfo
from tests.images import build_go_image

HERE = Path(__file__).parent
SERVER = HERE / "server"
LABEL = {"io.harness.test": "1"}


@contextlib.contextmanager
def applied(controller, spec):
    """The fault applied for the body of a with-statement, reverted however it ends."""
    controller.apply(spec, "fault")
    try:
        yield
    finally:
        controller.revert(spec)


def build_image(client) -> str:
    """The fault tests' server (tests/faults/server) as a FROM-scratch image, built once per source."""
    return build_go_image(client, SERVER, "harness-faultsrv", LABEL)


def start(client, image: str, network: str, name: str, project: str, **kw):
    c = client.containers.run(image, detach=True, name=name, network=network,
                              labels={**LABEL, "io.harness.project": project}, **kw)
    c.reload()
    return c


def service_info(c, name: str) -> ServiceInfo:
    c.reload()
    nets = {n: v["IPAddress"] for n, v in c.attrs["NetworkSettings"]["Networks"].items()}
    return ServiceInfo(name=name, container_id=c.id, container_name=c.name, pid=c.attrs["State"]["Pid"],
                       ips=nets, published={}, pprof_url=None, image=c.image.tags[0] if c.image.tags else "")


def run_context(run_dir: Path, services: dict[str, ServiceInfo], project: str) -> RunContext:
    run_dir.mkdir(parents=True, exist_ok=True)
    clock = Clock.start()
    return RunContext.of(f"t-{uuid.uuid4().hex[:8]}", run_dir, clock, services, project,
                         events_file=run_dir / "events.jsonl")


def get(ip: str, path: str, *, timeout: float = 30.0, port: int = 8080) -> bytes:
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()


def probe(target_ip: str, addr: str, n: int, *, timeout_ms: int = 2000, keepalive: bool = False,
          gap_ms: int = 0) -> dict:
    """n sequential requests from inside the target to addr, `gap_ms` apart."""
    budget = n * (timeout_ms / 1000 + gap_ms / 1000 + 0.5) + 10
    return json.loads(get(target_ip, f"/probe?addr={addr}&n={n}&timeout_ms={timeout_ms}"
                          f"&keepalive={int(keepalive)}&gap_ms={gap_ms}", timeout=budget))


def median(xs) -> float:
    return statistics.median(xs) if xs else float("nan")


def download_rate(ip: str, nbytes: int) -> float:
    """Bits per second of a download of nbytes from the container (its egress)."""
    conn = http.client.HTTPConnection(ip, 8080, timeout=120)
    try:
        conn.request("GET", f"/bytes?n={nbytes}")
        resp = conn.getresponse()
        first = resp.read(65536)
        t0 = time.monotonic()
        got = len(first)
        while True:
            chunk = resp.read(65536)
            if not chunk:
                break
            got += len(chunk)
        dt = time.monotonic() - t0
    finally:
        conn.close()
    return (got - len(first)) * 8 / dt


def upload_rate(ip: str, nbytes: int) -> float:
    """Bits per second of an upload of nbytes to the container (its ingress)."""
    body = b"x" * nbytes
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(ip, 8080, timeout=120)
    try:
        conn.request("POST", "/upload", body=body, headers={"Content-Length": str(nbytes)})
        n = int(conn.getresponse().read())
    finally:
        conn.close()
    assert n == nbytes
    return nbytes * 8 / (time.monotonic() - t0)


def leftovers(pid: int, tag: str) -> dict:
    """What of a fault (tag) remains in a container's netns: qdiscs, chains, links, processes."""
    ns = ["nsenter", "-t", str(pid), "-n", "--"]
    qd = proc.run([*ns, "tc", "qdisc", "show"], timeout=10).stdout
    ipt = proc.run([*ns, "iptables-save"], timeout=10).stdout
    links = proc.run([*ns, "ip", "-o", "link"], timeout=10).stdout
    ps = subprocess.run(["pgrep", "-f", f"--tag={tag}"], capture_output=True, text=True, timeout=10,
                        check=False).stdout
    return {"qdisc": [l for l in qd.splitlines() if "noqueue" not in l and l.strip()],
            "iptables": [l for l in ipt.splitlines() if "HF" in l or "harness" in l],
            "links": [l for l in links.splitlines() if " hf" in l],
            "procs": ps.split()}


def no_leftovers(pid: int, tag: str) -> None:
    left = leftovers(pid, tag)
    assert not any(left.values()), left


__all__ = ["applied", "build_image", "start", "service_info", "run_context", "get", "probe", "median",
           "download_rate", "upload_rate", "leftovers", "no_leftovers", "shutil"]
