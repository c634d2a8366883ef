"""LoadRunner: the engine's handle on the load, which runs in child worker processes.

The engine never imports Locust: each worker is `python -m harness.load.worker`, told the
run's mono_t0 and phase windows, and reports JSON lines on a pipe. The runner merges the
workers' per-second records into load/history.jsonl as they arrive (latest() serves the
live display) and their final HdrHistograms into load/stats.json.
"""
from __future__ import annotations

import gzip
import json
import logging
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError, TargetRefused
from harness.load.merge import HistoryMerger, build_stats
from harness.load.schedule import Phase, PhaseTable, RateFunction
from harness.load.spec import LoadSpec, is_loopback_host, url_host
from harness.runctx import PhaseWindow, RunContext

log = logging.getLogger("harness.run")
READY_TIMEOUT_S = 60.0


def check_target(spec: LoadSpec, rc: RunContext, target_url: str) -> None:
    """Refuse a target that is neither loopback nor one of the environment's containers."""
    host = url_host(target_url)
    if spec.allow_external or is_loopback_host(host):
        return
    own = {ip for svc in rc.services.values() for ip in svc.ips.values()}
    if host in own:
        return
    raise TargetRefused("load target is neither loopback nor a container of this environment",
                        where=spec.where or "load", seen=target_url,
                        hint="target a service (target: {service, port}) or 127.0.0.1; set "
                             "allow_external_targets: true to load another host on purpose")


