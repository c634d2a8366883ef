"""Which Docker engine a run uses, and whether it is on this host.

Chosen, first that says: `--docker-host` on the command line, $HARNESS_DOCKER_HOST, the
scenario's `docker: {host | context}`, $DOCKER_HOST, $DOCKER_CONTEXT, else the local socket.
A context is resolved to its endpoint with `docker context inspect`. The chosen engine is
made the process's $DOCKER_HOST (activate()), so the Docker SDK, compose and every helper
process the run starts (the watchdog) reach the same one.

An engine is local when it is reached through a unix socket: its containers' processes,
namespaces and cgroups are on this host. Any other engine (tcp://, even one on this machine
through a relay; ssh://) is remote: the harness takes none of the local shortcuts (no nsenter, no host
PIDs, no cgroup files, no perf), publishes the environment's ports on the engine's address and
reaches them, pprof included, there. An ssh:// engine is reached through one ssh connection
the harness opens and closes (harness/ssh_tunnel.py): the ports are published on the engine
host's loopback and forwarded through it.
"""
from __future__ import annotations

import atexit
import functools
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness import proc, ssh_tunnel
from harness.errors import HarnessError

LOCAL_SOCKET = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class Engine:
    host: str              # a DOCKER_HOST URL
    source: str            # where the choice came from, for messages and the manifest

    @property
    def local(self) -> bool:
        return self.host.startswith("unix://")

    @property
    def ssh(self) -> bool:
        return self.host.startswith("ssh://")

    @functools.cached_property
    def address(self) -> str:
        """Where the environment's published ports are reached (and published): this host's
        loopback for a local engine, the engine host's address for a remote one (resolved once:
        every service's look-up asks)."""
        if self.local or self.ssh:       # an ssh engine's: its loopback, forwarded to this host's
            return "127.0.0.1"
        name = urlsplit(self.host).hostname or ""
        try:
            return socket.gethostbyname(name)
        except OSError as e:
            raise HarnessError(f"cannot resolve the Docker engine's host '{name}'", where=self.source,
                               seen=str(e), hint="give the engine as tcp://ADDRESS:PORT") from None

    def describe(self) -> str:
        return f"{self.host} ({'local' if self.local else 'remote'}, from {self.source})"

    def to_json(self) -> dict:
        return {"host": self.host, "local": self.local, "source": self.source}


_current: Engine | None = None


def current() -> Engine:
    """The engine this process uses (the local socket until activate())."""
    return _current or Engine(os.environ.get("DOCKER_HOST") or LOCAL_SOCKET,
                              "DOCKER_HOST" if os.environ.get("DOCKER_HOST") else "default")


def choose(cli: str | None = None, scenario_host: str | None = None, scenario_context: str | None = None,
           where: str = "docker") -> Engine:
    """The engine by the documented order; a context becomes its endpoint."""
    for value, source in ((cli, "--docker-host"), (os.environ.get("HARNESS_DOCKER_HOST"), "HARNESS_DOCKER_HOST"),
                          (scenario_host, f"{where}: host")):
        if value:
            return Engine(check_host(value, source), source)
    if scenario_context:
        return Engine(context_host(scenario_context, f"{where}: context"), f"{where}: context {scenario_context}")
    if os.environ.get("DOCKER_HOST"):
        return Engine(check_host(os.environ["DOCKER_HOST"], "DOCKER_HOST"), "DOCKER_HOST")
    if os.environ.get("DOCKER_CONTEXT") not in (None, "", "default"):
        name = os.environ["DOCKER_CONTEXT"]
        return Engine(context_host(name, "DOCKER_CONTEXT"), f"DOCKER_CONTEXT {name}")
    return Engine(LOCAL_SOCKET, "default")


def choose_for(cli: str | None, scenario) -> Engine:
    """The engine for a scenario (its docker: section) and the command line's --docker-host."""
    return choose(cli, scenario.docker_host, scenario.docker_context, scenario.docker_where)


def check_host(value: str, source: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme == "unix" or (scheme == "tcp" and urlsplit(value).hostname and _port(value)):
        return value.rstrip("/")
    if scheme == "ssh":
        ssh_tunnel.parse(value, source)
        return value.rstrip("/")
    raise HarnessError("not a Docker engine address", where=source, seen=value,
                       hint="unix:///var/run/docker.sock or tcp://HOST:PORT (with DOCKER_TLS_VERIFY and "
                            "DOCKER_CERT_PATH for TLS)")


def _port(value: str) -> int | None:
    try:
        return urlsplit(value).port
    except ValueError:
        return None


def context_host(name: str, where: str) -> str:
    res = proc.run(["docker", "context", "inspect", name, "--format", "{{.Endpoints.docker.Host}}"],
                   timeout=20, check=False)
    host = res.stdout.strip()
    if res.returncode != 0 or not host:
        raise HarnessError(f"no Docker context '{name}'", where=where,
                           seen=(res.stderr or res.stdout).strip()[:200], hint="`docker context ls` lists them")
    return check_host(host, f"{where} ({name})")


_tunnel: ssh_tunnel.Tunnel | None = None


def activate(engine: Engine) -> Engine:
    """Make `engine` this process's engine: $DOCKER_HOST for the SDK, compose and helpers. An
    ssh:// engine is connected here (its tunnel closes when this process exits)."""
    global _current, _tunnel
    url = engine.host
    if engine.ssh:
        if _tunnel is None or _tunnel.url != engine.host:
            close_tunnel()
            _tunnel = ssh_tunnel.Tunnel(engine.host, engine.source)
            _tunnel.open()
            atexit.register(close_tunnel)
        url = _tunnel.engine_url
    _current = engine
    os.environ["DOCKER_HOST"] = url
    os.environ.pop("DOCKER_CONTEXT", None)
    return engine


def tunnel() -> ssh_tunnel.Tunnel | None:
    """The ssh connection of the current engine, if it is an ssh:// one."""
    return _tunnel


def reach(port: int) -> int:
    """The port on this host that reaches `port` published on the engine host: itself, or an
    ssh engine's forward."""
    return _tunnel.forward(port) if _tunnel is not None and current().ssh else port


def close_tunnel() -> None:
    global _tunnel
    if _tunnel is not None:
        _tunnel.close()
        _tunnel = None
