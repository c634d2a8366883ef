"""LoadRunner: the engine's handle on the load, which runs in child worker processes.

The engine never imports Locust: it starts a load master (`python -m harness.load.master`)
and the local workers (`python -m harness.load.worker`), which join the master; remote workers
join it from other machines (load.remote_workers). The master hands every worker the run's
clock and phase windows and relays their messages as JSON lines on its standard output. The
runner merges the workers' per-second records into load/history.jsonl as they arrive
(latest() serves the live display) and their final HdrHistograms into load/stats.json.
"""
from __future__ import annotations

import gzip
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import HarnessError, TargetRefused
from harness.load.merge import HistoryMerger, build_stats
from harness.load.schedule import Phase, PhaseTable, RateFunction
from harness.load.spec import LoadSpec, is_loopback_host, url_host
from harness.netif import interface_address
from harness.runctx import PhaseWindow, RunContext

log = logging.getLogger("harness.run")
READY_TIMEOUT_S = 60.0


def check_target(spec: LoadSpec, rc: RunContext, target_url: str) -> None:
    """Refuse a target that is neither loopback, nor one of the environment's containers, nor one
    of its published ports on a remote engine's address."""
    host = url_host(target_url)
    if spec.allow_external or is_loopback_host(host):
        return
    own = {ip for svc in rc.services.values() for ip in svc.ips.values()}
    published = {(svc.address, p) for svc in rc.services.values() for p in svc.published.values()}
    if host in own or (host, urlsplit(target_url).port) in published:
        return
    raise TargetRefused("load target is neither loopback nor a container of this environment",
                        where=spec.where or "load", seen=target_url,
                        hint="target a service (target: {service, port}) or 127.0.0.1; set "
                             "allow_external_targets: true to load another host on purpose")


def check_remote_target(spec: LoadSpec, rc: RunContext, url: str | None) -> None:
    """Remote workers may load the environment's own ports published on a named interface
    (load.target.publish), or an external URL the scenario allows; nothing else."""
    if not spec.remote_workers or (url and spec.allow_external):
        return
    parts = urlsplit(url or "")
    own = {addr_port for svc in rc.services.values() for addr_port in svc.exposed.values()}
    if url and (parts.hostname, parts.port) in own:
        return
    raise TargetRefused("the remote workers' target is not a port of this environment published on a named "
                        "interface", where=spec.where or "load", seen=str(url),
                        hint="target: {service, port, publish: IFACE} publishes the service for them")


