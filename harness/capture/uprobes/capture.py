"""Function latency of a run: uprobes on each probed service's binary, one `perf record` per
service, and per function and phase the calls and their latency in the run directory.

When the captures start, every function of `captures.functions` is looked up in the binary the
container runs (through /proc/<pid>/root, so it is the binary that runs, not a local build);
a missing or inlined-only function fails the run before any load (elf.find_function says
why, with near names). The probes of a service form one perf probe group; the fault ledger
holds its undo (stop the recorder, remove the group) before a probe is placed, so the
watchdog and `harness clean` remove them after a SIGKILL, as they revert faults.

One `perf record -e GROUP:* -k mono -p PID` per service (timestamps on CLOCK_MONOTONIC, the
run's clock) from the first phase's start to the end of the captures; then `perf script`, matched
per goroutine and stack depth (events.match); each call belongs to the phase its entry is in.
Per wanted phase (captures.functions.phases) that gives functions/<phase>/<service>.json
("unfinished", "unmatched" and "reentries" count over the whole recording):

    {"version": 1, "service", "phase", "start_s", "end_s", "seconds",
     "functions": [{"function", "file", "line", "probes": {"entry": 1, "returns": n},
                    "calls", "calls_per_s", "unfinished", "unmatched", "reentries",
                    "latency_ms": {"min", "mean", "p50", "p90", "p99", "p999", "max"},
                    "histogram": "<HdrHistogram, base64>"}],
     "events": {"read", "malformed"}, "raw": "functions/<phase>/<service>.raw.jsonl" | null}
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness import proc, uprobes
from harness.capture.spec import FunctionsSpec
from harness.capture.uprobes import elf, events
from harness.errors import HarnessError, ScenarioError
from harness.faults.ledger import Ledger
from harness.runctx import PhaseWindow, RunContext, ServiceInfo

VERSION = 1
PLACE_TIMEOUT_S = 120.0
SCRIPT_TIMEOUT_S = 300.0


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
    start_s: float
    end_s: float | None = None


class FunctionProbes:
    def __init__(self, rc: RunContext, spec: FunctionsSpec, services: list[ServiceInfo],
                 failed: Callable[[str, str | None, str, str], None]):
        self.rc, self.spec, self.services, self.failed = rc, spec, services, failed
        self.ledger = Ledger(rc.run_dir)
        self.placed: list[Placed] = []
        self.recordings: dict[str, Recording] = {}
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
        """Stop every recorder and remove every group (idempotent)."""
        for rec in list(self.recordings.values()):
            _interrupt(rec, self.rc.clock.now())
            _wait(rec.popen, 10.0)
        self.recordings.clear()
        for p in self.placed:
            left = uprobes.remove_group(p.group)
            state = "revert-failed" if left else "reverted"
            self.ledger.write(f"uprobes-{p.service}", state, failures=left or None)
            if left:
                self.failed(p.service, None, "functions", f"uprobes still registered: {', '.join(left)}")
        self.placed = []

    # -- recording ----------------------------------------------------------------------------
    # One perf record per service from the first phase's start to the end of the captures: calls
    # fall into the phase their entry is in, with no gap between phases (a recorder per phase
    # would miss the calls of its first milliseconds, while it attaches).
    def phase_start(self, phase: PhaseWindow) -> None:
        if self.wants(phase.name):
            self.phases.append(phase)
        if self.recordings or not self.placed:
            return
        for p in self.placed:
            out = self.rc.run_dir / "functions" / f"{p.service}.perf.data"
            out.parent.mkdir(parents=True, exist_ok=True)
            cmd = ["perf", "record", "-q", "-e", f"{p.group}:*", "-k", "mono", "--no-buildid-cache",
                   "-p", str(p.pid), "-o", str(out)]
            try:
                with open(out.with_suffix(".log"), "w") as log:
                    popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)
            except OSError as e:
                self.failed(p.service, phase.name, "functions", f"cannot start perf record: {e}")
                continue
            p.pidfile.write_text(f"{popen.pid} {psutil.Process(popen.pid).create_time()}\n")
            self.recordings[p.service] = Recording(p, out, popen, self.rc.clock.now())
        _settle(list(self.recordings.values()))

    def wants(self, phase: str) -> bool:
        return self.spec.phases is None or phase in self.spec.phases

    def finish(self) -> None:
        """End the recordings and write each wanted phase's calls (at the end of the captures)."""
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
        doc = {"version": VERSION, "service": p.service, "phase": phase.name, "start_s": phase.start_s,
               "end_s": phase.end_s, "seconds": round(phase.end_s - phase.start_s, 3), "functions": out,
               "events": {"read": tally.events, "malformed": tally.malformed}, "raw": raw_path}
        path = folder / f"{p.service}.json"
        path.write_text(json.dumps(doc, indent=1))
        self.rc.artifacts.add("functions", path, service=p.service, phase=phase.name, start_s=phase.start_s,
                              end_s=phase.end_s, functions=[f["function"] for f in out])


def _interrupt(rec: Recording, now: float) -> None:
    if rec.end_s is None:
        rec.end_s = now
    if rec.popen.poll() is None:
        try:
            os.killpg(rec.popen.pid, signal.SIGINT)
        except ProcessLookupError:
            pass


def _settle(recs: list[Recording], timeout: float = 5.0) -> None:
    """Wait until each new perf record has attached (its output file exists) or ended."""
    deadline = time.monotonic() + timeout
    for rec in recs:
        while time.monotonic() < deadline and rec.popen.poll() is None and not rec.out.exists():
            time.sleep(0.01)


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
