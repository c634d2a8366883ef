"""Plans and steps: what a backend does, as data.

A backend turns a fault into a Plan: `do` steps that apply it and `undo` steps that
revert it. Steps are plain JSON-able dicts, so the ledger holds the exact undo of every
fault before it is applied and the watchdog (another process) can replay it.

Step ops:
  ns                {container, argv, ignore_errors}    run argv inside the container's network namespace
  tc-claim-root     {container, dev, handle}            refuse unless the root qdisc is the kernel default
  tc-release-root   {container, dev, handle}            delete the root qdisc only if it carries our handle
  tc-claim-ingress  {container, dev}                    refuse if an ingress/clsact qdisc already exists
  tc-release-ingress{container, dev, ifb}               delete the ingress qdisc only if it redirects to our IFB
  spawn             {argv, pidfile, container?, marker} start a helper (in the container's netns when
                                                        `container` is set), own session, wait for its pidfile
  kill-pidfile      {pidfile, marker}                   stop that helper (process group), if it is still ours
  kill-flows        {container, outbound?, inbound?,    close the target's established TCP connections that
                     exclude_ports, mark}               a new REDIRECT rule covers (ss -K), so kept-alive
                                                        connections reconnect through the proxy
  docker            {container, call, kwargs}           a docker SDK call on the container
  docker-update     {container, body}                   POST /containers/{id}/update (limits)
  uprobes-remove    {group}                             remove every uprobe event of a perf probe group
                                                        (function latency captures use the ledger too)
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import proc
from harness.errors import CommandError, HarnessError

log = logging.getLogger("harness.faults")

NS_TIMEOUT = 10.0
DEFAULT_ROOT_KINDS = ("noqueue", "pfifo_fast", "mq", "fq_codel", "pfifo", "fq")


@dataclass
class Plan:
    """do/undo steps of one fault; `shared` lists (id, Plan) of run-wide objects the fault
    needs (e.g. the htb root of an interface), applied once and reverted by revert_all."""
    backend: str
    do: list[dict] = field(default_factory=list)
    undo: list[dict] = field(default_factory=list)
    detail: dict = field(default_factory=dict)
    shared: list = field(default_factory=list)


class ContainerGone(Exception):
    """The container no longer runs: its namespaces (and every rule in them) are gone."""


def ns_argv(pid: int, argv: list[str]) -> list[str]:
    return ["nsenter", "-t", str(pid), "-n", "--", *argv]


class StepRunner:
    """Runs steps. `docker_client` is created lazily (docker.from_env())."""

    def __init__(self, docker_client=None):
        self._docker = docker_client
        self._pids: dict[str, int] | None = None     # container -> pid, only during undo()

    @property
    def docker(self):
        if self._docker is None:
            import docker
            self._docker = docker.from_env(timeout=30)
        return self._docker

    # -- helpers ------------------------------------------------------------------------------
    def pid(self, container: str) -> int:
        import docker.errors
        if self._pids is not None and container in self._pids:
            return self._pids[container]
        try:
            c = self.docker.containers.get(container)
        except docker.errors.NotFound:
            raise ContainerGone(container) from None
        state = c.attrs.get("State", {})
        if not state.get("Running") or not state.get("Pid"):
            raise ContainerGone(container)
        if self._pids is not None:
            self._pids[container] = int(state["Pid"])
        return int(state["Pid"])

    def ns(self, container: str, argv: list[str], *, check: bool = True, what: str | None = None):
        return proc.run(ns_argv(self.pid(container), argv), timeout=NS_TIMEOUT, check=check, what=what)

    def qdiscs(self, container: str, dev: str) -> list[dict]:
        res = self.ns(container, ["tc", "-j", "qdisc", "show", "dev", dev])
        return json.loads(res.stdout or "[]")

    # -- running ------------------------------------------------------------------------------
    def run(self, step: dict) -> None:
        op = OPS.get(step["op"])
        if op is None:
            raise HarnessError(f"unknown fault step '{step['op']}'", hint=f"known steps: {', '.join(OPS)}")
        op(self, step)

    def undo(self, steps: list[dict]) -> list[str]:
        """Run every undo step; failures are collected, never stop the rest."""
        failures = []
        self._pids = {}          # undo steps have no docker calls that move a container's PID
        try:
            self._undo(steps, failures)
        finally:
            self._pids = None
        return failures

    def _undo(self, steps: list[dict], failures: list[str]) -> None:
        for step in steps:
            if step["op"] == "docker":
                self._pids = {}
            try:
                self.run(step)
            except ContainerGone:
                log.debug("undo %s: container gone, nothing left to revert", step["op"])
            except HarnessError as e:
                failures.append(e.render())
            except Exception as e:
                failures.append(f"{step['op']}: {type(e).__name__}: {e}")
        return failures

    def _op_ns(self, s: dict) -> None:
        try:
            self.ns(s["container"], s["argv"], check=not s.get("ignore_errors"))
        except ContainerGone:
            if not s.get("ignore_errors"):
                raise HarnessError("the target container is not running", where=s["container"][:12],
                                   hint="a fault needs a running target; check the phase order") from None
            raise

    def _op_tc_claim_root(self, s: dict) -> None:
        root = next((q for q in self.qdiscs(s["container"], s["dev"]) if q.get("root")), None)
        if root is None or (root.get("handle") in ("0:", None) and root.get("kind") in DEFAULT_ROOT_KINDS):
            return
        raise HarnessError(f"{s['dev']} in the target already has a root qdisc that is not the kernel default "
                           "(the harness did not create it for this fault)",
                           where=s["container"][:12], seen=f"root qdisc {root.get('kind')} handle {root.get('handle')}",
                           hint="a qdisc is never replaced: one root-qdisc fault per interface at a time; "
                                "remove the other qdisc, move one fault to another phase, or use backend: proxy")

    def _op_tc_release_root(self, s: dict) -> None:
        root = next((q for q in self.qdiscs(s["container"], s["dev"]) if q.get("root")), None)
        if root is None or root.get("handle") != s["handle"]:
            log.info("root qdisc of %s is not ours (%s); left alone", s["dev"], root and root.get("handle"))
            return
        self.ns(s["container"], ["tc", "qdisc", "del", "dev", s["dev"], "root", "handle", s["handle"]])

    def _op_tc_claim_ingress(self, s: dict) -> None:
        taken = [q for q in self.qdiscs(s["container"], s["dev"]) if q.get("kind") in ("ingress", "clsact")]
        if taken:
            raise HarnessError(f"{s['dev']} in the target already has an {taken[0]['kind']} qdisc",
                               where=s["container"][:12], seen=json.dumps(taken[0]),
                               hint="the harness never replaces qdiscs it did not create; "
                                    "use backend: proxy for inbound faults on this target")

    def _op_tc_release_ingress(self, s: dict) -> None:
        res = self.ns(s["container"], ["tc", "filter", "show", "dev", s["dev"], "parent", "ffff:"], check=False)
        if s["ifb"] not in res.stdout:
            log.info("ingress qdisc of %s does not redirect to %s; left alone", s["dev"], s["ifb"])
            return
        self.ns(s["container"], ["tc", "qdisc", "del", "dev", s["dev"], "handle", "ffff:", "ingress"])

    def _op_spawn(self, s: dict) -> None:
        argv = list(s["argv"])
        if s.get("container"):
            argv = ns_argv(self.pid(s["container"]), argv)
        pidfile = Path(s["pidfile"])
        pidfile.unlink(missing_ok=True)
        errlog = pidfile.with_suffix(".log")
        with open(errlog, "ab") as err:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                 start_new_session=True, close_fds=True)
        deadline = time.monotonic() + float(s.get("ready_timeout", 10.0))
        while time.monotonic() < deadline:
            if pidfile.exists() and pidfile.read_text().strip():
                return
            if p.poll() is not None:
                break
            time.sleep(0.02)
        if p.poll() is None:
            _kill_group(p.pid)
        tail = errlog.read_text(errors="replace").strip().splitlines()[-6:] if errlog.exists() else []
        raise HarnessError(f"the fault helper did not start ({s.get('marker')})", where=" ".join(argv),
                           seen=("exit code %s" % p.returncode) + ("; " + " | ".join(tail) if tail else ""),
                           hint=f"see {errlog}")

    def _op_kill_flows(self, s: dict) -> None:
        """NAT rules only catch new connections: a client with a kept-alive pool would never
        see the fault. Close the established connections the rules cover (the kernel's socket
        destroy, `ss -K`); clients reconnect, through the proxy. Best effort: a kernel without
        socket destroy keeps them, which is logged."""
        listening = self._listening_ports(s["container"])
        excluded = set(s.get("exclude_ports") or ())
        server_ports = sorted(set(listening) - excluded)
        for flt in kill_filters(s.get("outbound"), s.get("inbound"), server_ports, s.get("mark")):
            res = self.ns(s["container"], ["ss", "-K", "-t", "-n", "state", "established", flt], check=False)
            if res.returncode != 0:
                log.warning("could not close existing connections (%s): %s", flt, res.stderr.strip())
            else:
                closed = max(len(res.stdout.strip().splitlines()) - 1, 0)
                log.info("closed %d existing connection(s) matching %s", closed, flt)

    def _listening_ports(self, container: str) -> list[int]:
        res = self.ns(container, ["ss", "-H", "-l", "-t", "-n"], check=False)
        ports = set()
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 4 and ":" in parts[3]:
                port = parts[3].rsplit(":", 1)[1]
                if port.isdigit():
                    ports.add(int(port))
        return sorted(ports)

    def _op_kill_pidfile(self, s: dict) -> None:
        kill_pidfile(Path(s["pidfile"]), s.get("marker", ""))

    def _op_uprobes_remove(self, s: dict) -> None:
        from harness import uprobes
        left = uprobes.remove_group(s["group"])
        if left:
            raise HarnessError(f"uprobes still registered: {', '.join(left)}",
                               hint="a perf record may still hold them; `perf probe -d` them by hand")

    def _op_docker_update(self, s: dict) -> None:
        import docker.errors
        api = self.docker.api
        try:
            res = api._post_json(api._url("/containers/{0}/update", s["container"]), data=s["body"])
            api._raise_for_status(res)
        except docker.errors.NotFound:
            raise ContainerGone(s["container"]) from None
        except docker.errors.APIError as e:
            raise HarnessError("docker update failed", where=s["container"][:12],
                               seen=f"{s['body']}: {e.explanation or e}",
                               hint="check the value against the host (CPUs, memory in use)") from None

    def _op_docker(self, s: dict) -> None:
        import docker.errors
        try:
            c = self.docker.containers.get(s["container"])
            call = s["call"]
            kwargs = dict(s.get("kwargs") or {})
            if call == "unpause" and not c.attrs["State"].get("Paused"):
                return
            if call == "start" and c.attrs["State"].get("Running"):
                return
            DOCKER_CALLS[call](c, **kwargs)
        except docker.errors.NotFound:
            raise ContainerGone(s["container"]) from None
        except docker.errors.APIError as e:
            raise HarnessError(f"docker {s['call']} failed", where=s["container"][:12],
                               seen=str(e.explanation or e), hint="see the Docker engine's log") from None


# The container calls a `docker` step may make (harness/faults/backends/docker.py).
DOCKER_CALLS = {
    "pause": lambda c, **kw: c.pause(**kw),
    "unpause": lambda c, **kw: c.unpause(**kw),
    "stop": lambda c, **kw: c.stop(**kw),
    "start": lambda c, **kw: c.start(**kw),
    "kill": lambda c, **kw: c.kill(**kw),
    "restart": lambda c, **kw: c.restart(**kw),
}

# The steps a plan may hold (harness/faults/backends write them), by name.
OPS = {
    "ns": StepRunner._op_ns,
    "tc-claim-root": StepRunner._op_tc_claim_root,
    "tc-release-root": StepRunner._op_tc_release_root,
    "tc-claim-ingress": StepRunner._op_tc_claim_ingress,
    "tc-release-ingress": StepRunner._op_tc_release_ingress,
    "spawn": StepRunner._op_spawn,
    "kill-flows": StepRunner._op_kill_flows,
    "kill-pidfile": StepRunner._op_kill_pidfile,
    "docker-update": StepRunner._op_docker_update,
    "docker": StepRunner._op_docker,
    "uprobes-remove": StepRunner._op_uprobes_remove,
}


def kill_pidfile(pidfile: Path, marker: str, *, grace: float = 2.0) -> bool:
    """Stop the helper named in `pidfile` (pid and create time) and its process group.

    Returns False when it was already gone. A PID reused by another process is left alone.
    """
    try:
        pid_s, ctime_s = pidfile.read_text().split()[:2]
        pid, ctime = int(pid_s), float(ctime_s)
    except (OSError, ValueError):
        return False
    import psutil
    try:
        p = psutil.Process(pid)
        if abs(p.create_time() - ctime) > 0.05 or (marker and marker not in " ".join(p.cmdline())):
            log.info("pid %s is no longer the fault helper %s; left alone", pid, marker)
            return False
    except psutil.NoSuchProcess:
        return False
    _kill_group(pid, grace=grace)
    return True


def _kill_group(pid: int, *, grace: float = 2.0) -> None:
    import psutil
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    _reap(pid)
                    return
            except psutil.NoSuchProcess:
                return
            time.sleep(0.02)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def write_pidfile(path: Path) -> None:
    """Called by a helper once it is ready: pid and create time (guards against PID reuse)."""
    import psutil
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(f"{os.getpid()} {psutil.Process().create_time()}\n")
    os.replace(tmp, path)


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


__all__ = ["Plan", "StepRunner", "ContainerGone", "CommandError", "kill_pidfile", "write_pidfile",
           "python_argv", "ns_argv"]


def kill_filters(outbound: dict | None, inbound: dict | None, server_ports: list[int],
                 mark: str | None) -> list[str]:
    """ss filters for the connections a proxy fault's REDIRECT rules cover (pure; tested).

    outbound: {"ip": peer or None, "port": peer port or None}: connections the target opened.
    inbound: {"port": own port or None}: connections into the target (None port: any of its
    listening ports). The proxy's own upstream sockets carry `mark` and are left alone.
    """
    filters = []
    nomark = f" and not fwmark = {mark}" if mark else ""
    serving = " or ".join(f"sport = :{p}" for p in server_ports)
    if outbound is not None:
        if outbound.get("ip"):
            dst = f"dst {outbound['ip']}" + (f" and dport = :{outbound['port']}" if outbound.get("port") else "")
        else:
            dst = "not dst 127.0.0.0/8" + (f" and dport = :{outbound['port']}" if outbound.get("port") else "")
        client = f" and not ( {serving} )" if serving else ""
        filters.append(f"( {dst}{client}{nomark} )")
    if inbound is not None:
        if inbound.get("port"):
            filters.append(f"( sport = :{inbound['port']} and not src 127.0.0.0/8 )")
        elif serving:
            filters.append(f"( ( {serving} ) and not src 127.0.0.0/8 )")
    return filters
