"""perf record on a service's process for a window, converted to a pprof profile.

Recording: `perf record -e cpu-clock -F <freq> -g -k mono -p <host pid>` (software
event; `-k mono` stamps samples with CLOCK_MONOTONIC, the run's clock).

Conversion: `perf script` prints each sample's time and call chain as `symbol+offset
(dso)`. For frames in the Go binary the address is the symbol's address (from `go tool
nm`) plus the offset; the binary's DWARF gives its source position with inlined calls
expanded (inlines/, a small Go program built once with the same toolchain), so a location
holds the inlined function's line and the line of the caller it was inlined into, as the
Go runtime's own profiles do. The helper is built before the first phase (build_inlines, from
CaptureManager.start) with a generous timeout: built lazily at a phase end, under the run's load, on a
machine with a cold Go build cache, it once took longer than its timeout and the profile fell
back silently. Without the helper, or for a binary without DWARF, `go tool addr2line` gives one
line per address: the outer function with the innermost file:line. A caller of inlined code
then reads as (caller, callee's file:line), not an own line, and its samples go to the caller's
caller: the conversion says so (`inlines` and `inlines_reason` in its result; the capture manager
adds a capture-note event) instead of charging callers silently. Return addresses of callers
are looked up at address-1, as pprof does. Kernel frames stay as they are, with
the file `[kernel.kallsyms]`. Each perf sample becomes one pprof sample with the values
(samples/count, cpu/nanoseconds) and a numeric label `t_ms`: its time on the run clock,
t_ms = (perf time - clock.mono_t0) * 1000.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import proc
from harness.errors import CommandError, HarnessError
from rundir.pprof.proto import Profile

HEADER_RE = re.compile(r"^\s*(?P<comm>.*?)\s+(?P<pid>\d+)/(?P<tid>\d+)\s+(?P<time>\d+\.\d+):\s+(?P<period>\d+)?")
FRAME_RE = re.compile(r"^\s+(?P<ip>[0-9a-f]+)\s+(?P<sym>.*?)(?:\+0x(?P<off>[0-9a-f]+))?\s+\((?P<dso>[^()]*)\)\s*$")
KERNEL = "[kernel.kallsyms]"


@dataclass
class PerfSample:
    t_mono: float
    tid: int
    period: int
    frames: list[tuple[str, int | None, str]]     # (symbol, offset or None, dso), leaf first
    labels: dict[str, str] = field(default_factory=dict)     # string labels of the pprof sample
    nums: dict[str, int] = field(default_factory=dict)       # numeric labels (goroutines.label)


EXPANDED = "expanded"              # Symbolizer.mode: inlined calls expanded from DWARF
NOT_EXPANDED = "not expanded"      # one frame per address (go tool addr2line)


@dataclass
class Symbolizer:
    """File:line for addresses of one Go binary, via `go tool nm`, the inline helper and `go
    tool addr2line`. After frames(), `mode` says whether inlined calls were expanded and `why`
    why not."""
    binary: str
    go: str = "go"
    timeout: float = 60.0
    mode: str | None = None
    why: str = ""
    _symbols: dict[str, int] = field(default_factory=dict)

    def load_symbols(self) -> None:
        res = proc.run([self.go, "tool", "nm", self.binary], timeout=self.timeout,
                       what="go tool nm could not read the service's binary")
        for line in res.stdout.splitlines():
            parts = line.split(None, 2)
            if len(parts) == 3 and parts[1] in ("T", "t"):
                self._symbols.setdefault(parts[2], int(parts[0], 16))

    def address(self, sym: str, off: int | None) -> int | None:
        base = self._symbols.get(sym)
        return None if base is None or off is None else base + off

    def frames(self, addresses: list[int]) -> dict[int, list[tuple[str, str, int]]]:
        """address -> [(function, file, line), ...] innermost first, inlined calls expanded from
        the binary's DWARF; without DWARF (or without the helper) one frame from addr2line.
        Addresses the helper places in no function get addr2line's answer too."""
        if not addresses:
            return {}
        found, self.why = self._expanded(addresses)
        self.mode = EXPANDED if found is not None else NOT_EXPANDED
        if found is None:
            found = {}
        missing = [a for a in addresses if a not in found]
        found.update({a: [hit] for a, hit in self.lines(missing).items()})
        return found

    def _expanded(self, addresses: list[int]) -> tuple[dict | None, str]:
        """The helper's frames, or None and why it could not give them."""
        try:
            tool = build_inlines(self.go)
        except HarnessError as e:
            return None, failure_reason(e)
        text = "".join(f"0x{a:x}\n" for a in addresses)
        timeout = self.timeout + len(addresses) / 1000     # a few µs an address; generous
        try:
            res = proc.run([tool, self.binary], input=text, timeout=timeout, check=False)
        except HarnessError as e:
            return None, failure_reason(e)
        rows = res.stdout.splitlines()
        if res.returncode != 0:
            return None, f"the inline helper exited with {res.returncode}: {res.stderr.strip()[-300:]}"
        if len(rows) != len(addresses):
            return None, f"the inline helper answered {len(rows)} lines for {len(addresses)} addresses"
        found = {}
        for addr, row in zip(addresses, rows):
            chain = [(f, path, int(line)) for f, path, line in json.loads(row) if path != "?"]
            if chain:
                found[addr] = chain
        return found, ""

    def lines(self, addresses: list[int]) -> dict[int, tuple[str, str, int]]:
        """address -> (function, file, line) for the addresses addr2line knows."""
        if not addresses:
            return {}
        text = "".join(f"0x{a:x}\n" for a in addresses)
        res = proc.run([self.go, "tool", "addr2line", self.binary], timeout=self.timeout, input=text,
                       what="go tool addr2line failed on the service's binary")
        out_lines = res.stdout.splitlines()
        found = {}
        for i, addr in enumerate(addresses):
            if 2 * i + 1 >= len(out_lines):
                break
            func, where = out_lines[2 * i], out_lines[2 * i + 1]
            path, _, line = where.rpartition(":")
            if func != "?" and path not in ("?", ""):
                found[addr] = (func, path, int(line) if line.isdigit() else 0)
        return found


