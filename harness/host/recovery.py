"""Recovery: what runs whose harness died left behind, and putting it right.

One owner check, owner_alive, serves both callers:
  the watchdog (harness/host/watchdog.py) polls its owner's PID and start time;
  `harness clean` (find, clean) reads the owner's PID and host from the run's labels.
Putting a run right is the same for both (recover): revert what its fault ledger still has
open, newest first (harness.undo.ledger.revert_open), then remove its resources by label
(harness.env.cleanup.cleanup_project).
"""
from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness import ssh_tunnel
from harness.capture.uprobes import probes  # noqa: F401 - registers the undo step of uprobes
from harness.env import cleanup
from harness.faults import steps  # noqa: F401 - registers the undo steps of faults
from harness.undo import ledger
from harness.undo.steps import kill_pidfile

log = logging.getLogger("harness.clean")


def owner_alive(pid: int | None, *, create_time: float | None = None, host: str | None = None) -> bool:
    """Is the harness process that owns a run still running?

    No pid: gone. `host` (from a run's labels) other than this host: another host's run, not
    ours to judge, so alive. A zombie is gone. With `create_time` (the watchdog knows it) the
    PID must still be that process, so a reused PID does not count; without it, the process
    must look like a harness (harness, python or pytest on its command line).
    """
    if pid is None:
        return False
    if host is not None and host != socket.gethostname():
        return True
    import psutil
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        if create_time is not None:
            return abs(p.create_time() - create_time) < 0.05
        cmd = " ".join(p.cmdline())
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    return any(word in cmd for word in ("harness", "python", "pytest"))


def start_time(pid: int) -> float | None:
    """The process's start time (for owner_alive's create_time), or None if it is gone."""
    import psutil
    try:
        return psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return None


def recover(run_dir: str | Path | None, project: str, *, runner=None, client=None) -> dict[str, list[str]]:
    """Put a dead run right: revert its open faults (when it has a ledger), then remove its
    resources. Returns what was removed, by type."""
    _revert_ledger(run_dir, project, runner)
    try:
        return cleanup.cleanup_project(project, client)
    finally:
        _close_tunnel(run_dir)


def _close_tunnel(run_dir: str | Path | None) -> None:
    """A dead run's ssh connection to its engine (harness/ssh_tunnel.py), once nothing needs it."""
    if run_dir and kill_pidfile(Path(run_dir) / ssh_tunnel.PIDFILE, ssh_tunnel.MARKER):
        log.info("closed the ssh connection of %s", run_dir)


def _revert_ledger(run_dir: str | Path | None, project: str, runner=None) -> None:
    """Revert what a dead run's fault ledger still has open (host-side proxies, pressure
    helpers, rules in namespaces that outlive it), before its containers go. Never raises."""
    if not run_dir or not (Path(run_dir) / ledger.FILENAME).exists():
        return
    t0 = time.monotonic()
    try:
        done = ledger.revert_open(Path(run_dir), runner=runner, log=log.info)
    except Exception as e:  # noqa: BLE001 - the resources are removed all the same
        log.warning("reverting the fault ledger of %s failed: %s", project, e)
        return
    if done:
        log.info("reverted %d open fault(s) of %s in %.2fs", len(done), project, time.monotonic() - t0)


# -- `harness clean` ------------------------------------------------------------------------------

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


def find(client=None) -> dict[str, Leftover]:
    """All harness projects on this engine, by project name."""
    client = client or cleanup.docker_client()
    found: dict[str, Leftover] = {}

    def entry(labels: dict) -> Leftover:
        project = labels.get(cleanup.LABEL_PROJECT, "?")
        if project not in found:
            pid_s = labels.get(cleanup.LABEL_PID, "")
            pid = int(pid_s) if pid_s.isdigit() else None
            host = labels.get(cleanup.LABEL_HOST, "")
            found[project] = Leftover(project, labels.get(cleanup.LABEL_RUN, "?"), pid, host,
                                      owner_alive(pid, host=host), labels.get(cleanup.LABEL_RUN_DIR))
        return found[project]

    flt = {"label": cleanup.LABEL_PROJECT}
    for c in client.containers.list(all=True, filters=flt, ignore_removed=True):
        entry(c.labels).containers.append(c.name)
    for n in client.networks.list(filters=flt):
        entry(n.attrs.get("Labels") or {}).networks.append(n.name)
    for v in client.volumes.list(filters=flt):
        entry(v.attrs.get("Labels") or {}).volumes.append(v.name)
    for i in client.images.list(filters=flt):
        entry(i.labels or {}).images.append(i.tags[0] if i.tags else i.short_id)
    return found


def clean(leftovers: Iterable[Leftover], client=None) -> list[tuple[Leftover, dict]]:
    """Remove the given leftover runs (recover each). Which runs count (owner gone, or all) is
    the caller's choice; see find()."""
    client = client or cleanup.docker_client()
    return [(lo, recover(lo.run_dir, lo.project, client=client)) for lo in leftovers]


# -- journals of host-side work that belongs to no run (the doctor's uprobe check) ---------------

JOURNAL_PREFIX = "harness-journal-"


@dataclass
class Journal:
    """A ledger for host changes made outside a run: `$HARNESS_STATE_DIR/harness-journal-<pid>-
    <start>`, replayed by `harness clean` once its process is gone (a SIGKILL of `harness doctor`
    during its uprobe check once left the probe registered and clean saying "nothing to clean")."""
    path: Path

    @classmethod
    def open(cls, pid: int | None = None) -> Journal:
        import os

        from harness.env import reserve
        pid = pid or os.getpid()
        path = reserve.state_dir() / f"{JOURNAL_PREFIX}{pid}-{round(start_time(pid) or 0, 2)}"
        path.mkdir(exist_ok=True)
        return cls(path)

    @property
    def ledger(self) -> ledger.Ledger:
        return ledger.Ledger(self.path)

    def close(self) -> None:
        """Remove the journal once nothing in it is left open (its owner, or a replay, undid it)."""
        import shutil
        if not self.ledger.unreverted():
            shutil.rmtree(self.path, ignore_errors=True)

    def owner(self) -> tuple[int | None, float | None]:
        parts = self.path.name[len(JOURNAL_PREFIX):].split("-", 1)
        try:
            return int(parts[0]), float(parts[1])
        except (IndexError, ValueError):
            return None, None


def orphan_journals() -> list[Journal]:
    """Journals whose process is gone (its PID dead or now another process)."""
    from harness.env import reserve
    out = []
    for path in sorted(reserve.state_dir().glob(JOURNAL_PREFIX + "*")):
        j = Journal(path)
        pid, started = j.owner()
        if path.is_dir() and not owner_alive(pid, create_time=started):
            out.append(j)
    return out


def replay(journal: Journal, runner=None) -> list[dict]:
    """Undo what a dead process's journal has open, then remove the journal."""
    done = ledger.revert_open(journal.path, runner=runner, log=log.info)
    journal.close()
    return done
