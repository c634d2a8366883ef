"""The engine: scenario -> environment -> timeline (load, faults, captures) -> run directory.

Usable as a library:

    from harness.scenario import load_scenario
    from harness.run import RunOptions, run
    result = run(load_scenario("scenarios/demo.yaml"), RunOptions())

The pipeline, each step handing the next what it needs:

    start_run     run directory, clock, RunContext (immutable facts), manifest "running"
    preflight     the Docker engine; fault capabilities; prepare steps, tool versions and the
                  watchdog side by side
    environment   compose up with the override; readiness; the live services view
    faults        shared qdiscs before any load is in flight
    captures      started; the load prepared, then given the phase windows
    timeline      the phases (harness/timeline.py)
    teardown      every part stopped in the reverse order of its start (one ExitStack)
    verdict       expectations evaluated on the run's data
    outputs       manifest.json, summary.json, report.html, junit.xml: one outcome in all four

Everything the run starts is stopped and everything it changes is reverted on success,
failure, Ctrl-C (KeyboardInterrupt) and SIGTERM (raised as Interrupted by the CLI's
handler); a watchdog process covers SIGKILL of the harness.
"""
from __future__ import annotations

import logging
import os
import platform
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__, proc, ssh_tunnel
from harness import docker_engine as engine
from harness.capture.manager import CaptureManager
from harness.capture.manager import preflight as capture_preflight
from harness.env import reserve
from harness.env.compose import Environment, detect_compose
from harness.errors import CapabilityError, HarnessError, Interrupted
from harness.faults.capabilities import needs_local_engine
from harness.faults.controller import FaultController
from harness.load.runner import LoadRunner
from harness.manifest import ManifestWriter, Outcome
from harness.runctx import Clock, PhaseWindow, RunContext
from harness.scenario.model import Scenario
from harness.timeline import Timeline, windows
from harness.undo.steps import write_pidfile
from rundir.gosource import go_binary

log = logging.getLogger("harness.run")

LOAD_LEAD_S = 0.2   # seconds between handing the ready load workers the timeline and its start


@dataclass
class RunOptions:
    runs_dir: Path | None = None           # overrides the scenario's runs_dir
    compose: str | None = None             # force "docker compose" or "docker-compose"
    report: bool = True
    on_progress: Callable[[dict], None] | None = None   # called about once a second
    progress_interval: float = 1.0
    on_start: Callable[[str, Path], None] | None = None  # (run id, run directory) once it exists
    docker_host: str | None = None         # --docker-host (harness/docker_engine.py has the order)


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    status: str                            # completed | failed | interrupted
    reason: str | None
    exit_code: int
    summary: dict = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)


def run(scenario: Scenario, options: RunOptions | None = None) -> RunResult:
    """Run a scenario end to end; see the module's docstring."""
    return Runner(scenario, options).run()


