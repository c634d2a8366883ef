"""The engine: scenario -> environment -> timeline (load, faults, captures) -> run directory.

Usable as a library:

    from harness.scenario import load_scenario
    from harness.run import Runner, RunOptions
    result = Runner(load_scenario("scenarios/demo.yaml"), RunOptions()).run()

Everything the run starts is stopped and everything it changes is reverted on
success, failure, Ctrl-C (KeyboardInterrupt) and SIGTERM (raised as Interrupted by
the CLI's handler); a watchdog process covers SIGKILL of the harness.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from harness import __version__, proc
from harness.capture.tools import go_binary
from harness.errors import HarnessError, Interrupted
from harness.runctx import ArtifactLog, Clock, EventLog, PhaseWindow, RunContext
from harness.scenario.model import Scenario

log = logging.getLogger("harness.run")

SCHEMA_VERSION = 1
LOAD_LEAD_S = 0.2   # seconds between handing the ready load workers the timeline and its start


@dataclass
class RunOptions:
    runs_dir: Path | None = None           # overrides the scenario's runs_dir
    compose: str | None = None             # force "docker compose" or "docker-compose"
    report: bool = True
    on_progress: Callable[[dict], None] | None = None   # called about once a second
    progress_interval: float = 1.0


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    status: str                            # completed | failed | interrupted
    reason: str | None
    exit_code: int
    summary: dict = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)


def new_run_id(name: str, now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(now or time.time(), timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{name}-{stamp}"


def _unique_dir(root: Path, run_id: str) -> tuple[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    candidate, n = run_id, 1
    while True:
        try:
            (root / candidate).mkdir()
            return candidate, root / candidate
        except FileExistsError:
            n += 1
            candidate = f"{run_id}-{n}"


def project_name(run_id: str) -> str:
    safe = "".join(ch for ch in run_id.lower() if ch.isalnum())
    return f"h{safe}"[:60]


class Runner:
    def __init__(self, scenario: Scenario, options: RunOptions | None = None):
        self.scenario = scenario
        self.options = options or RunOptions()
        self.clock = Clock.start()
        runs_dir = self.options.runs_dir or scenario.runs_dir
        self.run_id, self.run_dir = _unique_dir(Path(runs_dir), new_run_id(scenario.name, self.clock.wall_t0))
        self.project = project_name(self.run_id)
        self.events = EventLog(self.clock, self.run_dir / "events.jsonl")
        self.artifacts = ArtifactLog(self.run_dir)
        self.rc = RunContext(run_id=self.run_id, run_dir=self.run_dir, clock=self.clock, services={},
                             phases=[], events=self.events, artifacts=self.artifacts, project=self.project)
        self.env = None
        self.load = None
        self.faults = None
        self.captures = None
        self.tools: dict[str, str] = {}
        self._status = "running"
        self._reason: str | None = None
        self._load_t0: float | None = None
        # The source as it was when the run started (the editor compares against it), and
        # the scenario as run: computed once, written into every manifest version.
        by_root = {root: source_hashes(root) for root in {spec.source for spec in scenario.services.values()
                                                          if spec.source}}
        self._source_hashes = {name: by_root[spec.source] for name, spec in scenario.services.items()
                               if spec.source}
        self._resolved = resolved_scenario(scenario)

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> RunResult:
        (self.run_dir / "scenario.yaml").write_text(self.scenario.text)
        self.events.add("run-start", f"scenario {self.scenario.name}", run_dir=str(self.run_dir))
        self._write_manifest()
        exit_code = 0
        try:
            self._run_inner()
            self._status = "completed"
        except KeyboardInterrupt:
            self._status, self._reason, exit_code = "interrupted", "interrupted by SIGINT (Ctrl-C)", 130
        except Interrupted as e:
            self._status, self._reason, exit_code = "interrupted", e.what, 130
        except HarnessError as e:
            self._status, self._reason, exit_code = "failed", e.render(), e.exit_code
        except Exception as e:  # a bug: still tear down, then report it plainly
            import traceback

            (self.run_dir / "internal-error.txt").write_text(traceback.format_exc())
            self._status, exit_code = "failed", 3
            self._reason = (f"internal error: {e!r} (traceback in {self.run_dir / 'internal-error.txt'}; "
                            "please report it)")
        finally:
            with _deferred_signals():
                self._teardown()
        self.events.add("run-end", self._status)
        manifest = self._write_manifest(exit_code)
        summary = self._report() if self.options.report else {}
        if exit_code == 0 and summary.get("expect", {}).get("failed"):
            exit_code = 1
            self._reason = f"{summary['expect']['failed']} expectation(s) failed"
            manifest = self._write_manifest(exit_code)
        return RunResult(self.run_id, self.run_dir, self._status, self._reason, exit_code, summary, manifest)

    def _run_inner(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from harness.env.compose import Environment, detect_compose

        sc = self.scenario
        self._check_engine()
        self.faults = self._fault_controller()
        self.faults.preflight(sc.fault_specs())
        # Look-ups and the watchdog's start take seconds each; they overlap the prepare steps.
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="start") as pool:
            tools = pool.submit(self._collect_tools)
            compose_f = pool.submit(detect_compose, self.options.compose)
            watchdog = pool.submit(self.faults.start_watchdog, os.getpid())
            self._prepare()
            compose = compose_f.result()
            watchdog.result()
            tools.result()
        self.tools["compose"] = compose.label
        log.info("compose: %s (chosen by %s)", compose.label, compose.source)
        self.env = Environment(sc, self.run_dir, self.run_id, self.project, compose, on_event=self.events.add)
        self.rc.services = self.env.up()
        self._progress({"stage": "waiting for readiness"})
        self.env.wait_ready()
        self.rc.services = {n: self.env.refresh(n) for n in self.rc.services}
        self.faults.prepare(sc.fault_specs())  # shared qdiscs now, before any load is in flight
        self._timeline()

    def _timeline(self) -> None:
        from harness.capture.manager import CaptureManager
        from harness.load.runner import LoadRunner

        sc = self.scenario
        if sc.warmup:
            self._progress({"stage": f"warm-up {sc.warmup:g}s"})
            time.sleep(sc.warmup)
        self.captures = CaptureManager(sc.captures, self.rc)
        self.captures.start()
        target = resolve_load_target(sc, self.rc)
        self.load = LoadRunner(sc.load, self.rc, target)
        self.load.prepare()  # the workers import Locust and wait for the timeline
        load_t0 = self.clock.now() + LOAD_LEAD_S
        self._load_t0 = load_t0
        self.rc.phases = [PhaseWindow(p.name, load_t0 + p.start, load_t0 + p.end) for p in sc.phases]
        self.load.start()
        late = self.clock.now() - load_t0
        if late > 0:
            self.events.add("load-late", f"load workers were ready {late:.2f}s after the timeline start")
        for phase, window in zip(sc.phases, self.rc.phases):
            self._wait_until(window.start_s, phase=None)
            self.events.add("phase-start", phase.name)
            self.captures.phase_start(window)
            for f in phase.faults:
                self.faults.apply(f, window.name)
                self._refresh(f.target)
            self._wait_until(window.end_s, phase=window)
            for f in phase.faults:
                self.faults.revert(f)
                self._refresh(f.target)
            self.captures.phase_end(window)
            self.events.add("phase-end", phase.name)
        self.load.wait()

    def _refresh(self, service: str) -> None:
        """A kill, restart or stop fault gives the target a new PID: re-read it for the
        parts that use it (perf, stats)."""
        try:
            self.rc.services[service] = self.env.refresh(service)
        except Exception as e:  # a stopped container has no PID until it starts again
            log.debug("refresh of %s: %s", service, e)

    def _wait_until(self, t_s: float, phase: PhaseWindow | None) -> None:
        while True:
            now = self.clock.now()
            if now >= t_s:
                return
            self._progress_tick(phase)
            time.sleep(min(self.options.progress_interval, t_s - now))

    # -- parts ----------------------------------------------------------------------------------
    def _fault_controller(self):
        """Always there: its watchdog also tears the environment down if the harness dies."""
        from harness.faults.controller import FaultController

        return FaultController(self.rc)

    def _prepare(self) -> None:
        env_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        for i, step in enumerate(self.scenario.prepare):
            self._progress({"stage": f"prepare: {' '.join(step.cmd)}"})
            env = {**os.environ, "PATH": env_path, **dict(step.env)}
            cmd = list(step.cmd)
            exe = shutil.which(cmd[0], path=env_path)
            if exe:
                cmd[0] = exe
            t = time.monotonic()
            proc.run(cmd, timeout=step.timeout, cwd=str(step.cwd), env=env,
                     what=f"prepare step {i + 1} failed", hint=f"it runs in {step.cwd}; try it by hand")
            self.events.add("prepare", " ".join(step.cmd), seconds=round(time.monotonic() - t, 3))

    def _collect_tools(self) -> None:
        import importlib.metadata as md

        self.tools.update({"harness": __version__, "python": platform.python_version()})
        for pkg in ("locust", "docker", "pygls", "protobuf"):
            try:
                self.tools[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                pass
        try:
            self.tools["go"] = proc.run([go_binary(), "env", "GOVERSION"], timeout=30).stdout.strip()
        except HarnessError:
            pass

    def _check_engine(self) -> None:
        try:
            import docker

            self.tools["docker"] = docker.from_env(timeout=10).version().get("Version", "?")
        except Exception as e:
            raise HarnessError("the Docker engine is not reachable", where="docker",
                               seen=str(e).splitlines()[0][:300] if str(e) else e.__class__.__name__,
                               hint="start dockerd (the README's set-up does it) and check `docker info`") \
                from None

    def _teardown(self) -> None:
        for what, fn in (("load", lambda: self.load and self.load.stop()),
                         ("faults", lambda: self.faults and self.faults.revert_all()),
                         ("captures", lambda: self.captures and self.captures.stop()),
                         ("environment", lambda: self.env and self.env.down()),
                         ("watchdog", lambda: self.faults and self.faults.stop_watchdog())):
            try:
                fn()
            except BaseException as e:  # teardown goes on whatever one part says
                log.error("tearing down %s failed: %s", what, e)
                self.events.add("teardown-error", f"{what}: {e}")

    # -- progress -------------------------------------------------------------------------------
    def _progress(self, info: dict) -> None:
        if self.options.on_progress:
            self.options.on_progress({"t_s": self.clock.now(), "total_s": self.scenario.duration, **info})

    def _progress_tick(self, phase: PhaseWindow | None) -> None:
        if not self.options.on_progress:
            return
        info: dict[str, Any] = {"stage": "load", "phase": phase.name if phase else None}
        if self._load_t0 is not None:
            info["elapsed_s"] = self.clock.now() - self._load_t0
        if self.load is not None:
            info["load"] = self.load.latest() or {}
        if self.captures is not None and hasattr(self.captures, "latest_stats"):
            info["stats"] = self.captures.latest_stats() or {}
        self._progress(info)

    # -- outputs --------------------------------------------------------------------------------
    def _write_manifest(self, exit_code: int | None = None) -> dict:
        sc = self.scenario
        phases = []
        for p in sc.phases:
            w = next((w for w in self.rc.phases if w.name == p.name), None)
            phases.append({"name": p.name, "start_s": w.start_s if w else None, "end_s": w.end_s if w else None,
                           "offset_s": p.start, "duration_s": p.duration,
                           "faults": [getattr(f, "id", None) or getattr(f, "kind", "?") for f in p.faults]})
        services = {}
        for name, spec in sc.services.items():
            info = self.rc.services.get(name)
            entry: dict[str, Any] = {"limits": spec.limits.to_json(),
                                     "source_root": str(spec.source) if spec.source else None}
            if info is not None:
                entry.update({"container": info.container_id, "container_name": info.container_name,
                              "image": info.image, "pprof": info.pprof_url, "module": info.module,
                              "published": {str(k): v for k, v in info.published.items()},
                              "limits_applied": info.limits})
            if name in self._source_hashes:
                entry["source_hashes"] = self._source_hashes[name]
            services[name] = entry
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "scenario": {"name": sc.name, "description": sc.description, "path": str(sc.file),
                         "resolved": self._resolved},
            "tools": self.tools,
            "clock": self.clock.to_json(),
            "load_t0_s": self._load_t0,
            "phases": phases,
            "baseline_phase": sc.baseline_phase,
            "services": services,
            "compose_project": self.project,
            "artifacts": self.artifacts.all(),
            "faults": self.faults.records() if self.faults is not None else [],
            "events": self.events.all(),
            "result": {"status": self._status, "reason": self._reason, "exit_code": exit_code,
                       "end_s": round(self.clock.now(), 3)},
        }
        tmp = self.run_dir / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=2, default=str))
        tmp.replace(self.run_dir / "manifest.json")
        return manifest

    def _report(self) -> dict:
        try:
            from harness.report import write_all

            return write_all(self.run_dir)
        except Exception as e:
            log.error("writing the report failed: %s", e)
            self.events.add("report-failed", str(e))
            return {}


def resolve_load_target(sc: Scenario, rc: RunContext) -> str:
    """The load's base URL: a service's published loopback port, or the scenario's URL."""
    spec = sc.load
    service = getattr(spec, "target_service", None)
    if service:
        info = rc.services[service]
        port = getattr(spec, "target_port", None) or next(iter(sc.services[service].ports), None)
        if port not in info.published:
            raise HarnessError(f"the load target port {port} of service '{service}' is not published",
                               where="load.target", seen=f"published: {info.published}",
                               hint=f"list {port} in services.{service}.ports")
        return f"http://127.0.0.1:{info.published[port]}"
    return spec.url


def source_hashes(root: Path, limit: int = 2000) -> dict[str, str]:
    import hashlib

    out: dict[str, str] = {}
    for p in sorted(Path(root).rglob("*.go")):
        if len(out) >= limit or "vendor" in p.parts:
            break
        try:
            out[p.relative_to(root).as_posix()] = "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
        except OSError:
            continue
    return out


def resolved_scenario(sc: Scenario) -> dict:
    import yaml

    try:
        doc = yaml.safe_load(sc.text)
    except Exception:
        doc = None
    return {"document": doc, "compose_files": [str(f) for f in sc.compose.files],
            "project_dir": str(sc.compose.project_dir), "duration_s": sc.duration, "warmup_s": sc.warmup,
            "phases": [{"name": p.name, "start_s": p.start, "duration_s": p.duration} for p in sc.phases]}


class _deferred_signals:
    """While tearing down, Ctrl-C and SIGTERM are noted, not obeyed: a half-torn-down
    environment is worse than a few more seconds."""

    def __enter__(self):
        self._old = {}
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._note)
        return self

    def _note(self, signum, frame):
        sys.stderr.write("\nstill tearing down; please wait\n")

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False