class LoadRunner:
    def __init__(self, spec: LoadSpec, rc: RunContext, target_url: str, remote_target_url: str | None = None):
        check_target(spec, rc, target_url)
        check_remote_target(spec, rc, remote_target_url)
        self.spec, self.rc, self.target_url = spec, rc, target_url
        self.remote_target_url = remote_target_url
        self.dir = Path(rc.run_dir) / "load"
        self.local = spec.processes
        self.workers = spec.processes + spec.remote_workers
        self.phases: PhaseTable | None = None     # the windows arrive with start()
        self._merger: HistoryMerger | None = None
        self._lock = threading.Lock()
        self._master: subprocess.Popen | None = None
        self._procs: list[subprocess.Popen] = []  # the local workers, by index
        self._readers: list[threading.Thread] = []
        self._listening = threading.Event()
        self.port: int | None = None
        self.address = "127.0.0.1"                # where the master listens
        self.token = os.environ.get("HARNESS_LOAD_TOKEN") or secrets.token_urlsafe(18)
        self._ready = [threading.Event() for _ in range(self.workers)]
        self._joined: dict[int, dict] = {}         # worker index -> where it joined from
        self._finals: dict[int, dict] = {}
        self._done: set[int] = set()              # workers whose share is over (final, died or lost)
        self._died: dict[int, dict] = {}
        self._master_lost: float | None = None     # run time at which the master went away mid-run
        self._errors: list[dict] = []
        self._history: list[dict] = []
        self._latest: dict | None = None
        self._locust: list[dict] = []
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
        """Start the load master and the workers, and wait until each worker has joined and
        loaded Locust (1-3 s; up to ready_timeout). Optional: start() does it when needed. The
        phase windows are read later, in start()."""
        if self._prepared:
            return
        self._prepared = True
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._spawn_master(ready_timeout)
            for i in range(self.local):
                self._spawn_worker(i)
            self._await_ready(ready_timeout)
            self._await_remote()
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
        go = {"type": "go", "mono_t0": self.rc.clock.mono_t0,
              "raw_logs": [self._raw_part(i) for i in range(self.workers)],
              "phases": [{"name": p.name, "start_s": p.start_s, "end_s": p.end_s} for p in self.phases.phases]}
        if not self._tell_master(go):
            self.stop(timeout=5.0)
            raise self._master_died("before it could start the load")
        late = self.rc.clock.now() - self.phases.start_s
        self.rc.events.add("load-start", self._describe(), workers=self.workers,
                           pids=[p.pid for p in self._procs], master_pid=self._master.pid)
        if late > 0:
            log.warning("load started %.2fs after its first phase began: arrivals before "
                                "then are not sent (skipped_late_start in load/stats.json)", late)

    def _raw_part(self, i: int) -> str | None:
        if not self.spec.raw_log:
            return None
        return str(self.raw_path if self.workers == 1 else self.dir / f"requests-{i}.jsonl.gz")

    def _master_config(self) -> dict:
        spec = self.spec
        if spec.master_interface:
            self.address = interface_address(spec.master_interface, f"{spec.where or 'load'}: master.interface")
        worker = {"spec": spec.to_json(), "target_url": self.target_url, "stop_grace": 2.0}
        cfg = {"workers": self.workers, "local": self.local, "token": self.token, "bind": self.address,
               "port": spec.master_port, "worker": worker}
        if spec.remote_workers:
            source = Path(spec.locustfile).read_text() if spec.locustfile else None
            cfg["remote_worker"] = {**worker, "target_url": self.remote_target_url, "locustfile_source": source}
        return cfg

    def _spawn_master(self, timeout: float) -> None:
        config = self.dir / "master-config.json"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # it holds the run's token
        with os.fdopen(fd, "w") as f:
            json.dump(self._master_config(), f, indent=1)
        log_file = open(self.dir / "master.log", "wb")  # noqa: SIM115 - the child keeps its copy
        self._master = subprocess.Popen([sys.executable, "-m", "harness.load.master", "--config", str(config)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,
                                        close_fds=True)
        log_file.close()
        t = threading.Thread(target=self._read, args=(self._master,), name="load-master-reader", daemon=True)
        t.start()
        self._readers.append(t)
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.1):
            self._raise_worker_error()
            if self._master.poll() is not None:
                raise self._master_died("before it listened")
            if time.monotonic() > deadline:
                raise HarnessError("the load master did not start", where="load master",
                                   seen=f"no port within {timeout:g}s; log: {self._log_tail('master.log')}",
                                   hint="the machine may be overloaded; see load/master.log")
        config.unlink(missing_ok=True)      # read by now; the token is not left in the run directory

    def _spawn_worker(self, i: int) -> None:
        log_file = open(self.dir / f"worker-{i}.log", "wb")  # noqa: SIM115 - the child keeps its copy
        cmd = [sys.executable, "-m", "harness.load.worker", "--master", f"{self.address}:{self.port}", "--index", str(i)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, close_fds=True,
                                env={**os.environ, "HARNESS_LOAD_TOKEN": self.token})
        log_file.close()
        self._procs.append(proc)
        t = threading.Thread(target=self._watch, args=(i, proc), name=f"load-worker-{i}", daemon=True)
        t.start()
        self._readers.append(t)

    def _await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for i, ev in enumerate(self._ready[:self.local]):
            while not ev.wait(0.1):
                self._raise_worker_error()
                if self._procs[i].poll() is not None:
                    raise self._worker_died(i, "before it was ready")
                if self._master.poll() is not None:
                    raise self._master_died("before the workers were ready")
                if time.monotonic() > deadline:
                    raise HarnessError("the load worker did not become ready", where=f"load worker {i}",
                                       seen=f"no ready message within {timeout:g}s; log: "
                                            f"{self._log_tail(f'worker-{i}.log')}",
                                       hint="the machine may be overloaded; see load/worker-*.log")
        self._raise_worker_error()

    def _await_remote(self) -> None:
        """Wait up to load.master.join_timeout for the remote workers to join and be ready;
        then fail naming how many joined and from where."""
        if not self.spec.remote_workers:
            return
        n, timeout = self.spec.remote_workers, self.spec.join_timeout
        log.warning("waiting up to %gs for %d remote load worker%s; on each machine run:\n"
                    "  HARNESS_LOAD_TOKEN=%s harness worker --master %s:%d", timeout, n, "s" * (n > 1),
                    self.token, self.address, self.port)
        self.rc.events.add("load-waiting-for-workers", f"{n} remote workers at {self.address}:{self.port}",
                           remote=n, master=f"{self.address}:{self.port}")
        deadline = time.monotonic() + timeout
        while not all(ev.is_set() for ev in self._ready[self.local:]):
            time.sleep(0.1)
            self._raise_worker_error()
            if self._master.poll() is not None:
                raise self._master_died("while waiting for the remote workers")
            if time.monotonic() > deadline:
                raise self._remote_missing(n, timeout)

    def _remote_missing(self, n: int, timeout: float) -> HarnessError:
        with self._lock:
            ready = [i for i in range(self.local, self.workers) if self._ready[i].is_set()]
            joined = {i: j for i, j in self._joined.items() if j.get("remote")}
        where = "; ".join(f"worker {i} from {j.get('host')} ({j.get('addr')})" + ("" if i in ready else ", not ready")
                          for i, j in sorted(joined.items())) or "none joined"
        return HarnessError(f"{len(ready)} of {n} remote load worker{'s' * (n > 1)} ready within {timeout:g}s",
                            where=f"load master {self.address}:{self.port}", seen=where,
                            hint="start them with `harness worker --master HOST:PORT` and the run's token "
                                 "(printed above); a refused one is in events.jsonl (load-worker-refused); "
                                 "or raise load.master.join_timeout")

    def _raise_worker_error(self) -> None:
        with self._lock:
            err = self._errors[0] if self._errors else None
        if err:
            raise HarnessError(err.get("what", "the load worker failed"), where=err.get("where"),
                               seen=err.get("seen"), hint=err.get("hint"))

    def _worker_died(self, i: int, when: str) -> HarnessError:
        rc = self._procs[i].poll()
        return HarnessError(f"the load worker exited {when}", where=f"load worker {i}",
                            seen=f"exit code {rc}; log: {self._log_tail(f'worker-{i}.log')}",
                            hint=f"see {self.dir / f'worker-{i}.log'}")

    def _master_died(self, when: str) -> HarnessError:
        rc = self._master.poll() if self._master else None
        return HarnessError(f"the load master exited {when}", where="load master",
                            seen=f"exit code {rc}; log: {self._log_tail('master.log')}",
                            hint=f"see {self.dir / 'master.log'}")

    def _worker_log(self, i: int) -> str:
        if i < self.local:
            return str(self.dir / f"worker-{i}.log")
        j = self._joined.get(i, {})
        return f"the output of remote worker {i} on {j.get('host')} ({j.get('addr')})"

    def _log_tail(self, name: str) -> str:
        try:
            lines = (self.dir / name).read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-5:]) or "(empty)"

    def _tell_master(self, msg: dict) -> bool:
        try:
            self._master.stdin.write((json.dumps(msg) + "\n").encode())
            self._master.stdin.flush()
            return True
        except (OSError, ValueError):
            return False

    def _describe(self) -> str:
        s = self.spec
        if s.model == "open":
            rates = ", ".join(f"{p.name}: {self.rate.mean_over(p.start_s, p.end_s):g}/s"
                              for p in self.phases.phases)
            return f"open model ({rates}) cap {s.max_inflight} -> {self.target_url}"
        if s.model == "replay":
            return f"replay of {s.replay.file} at speed {s.replay.speed:g} cap {s.max_inflight} -> {self.target_url}"
        return f"closed model {s.users} users -> {self.target_url}"

    # -- the master's pipe, and the workers' processes ---------------------------------------
    def _read(self, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            self._dispatch(msg)
        proc.stdout.close()
        with self._lock:
            missing = [i for i in range(self.workers) if i not in self._done]
            if missing and self._started and not self._stopped:
                self._master_lost = self.rc.clock.now()
        for i in missing:                          # the master is gone: nothing more will come
            self._share_over(i)

    def _dispatch(self, msg: dict) -> None:
        kind, i = msg.get("type"), msg.get("worker")
        if kind == "listening":
            self.port = int(msg["port"])
            self._listening.set()
        elif kind == "ready" and isinstance(i, int) and 0 <= i < self.workers:
            self._ready[i].set()
        elif kind == "joined" and isinstance(i, int):
            self._note_join(i, msg)
        elif kind == "second":
            with self._lock:
                self._write_history(self._merger.add(i, msg))
        elif kind == "final":
            with self._lock:
                self._finals[i] = msg
            self._share_over(i)
        elif kind == "locust":
            with self._lock:
                self._locust = list(msg.get("stats") or [])
        elif kind == "lost":
            self._note_death(i, None)
        elif kind == "refused":
            log.warning("load master refused a worker from %s: %s", msg.get("host"), msg.get("why"))
            self.rc.events.add("load-worker-refused", str(msg.get("why")), host=msg.get("host"))
        elif kind == "error":
            with self._lock:
                self._errors.append(msg)
            if self._started:
                self.rc.events.add("load-error", msg.get("what", ""), worker=i)
                log.error("load worker %s: %s (%s)", i, msg.get("what"), msg.get("hint"))

    def _note_join(self, i: int, msg: dict) -> None:
        with self._lock:
            self._joined[i] = msg
        if msg.get("remote"):
            log.warning("remote load worker %d joined from %s (%s)", i, msg.get("host"), msg.get("addr"))
            self.rc.events.add("load-worker-joined", f"worker {i} from {msg.get('host')} ({msg.get('addr')})",
                               worker=i, host=msg.get("host"), addr=msg.get("addr"))

    def _share_over(self, i: int) -> None:
        with self._lock:
            if i in self._done:
                return
            self._done.add(i)
            if self._merger is not None:
                self._write_history(self._merger.worker_done(i))

    def _watch(self, i: int, proc: subprocess.Popen) -> None:
        """A local worker's process: one that ends without its final record while the load
        runs has died (its record may still be on its way through the master: wait for it)."""
        code = proc.wait()
        t_s = self.rc.clock.now()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            with self._lock:
                if i in self._finals or not self._started or self._stopped:
                    return
            time.sleep(0.05)
        self._note_death(i, code, t_s)

    def _note_death(self, i: int, code: int | None, t_s: float | None = None) -> None:
        """A worker whose share ended without its final record while the load ran: its share
        of the load is missing from then on. The run fails (wait()) instead of reporting the gap
        as the service's."""
        with self._lock:
            if not isinstance(i, int) or i in self._died or i in self._finals or not self._started or self._stopped:
                return
            t_s = self.rc.clock.now() if t_s is None else t_s
            self._died[i] = {"t_s": t_s, "code": code}
        self._share_over(i)
        what = _exit_text(code)
        self.rc.events.add("load-worker-died", f"worker {i} {what} at {t_s:.1f}s", worker=i, t_s=t_s)
        log.error("load worker %d %s at %.1fs of the run: its share of the load stopped; see %s", i, what,
                  t_s, self._worker_log(i))

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
        for p in [*self._procs, self._master]:     # the master ends when every worker's share has
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                break
        stats = self.stop()
        self._raise_if_died()
        return stats

    def _raise_if_died(self) -> None:
        if self._master_lost is not None:
            raise HarnessError("the load master exited during the run: the workers' records stopped there",
                               where="load master",
                               seen=f"exit code {self._master.poll()} at {self._master_lost:.1f}s of the run; "
                                    f"log: {self._log_tail('master.log')}",
                               hint=f"see {self.dir / 'master.log'}; load/stats.json holds what arrived "
                                    "(incomplete: true)")
        with self._lock:
            died = sorted(self._died.items())
        if died:
            i, d = died[0]
            others = f" (and worker {', '.join(str(j) for j, _ in died[1:])})" if len(died) > 1 else ""
            raise HarnessError("a load worker died during the run: part of the load was not sent",
                               where=f"load worker {i}{others}",
                               seen=f"{_exit_text(d['code'])} at {d['t_s']:.1f}s of the run; log: {self._log_tail(f'worker-{i}.log')}",
                               hint=f"see {self._worker_log(i)}; load/stats.json holds what was "
                                    "measured (incomplete: true)")

    def stop(self, timeout: float = 10.0) -> dict:
        """End the workers (SIGTERM, then SIGKILL after `timeout`) and write stats.json.
        Idempotent; safe in a finally: after Ctrl-C."""
        if self._stopped:
            return self._summary or {}
        self._stopped = True
        alive = [p for p in [*self._procs, self._master] if p is not None and p.poll() is None]
        early = self._started and bool(alive)
        if self._master is not None:
            self._tell_master({"type": "stop"})
            _close(self._master.stdin)            # the master ends on end of input
        for p in self._procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for i, p in enumerate(self._procs):
            self._end(p, deadline, f"worker {i}", timeout)
        if self._master is not None:
            self._end(self._master, deadline, "the load master", timeout)
        for t in self._readers:
            t.join(timeout=5.0)
        if early:
            self.rc.events.add("load-stopped", "load stopped before the end of its window")
        return self._finish()

    def _end(self, p: subprocess.Popen, deadline: float, who: str, timeout: float) -> None:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5.0)
            self._killed = True
            self.rc.events.add("load-worker-killed", f"{who} did not stop within {timeout:g}s")

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
                            incomplete=self._killed or len(finals) < self.workers or bool(self._errors)
                            or self._master_lost is not None)
        with self._lock:
            stats["locust"] = list(self._locust)    # Locust's own statistics, merged by its master
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
