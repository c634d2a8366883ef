"""FaultController: the engine's one handle on faults (see docs/DESIGN.md, engine contracts).

preflight -> start_watchdog -> [prepare] -> apply/revert per phase -> revert_all -> stop_watchdog.
Every apply writes the fault's undo steps to the ledger before the first change.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from harness import docker_engine as engine
from harness.errors import CapabilityError, HarnessError
from harness.faults import capabilities, helper, registry, steps  # steps registers the undo steps of faults
from harness.faults.backends import BY_NAME as BACKENDS
from harness.faults.target import resolve
from harness.undo.ledger import Ledger
from harness.undo.steps import StepRunner, kill_pidfile, spawn_helper

log = logging.getLogger("harness.faults")
WATCHDOG = "harness.host.watchdog"   # python -m <this>: reverts and tears down if the harness dies


class FaultController:
    def __init__(self, rc, *, docker_client=None):
        self.rc = rc
        self.dir = Path(rc.run_dir) / "faults"
        self.ledger = Ledger(rc.run_dir)
        self.runner = StepRunner(docker_client)
        self._lock = threading.RLock()
        self._backend: dict[str, str] = {}
        self._skipped: dict[str, str] = {}
        self._active: dict[str, dict] = {}           # id -> ledger entry (with undo)
        self._records: dict[str, dict] = {}
        self._watchdog: subprocess.Popen | None = None

    # -- before the run ----------------------------------------------------------------------
    def choose(self, spec) -> tuple[str | None, str]:
        """(backend, "") or (None, why nothing works), for one spec on this host."""
        kind = registry.get(spec.kind)
        candidates = kind.backends if spec.backend == "auto" else (spec.backend,)
        problems = []
        for b in candidates:
            why = kind.unsupported(b, spec.params, spec.direction)
            if why:
                problems.append(f"{b}: {why}")
                continue
            miss = capabilities.missing(b, spec.kind, spec.direction, spec.peer is not None)
            if not miss:
                return b, ""
            problems.append(f"{b} needs {', '.join(c.name for c in miss)} ({miss[0].detail})"
                            + (f" - {miss[0].hint}" if miss[0].hint else ""))
        return None, "; ".join(problems)

    def preflight(self, specs) -> list[str]:
        """Pick a backend for every fault; raise CapabilityError for the first that has none
        (unless it allows skipping). Returns one message per skipped fault."""
        notes = []
        for spec in specs:
            backend, why = self.choose(spec)
            if backend:
                self._backend[spec.id] = backend
                continue
            kind = registry.get(spec.kind)
            alts = [b for b in kind.backends if b != spec.backend and spec.backend != "auto"]
            if spec.allow_skip:
                self._skipped[spec.id] = why
                notes.append(f"fault {spec.id} ({spec.kind} on {spec.target}) will be skipped: {why}")
                continue
            raise CapabilityError(f"fault {spec.id}: no backend for {spec.kind} works on this host",
                                  where=spec.where or None, seen=why,
                                  hint=(f"try backend: {alts[0]}, " if alts else "")
                                  + "set allow_skip: true on the fault to run without it, "
                                    "or see `harness doctor`")
        return notes

    # -- during the run ----------------------------------------------------------------------
    def apply(self, spec, phase: str) -> dict:
        with self._lock:
            if spec.id in self._active:
                raise HarnessError(f"fault {spec.id} is already applied", where=spec.where or None)
            rec = {"id": spec.id, "kind": spec.kind, "target": spec.target, "phase": phase,
                   "backend": None, "applied_s": None, "reverted_s": None, "params": dict(spec.params),
                   "peer": spec.peer.to_json() if spec.peer else None, "direction": spec.direction}
            self._records[spec.id] = rec
            if spec.id in self._skipped:
                rec["skipped"] = self._skipped[spec.id]
                self.rc.events.add("fault-skipped", f"{spec.id} {spec.kind} on {spec.target}: "
                                   f"{self._skipped[spec.id]}", fault=spec.id)
                return rec
            backend = self._backend.get(spec.id)
            if backend is None:
                self.preflight([spec])
                backend = self._backend[spec.id]
            rec["backend"] = backend
            self.dir.mkdir(parents=True, exist_ok=True)
            target = resolve(self.rc, spec, self.runner.docker)
            plan = registry.get(spec.kind).build(backend, spec, target)
            try:
                self._apply_shared(plan, spec)
            except BaseException as e:
                rec["error"] = e.render() if isinstance(e, HarnessError) else f"{type(e).__name__}: {e}"
                raise
            entry = self.ledger.write(spec.id, "applying", kind=spec.kind, target=spec.target, phase=phase,
                                      backend=backend, params=dict(spec.params), undo=plan.undo,
                                      do=plan.do, run_id=self.rc.run_id, project=self.rc.project,
                                      tag=target.tag)
            try:
                for step in plan.do:
                    self.runner.run(step)
            except BaseException as e:
                failures = self.runner.undo(plan.undo)
                self.ledger.write(spec.id, "revert-failed" if failures else "reverted", failures=failures or None)
                rec["error"] = e.render() if isinstance(e, HarnessError) else f"{type(e).__name__}: {e}"
                self.rc.events.add("fault-failed", f"{spec.id} {spec.kind} on {spec.target}: "
                                   f"{rec['error'].splitlines()[0]}", fault=spec.id)
                if isinstance(e, HarnessError):
                    raise
                raise HarnessError(f"fault {spec.id} could not be applied", where=spec.where or None,
                                   seen=rec["error"]) from e
            rec["applied_s"] = round(self.rc.clock.now(), 6)
            self.ledger.write(spec.id, "applied", applied_s=rec["applied_s"])
            self._active[spec.id] = entry
            self.rc.events.add("fault-applied", f"{spec.id} {spec.kind} on {spec.target} via {backend}",
                               fault=spec.id, t_s=rec["applied_s"])
            return rec

    def prepare(self, specs) -> None:
        """Create the run-wide objects the faults will need (e.g. the htb root of each target
        interface) now, while no load runs: changing a root qdisc can drop a packet in flight.
        Only for backends that declare shared objects. Optional: apply() creates them on first
        use otherwise."""
        for spec in specs:
            backend = self._backend.get(spec.id)
            if backend is not None and "nsenter" in BACKENDS[backend].all_needs:
                self._helper_for(spec, backend)
            if backend is None or not BACKENDS[backend].shared:
                continue
            with self._lock:
                target = resolve(self.rc, spec, self.runner.docker)
                self._apply_shared(registry.get(spec.kind).build(backend, spec, target), spec)

    def _helper_for(self, spec, backend: str) -> None:
        """On a remote engine, the target's fault helper now (its image built, its container
        started: seconds), and the fault proxy's image, so that applying the fault at its
        phase's start is quick."""
        if engine.current().local:
            return
        info = self.rc.services.get(spec.target)
        if info is not None:
            steps.helper_of(self.runner, info.container_id)
            self.rc.events.add("fault-helper", f"fault helper ready in {spec.target}'s network namespace",
                               fault=spec.id, service=spec.target)
        if backend == "proxy":
            helper.proxy_image(self.runner.docker)

    def _apply_shared(self, plan, spec) -> None:
        for sid, splan in plan.shared:
            if sid in self._active:
                continue
            entry = self.ledger.write(sid, "applying", kind="shared", target=spec.target, backend=splan.backend,
                                      undo=splan.undo, do=splan.do, run_id=self.rc.run_id,
                                      project=self.rc.project)
            try:
                for step in splan.do:
                    self.runner.run(step)
            except BaseException:
                failures = self.runner.undo(splan.undo)
                self.ledger.write(sid, "revert-failed" if failures else "reverted", failures=failures or None)
                raise
            self.ledger.write(sid, "applied")
            self._active[sid] = entry
            self.rc.events.add("fault-shared", f"{sid} created for {spec.id}", fault=spec.id)

    def revert(self, spec_or_id) -> dict | None:
        fid = getattr(spec_or_id, "id", spec_or_id)
        with self._lock:
            entry = self._active.pop(fid, None)
            if entry is None:
                return self._records.get(fid)
            failures = self.runner.undo(entry["undo"])
            rec = self._records.get(fid)
            if rec is None:                      # a shared object (revert_all, end of run)
                self.ledger.write(fid, "revert-failed" if failures else "reverted", failures=failures or None)
                if failures:
                    raise HarnessError(f"{fid} was not fully removed", seen="; ".join(failures),
                                       hint="run `harness clean` to retry")
                return None
            rec["reverted_s"] = round(self.rc.clock.now(), 6)
            self.ledger.write(fid, "revert-failed" if failures else "reverted",
                              reverted_s=rec["reverted_s"], failures=failures or None)
            self.rc.events.add("fault-reverted", f"{fid} {rec['kind']} on {rec['target']}"
                               + (" (with failures)" if failures else ""), fault=fid, t_s=rec["reverted_s"])
            if failures:
                rec["revert_failures"] = failures
                raise HarnessError(f"fault {fid} was not fully reverted", where=rec["target"],
                                   seen="; ".join(failures), hint="run `harness clean` to retry")
            return rec

    def revert_all(self) -> list[str]:
        """Revert every applied fault, newest first; idempotent; never raises (returns problems)."""
        problems = []
        with self._lock:
            for fid in reversed(list(self._active)):
                try:
                    self.revert(fid)
                except HarnessError as e:
                    problems.append(e.render())
            problems += steps.remove_helpers()
        return problems

    def records(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._records.values()]

    # -- watchdog ------------------------------------------------------------------------------
    def start_watchdog(self, owner_pid: int) -> int:
        """Start the detached watchdog (own session); returns its PID once it is polling.
        It is the host layer's process (harness/host/watchdog.py), started by its module
        path: faults do not import the layer above them."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "watchdog.stop").unlink(missing_ok=True)
        argv = [sys.executable, "-m", WATCHDOG, "--run-dir", str(self.rc.run_dir),
                "--owner-pid", str(owner_pid), "--project", self.rc.project]
        self._watchdog = spawn_helper(argv, self.dir / "watchdog.pid", self.dir / "watchdog.log", timeout=15,
                                      what="the fault watchdog")
        self.rc.events.add("watchdog-started", f"pid {self._watchdog.pid}")
        return self._watchdog.pid

    def stop_watchdog(self) -> None:
        """Tell the watchdog to exit without reverting or tearing down; idempotent."""
        (self.dir / "watchdog.stop").parent.mkdir(parents=True, exist_ok=True)
        (self.dir / "watchdog.stop").write_text(str(os.getpid()))
        p, self._watchdog = self._watchdog, None
        if p is None:
            return
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_pidfile(self.dir / "watchdog.pid", WATCHDOG)
            try:
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
