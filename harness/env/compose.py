"""The compose environment of a run: a generated override, build, up, readiness, teardown.

The user's compose file is never edited: limits, labels and loopback-only port
publishing go into `compose.override.yml` in the run directory.
"""
from __future__ import annotations

import logging
import os
import shlex
import shutil
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from harness import docker_engine as engine
from harness import proc
from harness.env.cleanup import LABEL_HOST, LABEL_PID, LABEL_PROJECT, LABEL_RUN, LABEL_RUN_DIR
from harness.errors import CommandError, EnvironmentError_, ReadinessError
from harness.netif import interface_address
from harness.runctx import ServiceInfo, Services
from harness.scenario.model import Scenario, ServiceSpec
from rundir.gosource import go_module

log = logging.getLogger("harness.env")

ALIVE = ("running", "created", "restarting")


@dataclass(frozen=True)
class ComposeCommand:
    argv: tuple[str, ...]      # ("docker", "compose") or ("docker-compose",)
    version: str
    source: str                # which setting chose it

    @property
    def label(self) -> str:
        return f"{' '.join(self.argv)} {self.version}"


def detect_compose(preferred: str | None = None) -> ComposeCommand:
    """`docker compose` (v2) when present, else `docker-compose` (v1).

    HARNESS_COMPOSE (or `preferred`) forces one: "docker compose" or "docker-compose".
    """
    choice, source = preferred, "option"
    if not choice and os.environ.get("HARNESS_COMPOSE"):
        choice, source = os.environ["HARNESS_COMPOSE"], "HARNESS_COMPOSE"
    candidates = [tuple(shlex.split(choice))] if choice else [("docker", "compose"), ("docker-compose",)]
    seen = []
    for argv in candidates:
        if shutil.which(argv[0]) is None:
            seen.append(f"{argv[0]}: not installed")
            continue
        try:
            res = proc.run([*argv, "version", "--short"], timeout=20, check=False)
        except CommandError as e:
            seen.append(f"{' '.join(argv)}: {e.seen}")
            continue
        if res.returncode == 0 and res.stdout.strip():
            return ComposeCommand(argv, res.stdout.strip().splitlines()[0], source if choice else "default")
        seen.append(f"{' '.join(argv)}: {(res.stderr or res.stdout).strip().splitlines()[:1]}")
    raise EnvironmentError_("no docker compose found", seen="; ".join(seen),
                            hint="install Docker Compose v2 (docker compose) or v1 (apt-get install "
                                 "docker-compose); the README's set-up command does this")


def run_labels(run_id: str, project: str, run_dir: Path | None = None) -> dict[str, str]:
    labels = {LABEL_RUN: run_id, LABEL_PROJECT: project, LABEL_PID: str(os.getpid()),
              LABEL_HOST: socket.gethostname()}
    if run_dir is not None:
        labels[LABEL_RUN_DIR] = str(Path(run_dir).resolve())
    return labels


class LoopbackPorts:
    """Free TCP ports on 127.0.0.1, each distinct: every socket stays bound until close(), so the
    kernel cannot hand the same port out twice (it did: 8080 and 6060 of one service got one
    port). Fixed in the override, a port stays the service's across restarts (the load and the
    captures keep reaching it)."""

    def __init__(self):
        self._held: list[socket.socket] = []

    def __call__(self, address: str = "127.0.0.1") -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((address, 0))
        self._held.append(s)
        return s.getsockname()[1]

    def close(self) -> None:
        for s in self._held:
            s.close()
        self._held.clear()


def build_override(scenario: Scenario, labels: dict[str, str], user_docs: list[dict],
                   host_port: Callable[..., int] | None = None,
                   also_on: dict[str, tuple[str, tuple[int, ...]]] | None = None, address: str = "127.0.0.1") -> dict:
    """The override file: limits, labels, loopback-only ports. Pure (tested without Docker).
    `host_port(address)` picks each published port's host port; without it Docker picks one at
    every start, so a container that restarts (an OOM kill) may come back on another port.
    `also_on` publishes a service's ports on one more address too (service -> (address, ports)):
    the load target for remote workers (load.target.publish). `address`: where ports are published
    (a remote engine's own address; loopback for a local one)."""
    user_services: dict[str, dict] = {}
    for doc in user_docs:
        user_services.update({k: (v or {}) for k, v in (doc.get("services") or {}).items()})
    services = {name: _service_override(scenario.services.get(name) or ServiceSpec(name), labels,
                                        user_services.get(name, {}), host_port, address)
                for name in scenario.compose.services}
    for name, (address, ports) in (also_on or {}).items():
        services[name].setdefault("ports", []).extend(
            f"{address}:{host_port(address) if host_port else ''}:{p}" for p in ports)
    override: dict = {"services": services}
    version = next((d.get("version") for d in user_docs if d.get("version")), None)
    if version:
        override = {"version": str(version), **override}
    networks = {"default": {"labels": dict(labels)}}
    volumes = {}
    for doc in user_docs:
        networks.update(_labelled(doc.get("networks"), labels))
        volumes.update(_labelled(doc.get("volumes"), labels))
    override["networks"] = networks
    if volumes:
        override["volumes"] = volumes
    return override


