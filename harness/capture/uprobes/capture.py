"""Function latency of a run: uprobes on each probed service's binary, one `perf record` per
service, and per function and phase the calls and their latency in the run directory.

When the captures start, every function of `captures.functions` is looked up in the binary the
container runs (through /proc/<pid>/root, so it is the binary that runs, not a local build);
a missing or inlined-only function fails the run before any load (elf.find_function says
why, with near names). The probes of a service form one perf probe group; the undo journal
(harness/undo) holds its undo (stop the recorder, remove the group) before a probe is placed, so the
watchdog and `harness clean` remove them after a SIGKILL, as they revert faults.

One `perf record -e GROUP:* -k mono -p PID` per service (timestamps on CLOCK_MONOTONIC, the
run's clock) from the captures' start, before any load, to their end; then `perf script`, matched
per goroutine and stack depth (events.match); each call belongs to the phase its entry is in.
The recorder starts with its events disabled (`-D -1 --control fifo:CTL,ACK`) and is enabled
through its control FIFO; its "ack" is the proof it records (waiting only for perf.data to exist
missed the first 0.4 s of the first phase: 280 of 320 calls). A phase not wholly recorded says so:
`complete: false` and `why` in its file, and a capture-failed event, when the recorder never
acknowledged, when the service's container died or restarted (the recorder follows the process it
attached to), or when the probes were taken off because the service made more than
MAX_CALLS_PER_S calls a second of the probed functions (each call costs about 11 µs of the
service's CPU, docs/captures.md: at 120,000 calls/s a service collapsed).
Per wanted phase (captures.functions.phases) that gives functions/<phase>/<service>.json
("unfinished", "unmatched" and "reentries" count over the whole recording):

    {"version": 1, "service", "phase", "start_s", "end_s", "seconds",
     "functions": [{"function", "file", "line", "probes": {"entry": 1, "returns": n},
                    "calls", "calls_per_s", "unfinished", "unmatched", "reentries",
                    "latency_ms": {"min", "mean", "p50", "p90", "p99", "p999", "max"},
                    "histogram": "<HdrHistogram, base64>"}],
     "events": {"read", "malformed"}, "raw": "functions/<phase>/<service>.raw.jsonl" | null,
     "complete": true | false, "why": null | "..."}
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness import proc
from harness.capture.spec import FunctionsSpec
from harness.capture.uprobes import elf, events
from harness.capture.uprobes import probes as uprobes
from harness.errors import HarnessError, ScenarioError
from harness.runctx import PhaseWindow, RunContext, ServiceInfo
from harness.undo.ledger import Ledger
from harness.undo.steps import kill_pidfile

VERSION = 1
PLACE_TIMEOUT_S = 120.0
SCRIPT_TIMEOUT_S = 300.0
ACK_TIMEOUT_S = 30.0
MAX_CALLS_PER_S = 10_000        # of the probed functions of one service: about 0.11 of a core in probes
RATE_INTERVAL_S = 1.0


@dataclass
class Placed:
    """The probes of one service: its group, the binary they are on and the functions, in order."""
    service: str
    group: str
    pid: int
    binary: Path                    # the binary through /proc/<pid>/root (read here)
    exe: str                        # its path inside the container (for perf probe --target-ns)
    functions: list[elf.GoFunction]
    pidfile: Path


@dataclass
class Recording:
    placed: Placed
    out: Path
    popen: subprocess.Popen
    start_s: float                  # when perf acknowledged: recording from here on
    end_s: float | None = None
    confirmed: bool = True
    stopped: tuple[float, str] | None = None     # (when, why) the probes were taken off early


class FunctionProbes:
    def __init__(self, rc: RunContext, spec: FunctionsSpec, services: list[ServiceInfo],
                 failed: Callable[[str, str | None, str, str], None]):
        self.rc, self.spec, self.services, self.failed = rc, spec, services, failed
        self.ledger = Ledger(rc.run_dir)
        self.placed: list[Placed] = []
        self.recordings: dict[str, Recording] = {}
        self._done = threading.Event()                # the rate watcher's stop
        self._watch: threading.Thread | None = None
        self.phases: list[PhaseWindow] = []         # the wanted phases seen, in order

    # -- probes -------------------------------------------------------------------------------
    def place(self) -> None:
        """Look every function up and place its probes; raises ScenarioError for a function the
        binary does not have, HarnessError when perf probe fails."""
        for index, svc in enumerate(self.services):
            if not svc.pid:
                raise HarnessError(f"no host PID for service '{svc.name}': cannot probe its functions")
            try:
                exe = os.readlink(f"/proc/{svc.pid}/exe")       # its path in the container
            except OSError as e:
                raise HarnessError(f"cannot read the binary of service '{svc.name}' (pid {svc.pid})",
                                   seen=str(e), hint="is the container still running?") from None
            binary = Path(f"/proc/{svc.pid}/root") / exe.lstrip("/")
            try:
                fns = [elf.find_function(binary, name) for name in self.spec.functions]
            except ScenarioError:
                raise
            except HarnessError as e:
                raise ScenarioError(f"captures.functions: {e.what} (service {svc.name})",
                                    where=self.spec.where, seen=e.seen, hint=e.hint) from None
            group = uprobes.group_name(self.rc.run_id, index)
            placed = Placed(svc.name, group, svc.pid, binary, exe, fns,
                            self.rc.run_dir / "functions" / f"{svc.name}.perf.pid")
            self._add(placed)
            self.placed.append(placed)
        self._record()

    def _add(self, p: Placed) -> None:
        undo = [{"op": "kill-pidfile", "pidfile": str(p.pidfile), "marker": p.group},
                {"op": "uprobes-remove", "group": p.group}]
        self.ledger.write(f"uprobes-{p.service}", "applying", kind="uprobes", target=p.service, undo=undo)
        # perf probe resolves -x to an absolute path, which /proc/<pid>/root/... is not on the host:
        # it is given the path inside the container and the container's mount namespace
        argv = ["perf", "probe", "-q", f"--target-ns={p.pid}", "-x", p.exe]
        for i, fn in enumerate(p.functions):
            for spec in elf.probe_specs(p.group, i, fn):
                argv += ["-a", spec]
        try:
            proc.run(argv, timeout=PLACE_TIMEOUT_S, what=f"perf probe could not place the uprobes of {p.service}",
                     hint="harness doctor says whether uprobes work on this host")
        except HarnessError:
            uprobes.remove_group(p.group)
            self.ledger.write(f"uprobes-{p.service}", "reverted")
            raise
        self.ledger.write(f"uprobes-{p.service}", "applied",
                          probes=sum(1 + len(fn.returns) for fn in p.functions))
        self.rc.events.add("uprobes-placed", f"{len(p.functions)} function(s) of {p.service} probed "
                           f"({p.group})", service=p.service)

    def remove(self) -> None:
        """Stop every recorder and remove every group (idempotent), as the ledger's undo would:
        the recorder named in the group's pidfile too (one a Ctrl-C caught while it started)."""
        self._done.set()
        for rec in list(self.recordings.values()):
            _interrupt(rec, self.rc.clock.now())
            _wait(rec.popen, 10.0)
        self.recordings.clear()
        for p in self.placed:
            kill_pidfile(p.pidfile, p.group)
            left = uprobes.remove_group(p.group)
            state = "revert-failed" if left else "reverted"
            self.ledger.write(f"uprobes-{p.service}", state, failures=left or None)
            if left:
                self.failed(p.service, None, "functions", f"uprobes still registered: {', '.join(left)}")
        self.placed = []

    # -- recording ----------------------------------------------------------------------------
    # One perf record per service from the captures' start (before any load) to their end: calls
    # fall into the phase their entry is in, with no gap between phases.
    def phase_start(self, phase: PhaseWindow) -> None:
        if self.wants(phase.name):
            self.phases.append(phase)

    def _record(self) -> None:
        for p in self.placed:
            rec = self._start_recorder(p)
            if rec is not None:
                self.recordings[p.service] = rec
        if self.recordings:
            self._watch = threading.Thread(target=self._watch_rate, name="uprobe-rate", daemon=True)
            self._watch.start()

    def _start_recorder(self, p: Placed) -> Recording | None:
        out = self.rc.run_dir / "functions" / f"{p.service}.perf.data"
        out.parent.mkdir(parents=True, exist_ok=True)
        ctl, ack = out.with_suffix(".ctl"), out.with_suffix(".ack")
        for fifo in (ctl, ack):
            fifo.unlink(missing_ok=True)
            os.mkfifo(fifo)
        cmd = ["perf", "record", "-q", "-e", f"{p.group}:*", "-k", "mono", "--no-buildid-cache", "-D", "-1",
               "--control", f"fifo:{ctl},{ack}", "-p", str(p.pid), "-o", str(out)]
        try:
            with open(out.with_suffix(".log"), "w") as log:
                popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        except OSError as e:
            self.failed(p.service, None, "functions", f"cannot start perf record: {e}")
            return None
        try:
            p.pidfile.write_text(f"{popen.pid} {psutil.Process(popen.pid).create_time()}\n")
            confirmed = _enable(popen, ctl, ack, ACK_TIMEOUT_S)
        except BaseException:       # Ctrl-C while it starts: it is no one's yet, so stop it here
            _interrupt_popen(popen)
            _wait(popen, 10.0)
            raise
        finally:
            for fifo in (ctl, ack):     # perf holds them open; no FIFO stays in the run directory
                fifo.unlink(missing_ok=True)
        rec = Recording(p, out, popen, self.rc.clock.now(), confirmed=confirmed)
        if not confirmed:
            self.failed(p.service, None, "functions", f"perf record did not confirm it records within "
                        f"{ACK_TIMEOUT_S:g}s ({out.with_suffix('.log')}): the calls counted may be partial")
        return rec

    def _watch_rate(self) -> None:
        """Take the probes off a service whose probed functions are called more than MAX_CALLS_PER_S
        a second (measured from the kernel's hit counts, uprobe_profile, every second)."""
        last: dict[str, tuple[float, int]] = {}
        while self.recordings and not self._done.wait(RATE_INTERVAL_S):
            hits = uprobes.hits()
            now = self.rc.clock.now()
            for service, rec in list(self.recordings.items()):
                if rec.stopped is not None:
                    continue
                calls = sum(n for ev, n in hits.items() if ev.startswith(rec.placed.group + ":") and
                            ev.endswith("_in"))
                t0, c0 = last.get(service, (now, calls))
                last[service] = (now, calls)
                rate = (calls - c0) / (now - t0) if now > t0 else 0.0
                if rate > MAX_CALLS_PER_S:
                    self._take_off(rec, now, rate)

    def _take_off(self, rec: Recording, now: float, rate: float) -> None:
        why = (f"probes taken off at {now:.1f}s: {rate:,.0f} calls/s of the probed functions is over the "
               f"bound of {MAX_CALLS_PER_S:,}/s (each call costs about 11 µs of the service's CPU); probe "
               "a function called less often (a handler, a dependency call)")
        rec.stopped = (now, why)
        _interrupt(rec, now)
        _wait(rec.popen, 10.0)
        left = uprobes.remove_group(rec.placed.group)
        self.ledger.write(f"uprobes-{rec.placed.service}", "revert-failed" if left else "reverted",
                          failures=left or None)
        self.failed(rec.placed.service, None, "functions", why)
        self.rc.events.add("capture-note", f"function latency of {rec.placed.service}: {why}",
                           service=rec.placed.service, capture="functions")

    def wants(self, phase: str) -> bool:
        return self.spec.phases is None or phase in self.spec.phases

    def finish(self) -> None:
        """End the recordings and write each wanted phase's calls (at the end of the captures)."""
        self._done.set()
        recs, self.recordings = list(self.recordings.values()), {}
        for rec in recs:
            _interrupt(rec, self.rc.clock.now())
        for rec in recs:
            self._convert(rec)

    def _convert(self, rec: Recording) -> None:
        name = rec.placed.service
        if not _wait(rec.popen, 30.0) or not rec.out.exists():
            self.failed(name, None, "functions", f"perf record did not finish ({rec.out.with_suffix('.log')})")
            return
        text = rec.out.with_suffix(".txt")
        n = len(rec.placed.functions)
        phases = [(self.rc.clock.mono_t0 + p.start_s, self.rc.clock.mono_t0 + p.end_s) for p in self.phases]
        split = [[events.FunctionCalls(i) for i in range(n)] for _ in phases]
        raw: list[dict] = []

        def sink(fn: int, start_ns: int, end_ns: int, g: int) -> None:
            t = start_ns / 1e9
            for k, (t0, t1) in enumerate(phases):      # a handful of phases: a scan is enough
                if t0 <= t < t1:
                    split[k][fn].record(start_ns, end_ns, g, None)
                    self._keep_raw(raw, k, rec.placed.functions[fn].name, t, end_ns - start_ns, g)
                    return
        try:       # perf script's text goes through a file: a long run has millions of events
            proc.run(["perf", "script", "-i", str(rec.out), "-F", "comm,tid,time,event,trace", "--ns"],
                     timeout=SCRIPT_TIMEOUT_S, what="perf script could not read the uprobe events",
                     stdout_path=str(text))
            tally = events.ParseTally()
            with open(text, errors="replace") as lines:
                whole = events.match(events.parse_script(lines, rec.placed.group, tally=tally), n, sink=sink)
        except HarnessError as e:
            self.failed(name, None, "functions", e.render())
            return
        finally:
            text.unlink(missing_ok=True)
        gone = self._process_gone(rec)
        if gone is not None:
            self.failed(name, None, "functions", f"its container died or restarted at {gone:.1f}s; the recorder "
                        "follows the process it attached to: calls after that are not counted")
        for k, phase in enumerate(self.phases):
            self._write_phase(rec, phase, split[k], whole, tally, raw)
        rec.out.unlink(missing_ok=True)                 # summarised; perf.data grows with every call

    def _keep_raw(self, raw: list[dict], k: int, function: str, t: float, ns: int, g: int) -> None:
        """A call of the raw window (captures.functions.raw: the first seconds of one phase; only
        that phase writes the rows)."""
        phase = self.phases[k]
        t_s = t - self.rc.clock.mono_t0
        if self.spec.raw_phase == phase.name and t_s < phase.start_s + self.spec.raw_seconds:
            raw.append({"function": function, "t_s": round(t_s, 6), "duration_ms": ns / 1e6,
                        "g": f"0x{g:x}"})

    def _write_phase(self, rec: Recording, phase: PhaseWindow, calls: list, whole: list, tally,
                     raw_rows: list[dict]) -> None:
        p = rec.placed
        out = []
        for fn, mine, run_calls in zip(p.functions, calls, whole):
            mine.unfinished, mine.unmatched, mine.reentries = \
                run_calls.unfinished, run_calls.unmatched, run_calls.reentries
            out.append({"function": fn.name, "file": fn.file, "line": fn.line,
                        "probes": {"entry": 1, "returns": len(fn.returns)},
                        **events.summarize(mine, phase.end_s - phase.start_s)})
        folder = self.rc.run_dir / "functions" / phase.name
        folder.mkdir(parents=True, exist_ok=True)
        raw_path = None
        if self.spec.raw_phase == phase.name:
            raw_file = folder / f"{p.service}.raw.jsonl"
            raw_file.write_text("".join(json.dumps(r) + "\n" for r in sorted(raw_rows, key=lambda r: r["t_s"])))
            raw_path = raw_file.relative_to(self.rc.run_dir).as_posix()
        why = self._gap(rec, phase)
        doc = {"version": VERSION, "service": p.service, "phase": phase.name, "start_s": phase.start_s,
               "end_s": phase.end_s, "seconds": round(phase.end_s - phase.start_s, 3), "functions": out,
               "events": {"read": tally.events, "malformed": tally.malformed}, "raw": raw_path,
               "complete": why is None, "why": why}
        path = folder / f"{p.service}.json"
        path.write_text(json.dumps(doc, indent=1))
        self.rc.artifacts.add("functions", path, service=p.service, phase=phase.name, start_s=phase.start_s,
                              end_s=phase.end_s, functions=[f["function"] for f in out])

    def _gap(self, rec: Recording, phase: PhaseWindow) -> str | None:
        """Why the recording does not hold every call of the phase, or None when it does."""
        if not rec.confirmed:
            return "perf record never confirmed it recorded: calls may be missing"
        if rec.start_s > phase.start_s:
            return f"recording began {rec.start_s - phase.start_s:.2f}s into the phase"
        if rec.stopped is not None and rec.stopped[0] < phase.end_s:
            return rec.stopped[1]
        gone = self._process_gone(rec)
        if gone is not None and gone < phase.end_s:
            return (f"the container of {rec.placed.service} died or restarted at {gone:.1f}s: the recorder "
                    "follows the process it attached to, so later calls are not counted")
        return None

    def _process_gone(self, rec: Recording) -> float | None:
        """When the recorded process's container died or started again (docker events), if it did."""
        times = [e["t_s"] for e in self.rc.events.all()
                 if e.get("service") == rec.placed.service and e.get("t_s", -1) >= rec.start_s
                 and e.get("kind") in ("container-die", "container-start", "container-restart")]
        return min(times) if times else None