class LoadRunner:
    def __init__(self, spec: LoadSpec, rc: RunContext, target_url: str):
        check_target(spec, rc, target_url)
        self.spec, self.rc, self.target_url = spec, rc, target_url
        self.dir = Path(rc.run_dir) / "load"
        self.workers = spec.processes
        self.phases: PhaseTable | None = None     # the windows arrive with start()
        self._merger: HistoryMerger | None = None
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen] = []
        self._readers: list[threading.Thread] = []
        self._ready = [threading.Event() for _ in range(self.workers)]
        self._finals: dict[int, dict] = {}
        self._died: dict[int, dict] = {}
        self._errors: list[dict] = []
        self._history: list[dict] = []
        self._latest: dict | None = None
        self._saturated = False
        self._history_file = None
        self._summary: dict | None = None
        self._stopped = False
        self._killed = False
        self._prepared = False
        self._started = False

    def _set_phases(self, windows: Sequence[PhaseWindow]) -> None:
        self.phases = PhaseTable([Phase(p.name, p.start_s, p.end_s) for p in windows])
        self.rate = RateFunction(self.spec, self.phases)
        self._merger = HistoryMerger(self.workers, self.phases, self.spec.precision)

    # -- paths -------------------------------------------------------------------------------
    @property
    def history_path(self) -> Path:
        return self.dir / "history.jsonl"

    @property
    def stats_path(self) -> Path:
        return self.dir / "stats.json"

    @property
    def raw_path(self) -> Path:
        return self.dir / "requests.jsonl.gz"

    # -- start -------------------------------------------------------------------------------
    def prepare(self, ready_timeout: float = READY_TIMEOUT_S) -> None:
        """Start the workers and wait until each has loaded Locust (1-3 s; up to ready_timeout).
        Optional: start() does it when needed. The phase windows are read later, in start()."""
        if self._prepared:
            return
        self._prepared = True
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "worker-config.json"
        config.write_text(json.dumps({"spec": self.spec.to_json(), "target_url": self.target_url,
                                      "workers": self.workers, "stop_grace": 2.0}, indent=1))
        try:
            for i in range(self.workers):
                self._spawn(i, config)
            self._await_ready(ready_timeout)
        except BaseException:
            self.stop(timeout=5.0)
            raise

    def start(self, windows: Sequence[PhaseWindow], ready_timeout: float = READY_TIMEOUT_S) -> None:
        """Hand the workers the run's clock and the phase windows: the load runs from the first
        phase's start to the last one's end."""
        if not windows:
            raise HarnessError("the load has no phase windows to run in", where=self.spec.where or "load",
                               hint="give load.start() the phase windows (at least one PhaseWindow)")
        self.prepare(ready_timeout)
        if self._started:
            return
        self._started = True
        self._set_phases(windows)
        self._history_file = open(self.history_path, "w", buffering=1)  # noqa: SIM115 - closed in _finish()
        for i, proc in enumerate(self._procs):
            go = {"mono_t0": self.rc.clock.mono_t0, "raw_log": self._raw_part(i),
                  "phases": [{"name": p.name, "start_s": p.start_s, "end_s": p.end_s}
                             for p in self.phases.phases]}
            try:
                proc.stdin.write((json.dumps(go) + "\n").encode())
                proc.stdin.flush()
            except OSError:
                self.stop(timeout=5.0)
                raise self._worker_died(i, "before it could start") from None
        late = self.rc.clock.now() - self.phases.start_s
        self.rc.events.add("load-start", self._describe(), workers=self.workers,
                           pids=[p.pid for p in self._procs])
        if late > 0:
            log.warning("load started %.2fs after its first phase began: arrivals before "
                                "then are not sent (skipped_late_start in load/stats.json)", late)

    def _raw_part(self, i: int) -> str | None:
        if not self.spec.raw_log:
            return None
        return str(self.raw_path if self.workers == 1 else self.dir / f"requests-{i}.jsonl.gz")

    def _spawn(self, i: int, config: Path) -> None:
        log = open(self.dir / f"worker-{i}.log", "wb")  # noqa: SIM115 - the child keeps its copy
        cmd = [sys.executable, "-m", "harness.load.worker", "--config", str(config), "--index", str(i)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                close_fds=True)
        log.close()
        self._procs.append(proc)
        t = threading.Thread(target=self._read, args=(i, proc), name=f"load-reader-{i}", daemon=True)
        t.start()
        self._readers.append(t)

    def _await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for i, ev in enumerate(self._ready):
            while not ev.wait(0.1):
                self._raise_worker_error()
                if self._procs[i].poll() is not None:
                    raise self._worker_died(i, "before it was ready")
                if time.monotonic() > deadline:
                    raise HarnessError("the load worker did not become ready", where=f"load worker {i}",
                                       seen=f"no ready message within {timeout:g}s; log: "
                                            f"{self._log_tail(i)}",
                                       hint="the machine may be overloaded; see load/worker-*.log")
        self._raise_worker_error()

    def _raise_worker_error(self) -> None:
        with self._lock:
            err = self._errors[0] if self._errors else None
        if err:
            raise HarnessError(err.get("what", "the load worker failed"), where=err.get("where"),
                               seen=err.get("seen"), hint=err.get("hint"))

    def _worker_died(self, i: int, when: str) -> HarnessError:
        rc = self._procs[i].poll()
        return HarnessError(f"the load worker exited {when}", where=f"load worker {i}",
                            seen=f"exit code {rc}; log: {self._log_tail(i)}",
                            hint=f"see {self.dir / f'worker-{i}.log'}")

    def _log_tail(self, i: int) -> str:
        try:
            lines = (self.dir / f"worker-{i}.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-5:]) or "(empty)"

    def _describe(self) -> str:
        s = self.spec
        if s.model == "open":
            rates = ", ".join(f"{p.name}: {self.rate.mean_over(p.start_s, p.end_s):g}/s"
                              for p in self.phases.phases)
            return f"open model ({rates}) cap {s.max_inflight} -> {self.target_url}"
        if s.model == "replay":
            return f"replay of {s.replay.file} at speed {s.replay.speed:g} cap {s.max_inflight} -> {self.target_url}"
        return f"closed model {s.users} users -> {self.target_url}"

    # -- the pipe from each worker -------------------------------------------------------------
    def _read(self, i: int, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            self._dispatch(i, msg)
        proc.stdout.close()
        with self._lock:
            if self._merger is not None:
                self._write_history(self._merger.worker_done(i))
            died = self._started and not self._stopped and i not in self._finals
        if died:
            self._note_death(i, proc)

    def _note_death(self, i: int, proc: subprocess.Popen) -> None:
        """A worker whose pipe closed without its final record while the load ran: its share
        of the load is missing from then on. The run fails (wait()) instead of reporting the gap
        as the service's."""
        t_s = self.rc.clock.now()
        try:
            code = proc.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            code = None
        with self._lock:
            self._died[i] = {"t_s": t_s, "code": code}
        what = _exit_text(code)
        self.rc.events.add("load-worker-died", f"worker {i} {what} at {t_s:.1f}s", worker=i, t_s=t_s)
        log.error("load worker %d %s at %.1fs of the run: its share of the load stopped; see %s", i, what,
                  t_s, self.dir / f"worker-{i}.log")

    def _dispatch(self, i: int, msg: dict) -> None:
        kind = msg.get("type")
        if kind == "ready":
            self._ready[i].set()
        elif kind == "second":
            with self._lock:
                self._write_history(self._merger.add(i, msg))
        elif kind == "final":
            with self._lock:
                self._finals[i] = msg
        elif kind == "error":
            with self._lock:
                self._errors.append(msg)
            if self._started:
                self.rc.events.add("load-error", msg.get("what", ""), worker=i)
                log.error("load worker %d: %s (%s)", i, msg.get("what"), msg.get("hint"))

    def _write_history(self, lines: list[dict]) -> None:
        """Called with the lock held."""
        for line in lines:
            self._history.append(line)
            if self._history_file is not None:
                self._history_file.write(json.dumps(line) + "\n")
            self._latest = line
            self._note_saturation(line)

    def _note_saturation(self, line: dict) -> None:
        if line["gen_saturated"] and not self._saturated:
            self.rc.events.add("load-generator-saturated", "; ".join(line["gen_reasons"]),
                               t_s=line["t_s"])
            log.warning("load generator saturated at %.0fs (%s): latencies there are the "
                                "generator's limit, not the service's", line["t_s"],
                                "; ".join(line["gen_reasons"]))
        elif not line["gen_saturated"] and self._saturated:
            self.rc.events.add("load-generator-recovered", "", t_s=line["t_s"])
        self._saturated = line["gen_saturated"]

    # -- the engine's calls --------------------------------------------------------------------
    def latest(self) -> dict | None:
        """The newest per-second record (a history.jsonl line), or None before the first."""
        with self._lock:
            return dict(self._latest) if self._latest else None

    def wait(self, timeout: float | None = None) -> dict:
        """Until the load ends (the last phase's end plus the drain); then the summary."""
        if timeout is None:
            timeout = self.phases.end_s - self.rc.clock.now() + self.spec.timeout + 15.0
        deadline = time.monotonic() + max(timeout, 0.0)
        for p in self._procs:
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                break
        stats = self.stop()
        self._raise_if_died()
        return stats

    def _raise_if_died(self) -> None:
        with self._lock:
            died = sorted(self._died.items())
        if died:
            i, d = died[0]
            others = f" (and worker {', '.join(str(j) for j, _ in died[1:])})" if len(died) > 1 else ""
            raise HarnessError("a load worker died during the run: part of the load was not sent",
                               where=f"load worker {i}{others}",
                               seen=f"{_exit_text(d['code'])} at {d['t_s']:.1f}s of the run; log: {self._log_tail(i)}",
                               hint=f"see {self.dir / f'worker-{i}.log'}; load/stats.json holds what was "
                                    "measured (incomplete: true)")

    def stop(self, timeout: float = 10.0) -> dict:
        """End the workers (SIGTERM, then SIGKILL after `timeout`) and write stats.json.
        Idempotent; safe in a finally: after Ctrl-C."""
        if self._stopped:
            return self._summary or {}
        self._stopped = True
        early = self._started and any(p.poll() is None for p in self._procs)
        for p in self._procs:
            _close(p.stdin)                      # a worker still waiting for "go" exits on EOF
            if p.poll() is None and self._started:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for i, p in enumerate(self._procs):
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5.0)
                self._killed = True
                self.rc.events.add("load-worker-killed", f"worker {i} did not stop within {timeout:g}s")
        for t in self._readers:
            t.join(timeout=5.0)
        if early:
            self.rc.events.add("load-stopped", "load stopped before the end of its window")
        return self._finish()

    # -- results -------------------------------------------------------------------------------
    def _finish(self) -> dict:
        if not self._started:
            return {}
        with self._lock:
            self._write_history(self._merger.flush())
            if self._history_file is not None:
                self._history_file.close()
                self._history_file = None
            finals = [self._finals[i] for i in sorted(self._finals)]
            history = list(self._history)
        self._join_raw_logs()
        stats = build_stats(finals, history, model=self.spec.model, basis=self.spec.latency_basis,
                            sig=self.spec.precision, phases=self.phases, rate_of=self._phase_rate,
                            target_url=self.target_url,
                            incomplete=self._killed or len(finals) < self.workers or bool(self._errors))
        if self.spec.model == "replay":
            stats["replay"] = replay_report(finals)
        self.stats_path.write_text(json.dumps(stats, indent=1))
        self._summary = stats
        self._record_artifacts(stats)
        return stats

    def _phase_rate(self, name: str) -> float | None:
        if self.spec.model != "open":
            return None
        p = next(p for p in self.phases.phases if p.name == name)
        return self.rate.mean_over(p.start_s, p.end_s, steps=64)

    def _join_raw_logs(self) -> None:
        """Several workers' gzip files concatenate into one valid multi-member gzip file."""
        if not self.spec.raw_log or self.workers == 1:
            return
        with open(self.raw_path, "wb") as out:
            for i in range(self.workers):
                part = self.dir / f"requests-{i}.jsonl.gz"
                if part.exists():
                    with open(part, "rb") as f:
                        shutil.copyfileobj(f, out)
                    part.unlink()

    def _record_artifacts(self, stats: dict) -> None:
        start, end = self.phases.start_s, self.phases.end_s
        self.rc.artifacts.add("load-history", self.history_path, start_s=start, end_s=end)
        self.rc.artifacts.add("load-stats", self.stats_path, start_s=start, end_s=end,
                              latency_basis=stats["latency_basis"])
        if self.spec.raw_log and self.raw_path.exists():
            self.rc.artifacts.add("load-requests", self.raw_path, start_s=start, end_s=end)
        t = stats["totals"]
        self.rc.events.add("load-end", f"{t['requests']} requests, {t['failures']} failed, "
                           f"p99 {t['latency_ms']['p99']} ms ({stats['latency_basis']} basis), "
                           f"dropped {t['dropped']}, delayed {t['delayed']}" + replay_note(stats.get("replay")))


def replay_report(finals: list[dict]) -> dict:
    """The replay's counts (the same in every worker: each reads the whole file) with the
    requests sent and the headers dropped summed over the workers."""
    reports = [f["replay"] for f in finals if isinstance(f.get("replay"), dict)]
    if not reports:
        return {}
    out = dict(reports[0])
    dropped: dict[str, int] = {}
    for r in reports:
        for name, n in r.get("headers_dropped", {}).items():
            dropped[name] = dropped.get(name, 0) + n
    out["headers_dropped"] = dropped
    out["sent"] = sum(r.get("sent", 0) for r in reports)
    out["ended_by_load_window"] = any(r.get("ended_by_load_window") for r in reports)
    return out


def replay_note(rep: dict | None) -> str:
    """What a replay read and skipped, for the load-end event ("" for the other models)."""
    if not rep:
        return ""
    parts = [f"; replayed {rep.get('sent', 0)} lines of {rep.get('file')} ({rep.get('format')}, speed {rep.get('speed')})"]
    for key, what in (("bad_lines", "not understood"), ("out_of_order", "out of order"),
                      ("over_max_rate", "over max_rate"), ("spread", "spread within their second")):
        if rep.get(key):
            parts.append(f"{rep[key]} {what}")
    if rep.get("headers_dropped"):
        parts.append("headers not sent: " + ", ".join(sorted(rep["headers_dropped"])))
    return ", ".join(parts)


def _exit_text(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _close(stream) -> None:
    try:
        stream.close()
    except OSError:
        pass


def read_raw_log(path: Path) -> list[dict]:
    """The raw request log as dicts (for tests and offline checks)."""
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]