def _service_override(spec: ServiceSpec, labels: dict[str, str], user: dict,
                      host_port: Callable[..., int] | None = None, address: str = "127.0.0.1") -> dict:
    svc: dict = {"labels": dict(labels), **_limits(spec.limits)}
    if spec.published:
        svc["ports"] = [f"{address}:{host_port(address) if host_port else ''}:{p}" for p in spec.published]
    if spec.cap_add:
        svc["cap_add"] = list(spec.cap_add)
    if "build" in user:
        svc["build"] = _build_with_labels(user["build"], labels)
    return svc


def _limits(lim) -> dict:
    """Compose keys for the scenario's limits (memswap defaults to memory: no swap)."""
    out: dict = {}
    if lim.memory is not None:
        out["mem_limit"] = lim.memory
        out["memswap_limit"] = lim.memory_swap if lim.memory_swap is not None else lim.memory
    elif lim.memory_swap is not None:
        out["memswap_limit"] = lim.memory_swap
    for key, value in (("cpus", lim.cpus), ("cpuset", lim.cpuset), ("pids_limit", lim.pids)):
        if value is not None:
            out[key] = value
    return out


def _labelled(declared: dict | None, labels: dict[str, str]) -> dict:
    """The user's networks or volumes that the project creates (not external), labelled."""
    return {name: {"labels": dict(labels)} for name, conf in (declared or {}).items()
            if not (conf or {}).get("external")}


def _build_with_labels(build, labels: dict[str, str]) -> dict:
    if isinstance(build, str):
        return {"context": build, "labels": dict(labels)}
    out = dict(build)
    out["labels"] = {**(out.get("labels") or {}), **labels} if isinstance(out.get("labels"), dict) \
        else dict(labels)
    return out