class Runner:
    """One run of one scenario. Building it writes nothing; run() does all."""

    def __init__(self, scenario: Scenario, options: RunOptions | None = None):
        self.scenario = scenario
        self.options = options or RunOptions()
        self.windows: list[PhaseWindow] = []     # the phases on the run clock, once the load is set
        self.load_t0: float | None = None
        self.faults: FaultController | None = None
        self.load: LoadRunner | None = None
        self.captures: CaptureManager | None = None
        self._refresh: Callable[[str], object] = lambda name: None
        self._report_run = None

    # -- the pipeline ----------------------------------------------------------------------------
    def run(self) -> RunResult:
        rc, writer = self._start_run()
        outcome = self._drive(rc, writer)
        rc.events.add("run-end", outcome.status)
        manifest = writer.build(outcome, self.windows, self.load_t0, self._fault_records())
        summary: dict = {}
        if self.options.report:
            summary, outcome = self._verdict(rc, manifest, outcome)
        manifest["result"] = outcome.to_json(rc.clock.now())
        writer.write_built(manifest)
        if summary:
            summary["result"] = manifest["result"]     # one outcome in every file
            self._render(rc, summary)
        return RunResult(rc.run_id, rc.run_dir, outcome.status, outcome.reason, outcome.exit_code or 0,
                         summary, manifest)

    def _start_run(self) -> tuple[RunContext, ManifestWriter]:
        sc = self.scenario
        clock = Clock.start()
        root = Path(self.options.runs_dir or sc.runs_dir)
        try:
            run_id, run_dir = reserve.reserve(root, sc.name, clock.wall_t0)
        except OSError as e:
            raise HarnessError("cannot create the run directory", where=str(root),
                               seen="a file, not a folder" if root.exists() and not root.is_dir()
                               else (e.strerror or str(e)),
                               hint="set runs_dir in the scenario, --runs-dir or HARNESS_RUNS_DIR to a "
                                    "writable folder") from None
        rc = RunContext.of(run_id, run_dir, clock, project=reserve.project_name(run_id),
                           events_file=run_dir / "events.jsonl")
        if self.options.on_start:
            self.options.on_start(run_id, run_dir)
        (run_dir / "scenario.yaml").write_text(sc.text)
        rc.events.add("run-start", f"scenario {sc.name}", run_dir=str(run_dir))
        writer = ManifestWriter(sc, rc)
        writer.write(Outcome("running"), [], None, [])
        return rc, writer

    def _drive(self, rc: RunContext, writer: ManifestWriter) -> Outcome:
        """Start, run and tear down; how it went (expectations are judged later)."""
        stack = ExitStack()
        try:
            self._start_parts(rc, writer, stack)
            self._timeline(rc)
            outcome = Outcome("completed", None, 0)
        except KeyboardInterrupt:
            outcome = Outcome("interrupted", "interrupted by SIGINT (Ctrl-C)", 130)
        except Interrupted as e:
            outcome = Outcome("interrupted", e.what, 130)
        except HarnessError as e:
            outcome = Outcome("failed", e.render(), e.exit_code)
        except Exception as e:  # a bug: still tear down, then report it plainly
            (rc.run_dir / "internal-error.txt").write_text(traceback.format_exc())
            saved = rc.run_dir / "internal-error.txt"
            outcome = Outcome("failed", f"internal error: {e!r} (traceback in {saved}; please report it)", 3)
        finally:
            with _deferred_signals():
                stack.close()
        return outcome

    def _start_parts(self, rc: RunContext, writer: ManifestWriter, stack: ExitStack) -> None:
        sc = self.scenario
        tools = writer.tools                      # filled as the versions are known
        eng = engine.activate(engine.choose_for(self.options.docker_host, sc))
        log.info("Docker engine: %s", eng.describe())
        if engine.tunnel() is not None:           # the watchdog closes it after a SIGKILL
            write_pidfile(rc.run_dir / ssh_tunnel.PIDFILE, engine.tunnel().proc.pid)
        check_engine_fit(sc, eng)
        tools.update(_check_engine(eng), docker_host=eng.host, docker_engine="local" if eng.local else "remote")
        self.faults = faults = FaultController(rc)
        faults.preflight(sc.fault_specs())
        # Look-ups and the watchdog's start take seconds each; they overlap the prepare steps.
        # The prepare steps and the image build hold their folders' build lock (concurrent runs).
        with reserve.building(self._build_folders(), on_wait=lambda msg: self._waiting(rc, msg)), \
                ThreadPoolExecutor(max_workers=3, thread_name_prefix="start") as pool:
            versions = pool.submit(_tool_versions)
            compose_f = pool.submit(detect_compose, self.options.compose)
            watchdog = pool.submit(faults.start_watchdog, os.getpid())
            try:
                self._prepare(rc)
            finally:
                if watchdog.exception() is None:
                    _teardown_step(stack, rc, "watchdog", faults.stop_watchdog)
            compose = compose_f.result()
            watchdog.result()
            tools.update(versions.result(), compose=compose.label)
            log.info("compose: %s (chosen by %s)", compose.label, compose.source)
            env = Environment(sc, rc.run_dir, rc.run_id, rc.project, compose, on_event=rc.events.add,
                              services=rc.services)
            _teardown_step(stack, rc, "environment", env.down)
            env.up()
        self._progress(rc, {"stage": "waiting for readiness"})
        env.wait_ready()
        for name in list(rc.services):
            env.refresh(name)
        self._refresh = env.refresh
        _teardown_step(stack, rc, "faults", faults.revert_all)
        faults.prepare(sc.fault_specs())  # shared qdiscs now, before any load is in flight
        if sc.warmup:
            self._progress(rc, {"stage": f"warm-up {sc.warmup:g}s"})
            time.sleep(sc.warmup)
        self.captures = CaptureManager(sc.captures, rc)
        _teardown_step(stack, rc, "captures", self.captures.stop)
        self.captures.start()
        self.load = LoadRunner(sc.load, rc, load_target(sc, rc), remote_target_url=remote_load_target(sc, rc))
        _teardown_step(stack, rc, "load", self.load.stop)
        self.load.prepare()  # the workers import Locust and wait for the timeline

    def _timeline(self, rc: RunContext) -> None:
        self.load_t0 = rc.clock.now() + LOAD_LEAD_S
        self.windows = windows(self.scenario.phases, self.load_t0)
        self.load.start(self.windows)
        late = rc.clock.now() - self.load_t0
        if late > 0:
            rc.events.add("load-late", f"load workers were ready {late:.2f}s after the timeline start")
        Timeline(rc, self.faults, self.captures, self._refresh_quietly, self._tick,
                 self.options.progress_interval).run(self.scenario.phases, self.windows)
        _check_load_ran(self.load.wait(), rc)

    def _build_folders(self) -> list[Path]:
        """The folders concurrent runs must not prepare or build in at once."""
        sc = self.scenario
        return [step.cwd for step in sc.prepare] + [Path(f).parent for f in sc.compose.files]

    def _waiting(self, rc: RunContext, message: str) -> None:
        rc.events.add("waiting", message)
        self._progress(rc, {"stage": message})

    def _refresh_quietly(self, service: str) -> None:
        """A kill, restart or stop fault gives the target a new PID: re-read it for the parts
        that ask (perf, stats, later faults)."""
        try:
            self._refresh(service)
        except Exception as e:  # a stopped container has no PID until it starts again
            log.debug("refresh of %s: %s", service, e)

    def _prepare(self, rc: RunContext) -> None:
        env_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        for i, step in enumerate(self.scenario.prepare):
            self._progress(rc, {"stage": f"prepare: {' '.join(step.cmd)}"})
            env = {**os.environ, "PATH": env_path, **dict(step.env)}
            cmd = list(step.cmd)
            exe = shutil.which(cmd[0], path=env_path)
            if exe:
                cmd[0] = exe
            t = time.monotonic()
            proc.run(cmd, timeout=step.timeout, cwd=str(step.cwd), env=env,
                     what=f"prepare step {i + 1} failed", hint=f"it runs in {step.cwd}; try it by hand")
            rc.events.add("prepare", " ".join(step.cmd), seconds=round(time.monotonic() - t, 3))

    def _fault_records(self) -> list[dict]:
        return self.faults.records() if self.faults is not None else []

    # -- verdict and outputs ---------------------------------------------------------------------
    def _verdict(self, rc: RunContext, manifest: dict, outcome: Outcome) -> tuple[dict, Outcome]:
        """The summary of the run and the outcome with the expectations judged."""
        from harness.report.writer import build_summary

        try:
            summary, self._report_run = build_summary(rc.run_dir, self.scenario.expect, manifest)
        except Exception as e:
            log.error("building the report failed: %s", e)
            rc.events.add("report-failed", str(e))
            return {}, outcome
        failed = summary.get("expect", {}).get("failed")
        if outcome.exit_code == 0 and failed:
            outcome = Outcome(outcome.status, f"{failed} expectation(s) failed", 1)
        return summary, outcome

    def _render(self, rc: RunContext, summary: dict) -> None:
        from harness.report.writer import render_all

        try:
            render_all(rc.run_dir, summary, self._report_run)
        except Exception as e:
            log.error("writing the report failed: %s", e)
            rc.events.add("report-failed", str(e))

    # -- progress --------------------------------------------------------------------------------
    def _progress(self, rc: RunContext, info: dict) -> None:
        if self.options.on_progress:
            self.options.on_progress({"t_s": rc.clock.now(), "total_s": self.scenario.duration, **info})

    def _tick(self, rc: RunContext, window: PhaseWindow | None) -> None:
        if not self.options.on_progress:
            return
        info: dict[str, Any] = {"stage": "load", "phase": window.name if window else None}
        if self.load_t0 is not None:
            info["elapsed_s"] = rc.clock.now() - self.load_t0
        if self.load is not None:
            info["load"] = self.load.latest() or {}
        if self.captures is not None:
            info["stats"] = self.captures.latest_stats() or {}
        self._progress(rc, info)