def failure_reason(e: HarnessError) -> str:
    text = e.what + (f": {e.seen}" if e.seen else "")
    if isinstance(e, CommandError):
        text += f" ({(e.stderr or '').strip()[-300:]})" if (e.stderr or "").strip() else ""
    return text


INLINES_SRC = Path(__file__).parent / "inlines"
BUILD_TIMEOUT_S = 600.0     # a cold Go build cache on a loaded 2-core machine took 28 s; room for worse
_build_lock = threading.Lock()


def inlines_path() -> Path:
    """Where the helper of this source version lives (the user's cache)."""
    src = (INLINES_SRC / "main.go").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "harness"
    return cache / f"inlines-{hashlib.sha256(src).hexdigest()[:16]}"


def build_inlines(go: str, timeout: float = BUILD_TIMEOUT_S) -> str:
    """The inline-expanding symbolizer (inlines/main.go), built once per source version into
    the user's cache; raises HarnessError saying why it cannot be built."""
    exe = inlines_path()
    if exe.exists():
        return str(exe)
    with _build_lock:           # two services' conversions at one phase end build it once
        if exe.exists():
            return str(exe)
        exe.parent.mkdir(parents=True, exist_ok=True)
        tmp = exe.with_name(f"{exe.name}.{os.getpid()}.tmp")
        env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-mod=mod"}
        try:
            proc.run([go, "build", "-o", str(tmp), "."], cwd=str(INLINES_SRC), env=env, timeout=timeout,
                     what="could not build the perf symbolizer's inline helper (harness/capture/inlines)")
            os.replace(tmp, exe)
        except OSError as e:
            raise HarnessError("could not build the perf symbolizer's inline helper",
                               where=str(exe), seen=str(e)) from None
        finally:
            tmp.unlink(missing_ok=True)
    return str(exe)


def inlines_tool(go: str, timeout: float = BUILD_TIMEOUT_S) -> str | None:
    """build_inlines, or None when it cannot be built."""
    try:
        return build_inlines(go, timeout)
    except HarnessError:
        return None


def parse_script(text: str) -> list[PerfSample]:
    """Samples of `perf script -F comm,pid,tid,time,period,ip,sym,symoff,dso --ns` (pure)."""
    samples: list[PerfSample] = []
    cur: PerfSample | None = None
    for line in text.splitlines():
        if not line.strip():
            cur = None
            continue
        if not line[0].isspace():
            m = HEADER_RE.match(line)
            if m:
                cur = PerfSample(float(m["time"]), int(m["tid"]), int(m["period"] or 0), [])
                samples.append(cur)
            continue
        m = FRAME_RE.match(line)
        if m and cur is not None:
            sym = m["sym"] or "[unknown]"
            cur.frames.append((sym, int(m["off"], 16) if m["off"] else None, m["dso"]))
    return samples