class Environment:
    """A running compose project. Use as a context manager: it always tears down."""

    def __init__(self, scenario: Scenario, run_dir: Path, run_id: str, project: str,
                 compose: ComposeCommand, on_event: Callable[..., None] | None = None,
                 services: Services | None = None):
        self.scenario = scenario
        self.run_dir = run_dir
        self.run_id = run_id
        self.project = project
        self.compose = compose
        self.labels = run_labels(run_id, project, run_dir)
        self.override_path = run_dir / "compose.override.yml"
        # the live view of the running services (the run's RunContext holds the same object):
        # filled by up(), re-read by refresh() after a fault that gives a container a new process
        self.services = services if services is not None else Services()
        self._on_event = on_event or (lambda kind, detail="", **kw: None)
        self._started = False
        self._down = False
        self._client = None

    # -- compose command lines ----------------------------------------------------------------
    def _base(self) -> list[str]:
        argv = [*self.compose.argv, "-p", self.project]
        for f in self.scenario.compose.files:
            argv += ["-f", str(f)]
        argv += ["-f", str(self.override_path), "--project-directory", str(self.scenario.compose.project_dir)]
        return argv

    def write_override(self) -> dict:
        docs = [yaml.safe_load(f.read_text()) or {} for f in self.scenario.compose.files]
        eng = engine.current()
        ports = LoopbackPorts()
        try:          # a remote engine picks its own free ports: this host cannot tell which are
            override = build_override(self.scenario, self.labels, docs, host_port=ports if eng.local else None,
                                      also_on=self._also_on(), address=eng.address)
        finally:
            ports.close()           # released just before compose binds them
        self.override_path.write_text("# generated by harness for run %s; the user's compose file is "
                                      "not edited\n%s" % (self.run_id, yaml.safe_dump(override, sort_keys=False)))
        return override

    def _also_on(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        """The load target published on a named interface for remote load workers."""
        load = self.scenario.load
        if load is None or not load.publish_interface or not load.target_service:
            return {}
        where = f"{load.where or 'load'}: target.publish"
        return {load.target_service: (interface_address(load.publish_interface, where), (load.target_port,))}

    def __enter__(self) -> "Environment":
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self, build_timeout: float = 900, up_timeout: float = 300) -> Services:
        self.write_override()
        self._started = True  # from here on, down() has something to tear down
        self._on_event("env-up", "building images and starting containers")
        proc.run([*self._base(), "up", "-d", "--build"], timeout=build_timeout + up_timeout,
                 what="building or starting the compose project failed",
                 hint="run the same command by hand to see the full output; is the prepare step's "
                      "output there? do the service logs (docker logs) say more?")
        for info in self._inspect().values():
            self.services.put(info)
        self._on_event("env-started", ", ".join(sorted(self.services)))
        return self.services

    # -- inspection ---------------------------------------------------------------------------
    def client(self):
        if self._client is None:
            import docker

            self._client = docker.from_env(timeout=30)
        return self._client

    def containers(self) -> dict[str, object]:
        found = self.client().containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={self.project}"},
                                              ignore_removed=True)
        out = {}
        for c in found:
            svc = c.labels.get("com.docker.compose.service")
            if svc:
                out[svc] = c
        return out

    def _inspect(self) -> dict[str, ServiceInfo]:
        infos = {}
        containers = self.containers()
        for name in self.scenario.compose.services:
            c = containers.get(name)
            if c is None:
                raise EnvironmentError_(f"service '{name}' has no container after 'up'",
                                        where=f"project {self.project}",
                                        hint="is the service scaled to 0 or behind a profile?")
            infos[name] = self._service_info(name, c)
        return infos

    def _service_info(self, name: str, c) -> ServiceInfo:
        c.reload()
        a = c.attrs
        spec = self.scenario.services.get(name) or ServiceSpec(name)
        eng = engine.current()
        address = eng.address
        ports: dict[int, int] = {}
        exposed: dict[int, tuple[str, int]] = {}
        for key, binds in (a["NetworkSettings"].get("Ports") or {}).items():
            if binds and key.endswith("/tcp"):
                b = next((b for b in binds if b.get("HostIp") in (address, "")), binds[0])
                ports[int(key.split("/")[0])] = engine.reach(int(b["HostPort"]))
                exposed.update({int(key.split("/")[0]): (b["HostIp"], int(b["HostPort"])) for b in binds
                                if b.get("HostIp") not in (address, "", "0.0.0.0", "::")})
        ips = {n: v.get("IPAddress") for n, v in (a["NetworkSettings"].get("Networks") or {}).items()
               if v.get("IPAddress")}
        pprof_url = None
        if spec.pprof and spec.pprof.port in ports:
            pprof_url = f"http://{address}:{ports[spec.pprof.port]}{spec.pprof.path}"
        hc = a["HostConfig"]
        limits = {"memory": hc.get("Memory") or None, "memory_swap": hc.get("MemorySwap") or None,
                  "cpus": (hc.get("NanoCpus") or 0) / 1e9 or None, "cpuset": hc.get("CpusetCpus") or None,
                  "pids": hc.get("PidsLimit") or None}
        return ServiceInfo(
            # a remote engine's PIDs are another host's: 0, so nothing here tries nsenter or perf on them
            name=name, container_id=c.id, container_name=c.name,
            pid=int(a["State"].get("Pid") or 0) if eng.local else 0, address=address,
            ips=ips, published=ports, exposed=exposed, pprof_url=pprof_url, image=a["Config"].get("Image", ""),
            limits={k: v for k, v in limits.items() if v}, source_root=str(spec.source) if spec.source else None,
            module=go_module(spec.source),
        )

    def refresh(self, name: str) -> ServiceInfo:
        """Re-read a service (a restart gives it a new PID, a start new ports); every part that
        holds `services` sees the new facts."""
        info = self._service_info(name, self.containers()[name])
        self.services.put(info)
        return info

    def logs_tail(self, name: str, lines: int = 20) -> str:
        try:
            c = self.containers().get(name)
            if c is None:
                return "(no container)"
            return c.logs(tail=lines).decode(errors="replace").rstrip()
        except Exception as e:  # logs are best effort inside an error message
            return f"(logs unavailable: {e})"

    def save_logs(self) -> None:
        logs_dir = self.run_dir / "logs"
        try:
            containers = self.containers()
        except Exception as e:
            log.warning("cannot list containers for logs: %s", e)
            return
        logs_dir.mkdir(exist_ok=True)
        for name, c in containers.items():
            try:
                (logs_dir / f"{name}.log").write_bytes(c.logs(timestamps=True))
            except Exception as e:
                log.warning("cannot save logs of %s: %s", name, e)

    # -- readiness ----------------------------------------------------------------------------
    def wait_ready(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        for name, spec in self.scenario.services.items():
            info = self.services.get(name)
            if info is None:
                continue
            ready = spec.ready
            if ready is None and spec.ports:
                from harness.scenario.model import Readiness

                ready = Readiness(http=None, port=spec.ports[0], timeout=60.0)
            if ready is not None:
                self._wait_one(name, info, ready, should_stop)
        self._on_event("env-ready", "all services ready")

    def _wait_one(self, name: str, info: ServiceInfo, ready, should_stop) -> None:
        host_port = info.published.get(ready.port)
        if host_port is None and self._state(info) not in ALIVE:
            raise self._stopped(name, info, f"services.{name}", "none")
        if host_port is None:
            raise ReadinessError(f"service '{name}' does not publish port {ready.port}",
                                 where=f"services.{name}.ready",
                                 hint=f"add {ready.port} to services.{name}.ports in the scenario")
        target = f"http://{info.address}:{host_port}{ready.http}" if ready.http else f"tcp {info.address}:{host_port}"
        deadline = time.monotonic() + ready.timeout
        last = "not tried yet"
        while True:
            if should_stop():
                return
            state = self._state(info)
            if state not in ALIVE:
                raise self._stopped(name, info, target, last)
            ok, last = _probe(ready.http, host_port, info.address)
            if ok:
                return
            if time.monotonic() > deadline:
                raise ReadinessError(
                    f"service '{name}' was not ready within {ready.timeout:g}s",
                    where=target, seen=f"last check: {last}; container state: {state}\n"
                    f"  logs (last lines):\n    " + self.logs_tail(name).replace("\n", "\n    "),
                    hint=f"is the service listening on container port {ready.port}"
                    + (f" and answering {ready.http}?" if ready.http else "?")
                    + f" Raise services.{name}.ready.timeout if it starts slowly.")
            time.sleep(ready.interval)

    def _stopped(self, name: str, info: ServiceInfo, where: str, last: str) -> ReadinessError:
        return ReadinessError(
            f"service '{name}' stopped before it became ready",
            where=where, seen=f"container state: {self._state(info)}; last check: {last}\n"
            f"  logs (last lines):\n    " + self.logs_tail(name).replace("\n", "\n    "),
            hint="the container exited: look at its logs above")

    def _state(self, info: ServiceInfo) -> str:
        try:
            c = self.client().containers.get(info.container_id)
            return c.status
        except Exception as e:
            return f"unknown ({e.__class__.__name__})"

    # -- teardown -----------------------------------------------------------------------------
    def down(self, timeout: float = 120) -> None:
        """Stop and remove everything this run created. Idempotent; never raises."""
        if self._down or not self._started:
            return
        self._down = True
        self._on_event("env-down", "tearing down")
        try:
            self.save_logs()
        except Exception as e:
            log.warning("saving logs failed: %s", e)
        try:
            proc.run([*self._base(), "down", "-v", "--remove-orphans", "--rmi", "local", "-t", "3"],
                     timeout=timeout, check=True, what="compose down failed")
        except Exception as e:
            log.warning("%s; removing by label instead", e)
        from harness.env.cleanup import cleanup_project

        try:
            left = cleanup_project(self.project)
            if any(left.values()):
                log.info("removed by label after compose down: %s", left)
        except Exception as e:
            log.error("cleanup by label failed for %s: %s (run `harness clean`)", self.project, e)


def _probe(http_path: str | None, port: int, address: str = "127.0.0.1") -> tuple[bool, str]:
    if http_path:
        url = f"http://{address}:{port}{http_path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return (200 <= r.status < 400), f"HTTP {r.status}"
        except urllib.error.HTTPError as e:
            return False, f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            return False, f"{getattr(e, 'reason', e)}"
    try:
        with socket.create_connection((address, port), timeout=2):
            return True, "connected"
    except OSError as e:
        return False, str(e)
