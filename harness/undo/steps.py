"""Undo steps as data, and the runner that carries them out.

A step is a JSON-able dict `{"op": NAME, ...}`. Each owner of host changes registers the
operations it writes with `@operation(NAME)` (harness/faults/steps.py: namespaces, qdiscs,
docker calls; harness/capture/uprobes/probes.py: uprobe groups). The generic ones live here:

  spawn         {argv, pidfile, container?, marker,    start a helper (in the container's network
                 ready_timeout?}                       namespace when `container` is set), own
                                                       session, wait for its pidfile
  kill-pidfile  {pidfile, marker}                      stop that helper (process group), if it is
                                                       still ours (PID and create time, marker)
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError

log = logging.getLogger("harness.undo")

OPS: dict[str, Callable[[StepRunner, dict], None]] = {}


def operation(name: str):
    """Register the function that carries out steps `{"op": name}` (once per name)."""
    def register(fn):
        if name in OPS and OPS[name] is not fn:
            raise ValueError(f"undo step '{name}' is registered twice")
        OPS[name] = fn
        return fn
    return register


class ContainerGone(Exception):
    """The container no longer runs: its namespaces (and every rule in them) are gone."""


def ns_argv(pid: int, argv: list[str]) -> list[str]:
    return ["nsenter", "-t", str(pid), "-n", "--", *argv]


class StepRunner:
    """Runs steps against this host and its Docker engine (`docker_client`, created lazily)."""

    def __init__(self, docker_client=None):
        self._docker = docker_client
        self._pids: dict[str, int] | None = None     # container -> pid, only during undo()

    @property
    def docker(self):
        if self._docker is None:
            import docker
            self._docker = docker.from_env(timeout=30)
        return self._docker

    def pid(self, container: str) -> int:
        """The host PID of a running container's main process; ContainerGone when it has none."""
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

    def forget_pids(self) -> None:
        """A step that may give a container a new process (a docker call) clears the cache."""
        if self._pids is not None:
            self._pids = {}

    def run(self, step: dict) -> None:
        op = OPS.get(step["op"])
        if op is None:
            raise HarnessError(f"unknown undo step '{step['op']}'", hint=f"known steps: {', '.join(sorted(OPS))}")
        op(self, step)

    def undo(self, steps: list[dict]) -> list[str]:
        """Run every undo step; failures are collected, never stop the rest."""
        failures: list[str] = []
        self._pids = {}          # undo steps have no docker calls that move a container's PID
        try:
            for step in steps:
                self._undo_one(step, failures)
        finally:
            self._pids = None
        return failures

    def _undo_one(self, step: dict, failures: list[str]) -> None:
        try:
            self.run(step)
        except ContainerGone:
            log.debug("undo %s: container gone, nothing left to revert", step["op"])
        except HarnessError as e:
            failures.append(e.render())
        except Exception as e:  # noqa: BLE001 - one broken step must not keep the others from running
            failures.append(f"{step['op']}: {type(e).__name__}: {e}")


# -- helper processes ----------------------------------------------------------------------------

def spawn_helper(argv: list[str], pidfile: Path, errlog: Path, *, timeout: float, what: str) -> subprocess.Popen:
    """Start a helper in its own session and wait until it writes `pidfile` (write_pidfile);
    raises HarnessError with the tail of `errlog` when it exits or times out first."""
    pidfile.unlink(missing_ok=True)
    with open(errlog, "ab") as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                             start_new_session=True, close_fds=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pidfile.exists() and pidfile.read_text().strip():
            return p
        if p.poll() is not None:
            break
        time.sleep(0.02)
    if p.poll() is None:
        _kill_group(p.pid)
    tail = errlog.read_text(errors="replace").strip().splitlines()[-6:] if errlog.exists() else []
    raise HarnessError(f"{what} did not start", where=" ".join(argv),
                       seen=("exit code %s" % p.poll()) + ("; " + " | ".join(tail) if tail else ""),
                       hint=f"see {errlog}")


@operation("spawn")
def _spawn(runner: StepRunner, s: dict) -> None:
    argv = list(s["argv"])
    if s.get("container"):
        argv = ns_argv(runner.pid(s["container"]), argv)
    pidfile = Path(s["pidfile"])
    spawn_helper(argv, pidfile, pidfile.with_suffix(".log"), timeout=float(s.get("ready_timeout", 10.0)),
                 what=f"the fault helper ({s.get('marker')})")


@operation("kill-pidfile")
def _kill(runner: StepRunner, s: dict) -> None:
    kill_pidfile(Path(s["pidfile"]), s.get("marker", ""))


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
            log.info("pid %s is no longer the helper %s; left alone", pid, marker)
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


def write_pidfile(path: Path, pid: int | None = None) -> None:
    """Called by a helper once it is ready (or by its starter, with its pid): pid and create time
    (guards against PID reuse), as kill_pidfile reads them."""
    import psutil
    pid = pid or os.getpid()
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(f"{pid} {psutil.Process(pid).create_time()}\n")
    os.replace(tmp, path)


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