def _teardown_step(stack: ExitStack, rc: RunContext, what: str, stop: Callable[[], object]) -> None:
    """Register `stop` as the teardown of a part that just started: steps run in the reverse
    order of the starts, each whatever the others did; a failure is logged and recorded."""
    def step(*_exc) -> bool:
        try:
            stop()
        except BaseException as e:  # teardown goes on whatever one part says
            log.error("tearing down %s failed: %s", what, e)
            rc.events.add("teardown-error", f"{what}: {e}")
        return False
    stack.push(step)


def _check_load_ran(stats: dict, rc: RunContext) -> None:
    """A load that sent no request (every request raised inside the generator, say) leaves a
    run without data: it fails with the reason instead of passing for a quiet service."""
    totals = stats.get("totals") or {}
    if totals.get("requests"):
        return
    errors = [e for e in rc.events.all() if e["kind"] == "load-error"]
    raise HarnessError("the load generator sent no request", where="load",
                       seen=errors[0]["detail"] if errors else "0 requests, 0 errors reported by the workers",
                       hint=f"see {rc.run_dir / 'load'}/worker-*.log for what the generator said")


def check_engine_fit(sc: Scenario, eng: engine.Engine) -> None:
    """Refuse what the scenario asks that this engine cannot serve, before anything starts (also
    `harness validate`): on a remote engine, captures and faults that need its containers here."""
    capture_preflight(sc.captures, f"{sc.file}: captures", eng)
    if eng.local:
        return
    for spec in sc.fault_specs():
        if needs_local_engine(spec) and not spec.allow_skip:
            raise CapabilityError(f"fault {spec.id}: {spec.kind} needs the Docker engine on this host",
                                  where=spec.where or None, seen=f"the engine is {eng.describe()}",
                                  hint="its backends (the fault proxy, cgroup pressure) work from this host only; "
                                       "tc and iptables faults (rate, loss, partition, reset, delay where the "
                                       "kernel has netem), docker faults (pause, stop, kill, cpu, memory) work on "
                                       "a remote engine; or set allow_skip: true on the fault (docs/scaling.md)")