class _Builder:
    """Interns functions, locations and strings of the pprof message being built."""

    def __init__(self, msg: Profile):
        self.msg = msg
        self.strings: dict[str, int] = {}
        self.funcs: dict[tuple[str, str], int] = {}
        self.locs: dict[tuple, int] = {}
        self.mappings: dict[str, int] = {}
        self.s("")

    def s(self, text: str) -> int:
        i = self.strings.get(text)
        if i is None:
            i = self.strings[text] = len(self.strings)
            self.msg.string_table.append(text)
        return i

    def func(self, name: str, filename: str) -> int:
        key = (name, filename)
        if key not in self.funcs:
            f = self.msg.function.add(id=len(self.funcs) + 1, name=self.s(name), system_name=self.s(name),
                                      filename=self.s(filename))
            self.funcs[key] = f.id
        return self.funcs[key]

    def mapping(self, dso: str) -> int:
        if dso not in self.mappings:
            m = self.msg.mapping.add(id=len(self.mappings) + 1, filename=self.s(dso), has_functions=True,
                                     has_filenames=dso != KERNEL, has_line_numbers=dso != KERNEL)
            self.mappings[dso] = m.id
        return self.mappings[dso]

    def location(self, key: tuple, dso: str, address: int, frames: list[tuple[str, str, int]]) -> int:
        """One location; `frames` innermost first (an inlined call, then its callers)."""
        if key not in self.locs:
            loc = self.msg.location.add(id=len(self.locs) + 1, mapping_id=self.mapping(dso), address=address)
            for func, filename, line in frames:
                loc.line.add(function_id=self.func(func, filename), line=line)
            self.locs[key] = loc.id
        return self.locs[key]


def to_profile(samples: list[PerfSample], *, mono_t0: float, wall_t0: float, period_ns: int,
               resolve=None, main_dso: str = "", count_type=("samples", "count"),
               value_type=("cpu", "nanoseconds"), window: tuple[float, float] | None = None) -> Profile:
    """A pprof message from parsed perf samples: values (count_type, value_type), a sample's value
    its period (period_ns when perf gave none); time and duration those of `window` (monotonic
    seconds) when given, else of the samples.

    resolve(sym, off, dso, is_leaf) -> (address, [(function, file, line), ...]) | None gives
    the Go source frames of a perf frame (innermost first: inlined calls expanded); frames it
    does not know keep their symbol and dso.
    """
    msg = Profile()
    b = _Builder(msg)
    if main_dso:
        b.mapping(main_dso)             # pprof names the profile after the first mapping
    msg.sample_type.add(type=b.s(count_type[0]), unit=b.s(count_type[1]))
    msg.sample_type.add(type=b.s(value_type[0]), unit=b.s(value_type[1]))
    msg.period_type.type, msg.period_type.unit = b.s(value_type[0]), b.s(value_type[1])
    msg.period = period_ns
    t_ms, tid_key, ms = b.s("t_ms"), b.s("tid"), b.s("ms")
    for smp in samples:
        ids = []
        for depth, (sym, off, dso) in enumerate(smp.frames):
            hit = resolve(sym, off, dso, depth == 0) if resolve else None
            if hit:
                addr, frames = hit
                ids.append(b.location(("go", addr), dso, addr, frames))
            else:
                filename = KERNEL if dso == KERNEL else dso
                ids.append(b.location(("sym", sym, off, dso), dso, 0, [(sym, filename, 0)]))
        sample = msg.sample.add(location_id=ids, value=[1, smp.period or period_ns])
        sample.label.add(key=t_ms, num=round((smp.t_mono - mono_t0) * 1000), num_unit=ms)
        sample.label.add(key=tid_key, num=smp.tid)
        for key, text in smp.labels.items():
            sample.label.add(key=b.s(key), str=b.s(text))
        for key, num in smp.nums.items():
            sample.label.add(key=b.s(key), num=num)
    if window is not None:
        msg.time_nanos = int((wall_t0 + window[0] - mono_t0) * 1e9)
        msg.duration_nanos = int(max(0.0, window[1] - window[0]) * 1e9)
    elif samples:
        first, last = samples[0].t_mono, samples[-1].t_mono
        msg.time_nanos = int((wall_t0 + first - mono_t0) * 1e9)
        msg.duration_nanos = int(max(0.0, last - first) * 1e9) + period_ns
    return msg


def go_resolver(sym_: Symbolizer, samples: list[PerfSample], exe_dso: str):
    """A resolve() for to_profile backed by one symbolizer run over every address in `samples`."""
    wanted: dict[tuple[str, int | None, bool], int] = {}
    for smp in samples:
        for depth, (sym, off, dso) in enumerate(smp.frames):
            if dso != exe_dso:
                continue
            addr = sym_.address(sym, off)
            if addr is not None:
                wanted[(sym, off, depth == 0)] = addr if depth == 0 else addr - 1
    found = sym_.frames(sorted(set(wanted.values())))

    def resolve(sym, off, dso, is_leaf):
        if dso != exe_dso:
            return None
        addr = wanted.get((sym, off, is_leaf))
        hit = found.get(addr) if addr is not None else None
        return (addr, hit) if hit else None
    return resolve