def _interrupt(rec: Recording, now: float) -> None:
    if rec.end_s is None:
        rec.end_s = now
    _interrupt_popen(rec.popen)


def _interrupt_popen(popen: subprocess.Popen) -> None:
    if popen.poll() is None:
        try:
            os.killpg(popen.pid, signal.SIGINT)
        except ProcessLookupError:
            pass


def _enable(popen: subprocess.Popen, ctl: Path, ack: Path, timeout: float) -> bool:
    """Enable a recorder started with -D -1 through its control FIFO; True once perf answered
    "ack" (its events are on), False when it did not within `timeout` or ended."""
    deadline = time.monotonic() + timeout
    wfd = rfd = None
    try:
        rfd = os.open(ack, os.O_RDONLY | os.O_NONBLOCK)
        while wfd is None:
            try:
                wfd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:                     # ENXIO: perf has not opened it yet
                if time.monotonic() > deadline or popen.poll() is not None:
                    return False
                time.sleep(0.01)
        os.write(wfd, b"enable\n")
        got = b""
        while b"ack" not in got:
            left = deadline - time.monotonic()
            if left <= 0 or popen.poll() is not None:
                return False
            ready, _w, _x = select.select([rfd], [], [], min(left, 0.2))
            if ready:
                try:
                    got += os.read(rfd, 64)
                except BlockingIOError:
                    pass
        return True
    finally:
        for fd in (wfd, rfd):
            if fd is not None:
                os.close(fd)


def _wait(popen: subprocess.Popen, timeout: float) -> bool:
    try:
        popen.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        popen.wait(timeout=5)
        return False