def _check_engine(eng: engine.Engine) -> dict[str, str]:
    try:
        import docker

        return {"docker": docker.from_env(timeout=10).version().get("Version", "?")}
    except Exception as e:
        raise HarnessError("the Docker engine is not reachable", where=f"docker engine {eng.describe()}",
                           seen=str(e).splitlines()[0][:300] if str(e) else e.__class__.__name__,
                           hint="start dockerd (the README's set-up does it) and check `docker info`; for a "
                                "remote engine check its address and that it listens") \
            from None


def _tool_versions() -> dict[str, str]:
    import importlib.metadata as md

    tools = {"harness": __version__, "python": platform.python_version()}
    for pkg in ("locust", "docker", "pygls", "protobuf"):
        try:
            tools[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    try:
        tools["go"] = proc.run([go_binary(), "env", "GOVERSION"], timeout=30).stdout.strip()
    except HarnessError:
        pass
    return tools


def load_target(sc: Scenario, rc: RunContext) -> str:
    """The load's base URL: a service's published loopback port, or the scenario's URL."""
    spec = sc.load
    if spec.target_service:
        info = rc.services[spec.target_service]
        port = spec.target_port or next(iter(sc.services[spec.target_service].ports), None)
        if port not in info.published:
            raise HarnessError(f"the load target port {port} of service '{spec.target_service}' is not "
                               "published", where="load.target", seen=f"published: {info.published}",
                               hint=f"list {port} in services.{spec.target_service}.ports")
        return f"http://{info.address}:{info.published[port]}"
    return spec.url


def remote_load_target(sc: Scenario, rc: RunContext) -> str | None:
    """The load's base URL for remote workers: the target service as published on the interface
    load.target.publish names, or the scenario's URL (None: no remote workers)."""
    spec = sc.load
    if not spec.remote_workers:
        return None
    if not spec.target_service:
        return spec.url
    port = spec.target_port or next(iter(sc.services[spec.target_service].ports), None)
    exposed = rc.services[spec.target_service].exposed.get(port)
    if exposed is None:
        raise HarnessError(f"the load target port {port} of service '{spec.target_service}' is not published on "
                           f"interface {spec.publish_interface}", where="load.target.publish",
                           seen=f"published: {rc.services[spec.target_service].published}",
                           hint="see compose.override.yml in the run directory")
    return f"http://{exposed[0]}:{exposed[1]}"


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