class PerfRecording:
    """One `perf record` process for one service and window."""

    def __init__(self, pid: int, out: Path, frequency: int, clock, events: list[str] | None = None):
        self.pid = pid
        self.events = events or ["-e", "cpu-clock", "-F", str(frequency)]     # perf record's event options
        self.out = out
        self.frequency = frequency
        self.clock = clock
        self.start_s: float | None = None
        self.end_s: float | None = None
        self.exe = ""
        self._proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.exe = _exe_path(self.pid)
        cmd = ["perf", "record", *self.events, "-g", "-k", "mono", "--no-buildid-cache", "-p", str(self.pid),
               "-o", str(self.out)]
        self._log = open(self.out.with_suffix(".log"), "w")  # noqa: SIM115 - closed in stop()
        # perf record runs for the whole window: it is stopped with SIGINT by stop(), so it
        # cannot go through proc.run (which waits); stop() bounds every wait.
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT)
        self.start_s = self.clock.now()

    def interrupt(self) -> None:
        """End the window: SIGINT makes perf stop sampling and write its file."""
        if self._proc is not None and self.end_s is None:
            self.end_s = self.clock.now()
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGINT)

    def stop(self, timeout: float = 15.0) -> None:
        """End the window and wait for perf; raises HarnessError when perf failed or wrote nothing."""
        p = self._proc
        if p is None:
            return
        self.interrupt()
        self._proc = None
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
        self._log.close()
        if not self.out.exists() or self.out.stat().st_size == 0:
            log = self.out.with_suffix(".log").read_text()[-500:].strip()
            raise HarnessError("perf record wrote no data", where=f"pid {self.pid}",
                               seen=f"exit code {p.returncode}; {log}",
                               hint="perf needs root (or kernel.perf_event_paranoid <= 0) and the "
                                    "process must be alive")


def _exe_path(pid: int) -> str:
    """The binary's path as perf names its dso (the path inside the container)."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def convert(data: Path, out: Path, *, pid: int, exe: str, clock, frequency: int,
            go: str = "go", timeout: float = 120.0, window: tuple[float, float] | None = None,
            join=None) -> dict:
    """perf.data -> pprof at `out`; returns {samples, first_s, last_s, symbolized, outside_window,
    inlines (EXPANDED or NOT_EXPANDED) and inlines_reason (why not), on_goroutines (with `join`)}.

    With `window` (run clock), samples outside it are left out: perf keeps sampling for a
    moment after SIGINT when the machine is busy, and those samples belong to the next phase.
    `join(samples) -> int` labels samples with their goroutines (harness/capture/goroutines.py).
    """
    res = proc.run(["perf", "script", "-i", str(data), "-F", "comm,pid,tid,time,period,ip,sym,symoff,dso",
                    "--ns"], timeout=timeout, what="perf script could not read the recording")
    parsed = parse_script(res.stdout)
    samples = parsed
    if window is not None:
        lo, hi = clock.mono_t0 + window[0], clock.mono_t0 + window[1]
        samples = [s for s in parsed if lo <= s.t_mono <= hi]
    info = {"samples": len(samples), "outside_window": len(parsed) - len(samples),
            "first_s": clock.at(samples[0].t_mono) if samples else None,
            "last_s": clock.at(samples[-1].t_mono) if samples else None}
    info.update(write_profile(samples, out, pid=pid, exe=exe, clock=clock, go=go, join=join,
                              period_ns=int(1e9 / frequency)))
    return info


def write_profile(samples: list[PerfSample], out: Path, *, pid: int, exe: str, clock, go: str, join=None,
                  **kinds) -> dict:
    """Join `samples` to goroutines (`join`), symbolize their Go frames from the live process's
    binary, write them as a gzipped pprof profile at `out` (`kinds`: to_profile's period_ns,
    count_type, value_type, window); returns {symbolized, inlines, inlines_reason, on_goroutines}."""
    joined = join(samples) if join is not None else None
    resolve, symbolized, sym_ = None, False, None
    binary = f"/proc/{pid}/exe"
    if exe and os.path.exists(binary):
        sym_ = Symbolizer(binary, go=go)
        try:
            sym_.load_symbols()
            resolve = go_resolver(sym_, samples, exe)
            symbolized = True
        except HarnessError:
            resolve = None      # symbol names without lines are still a profile
    msg = to_profile(samples, mono_t0=clock.mono_t0, wall_t0=clock.wall_t0, resolve=resolve, main_dso=exe,
                     **{"period_ns": 1, **kinds})
    out.write_bytes(gzip.compress(msg.SerializeToString()))
    info: dict = {"symbolized": symbolized}
    if joined is not None:
        info["on_goroutines"] = joined
    if symbolized and sym_.mode is not None:
        info["inlines"] = sym_.mode
        if sym_.mode == NOT_EXPANDED:
            info["inlines_reason"] = sym_.why
    return info


def wait_started(rec: PerfRecording, timeout: float = 2.0) -> None:
    """Wait until perf has created its output file (it is attached), bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not rec.out.exists():
        time.sleep(0.02)
