"""Runtime state over time: goroutines, heap and GC of every service with pprof, on the run clock.

Nothing changes in the service: everything comes from the pages net/http/pprof serves.
- goroutines: the count column of the pprof index page (`<pprof_url>/`; runtime.NumGoroutine
  behind it). A page without a goroutine row falls back to the first line of
  `goroutine?debug=1` ("goroutine profile: total N").
- heap and GC: the `# runtime.MemStats` lines at the end of `heap?debug=1` (HeapInuse,
  HeapAlloc, NumGC, PauseNs, GCCPUFraction). The page has no PauseTotalNs: the total is summed
  from the ring of the last 256 pauses as NumGC advances (`add_pauses`).

One thread per service appends a line to runtime/<service>.jsonl every interval:

    {"t_s": 3.0, "phase": "fault", "goroutines": 312, "heap_inuse_bytes": 14286848,
     "heap_alloc_bytes": 13644888, "num_gc": 27, "gc_pause_total_ns": 4813000, "gc_cpu_fraction": 0.0013}

Per phase it keeps the goroutine profile taken at the phase's peak count, so a pile-up that
drains before the phase-end snapshot is still seen: whenever the count is at least
PEAK_GROWTH times and PEAK_MIN_MORE goroutines above the kept profile's count (before the first
one: above the lowest count of the phase, counting the last sample before the phase began, so
a pile-up a fault causes at once is seen), `goroutine` (protobuf) is fetched and written to
profiles/<phase>/<service>/goroutine-peak.pb.gz, replacing the previous one; at most one fetch
per PEAK_MIN_GAP_S per service. The phase end registers it (kind goroutine-peak).

A failed fetch is reported once per service (a capture-failed event); the sampler goes on.
Every request has a short timeout and stop() returns within a few seconds.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass

from harness.capture import pprof

FETCH_TIMEOUT_S = 1.0
PEAK_TIMEOUT_S = 2.0
PEAK_GROWTH = 1.10
PEAK_MIN_MORE = 20
PEAK_MIN_GAP_S = 2.0
PAUSE_RING = 256            # runtime.MemStats.PauseNs holds the last 256 pauses

_INDEX_ROW = re.compile(
    r"<td[^>]*>\s*(\d+)\s*(?:</td>)?\s*<td[^>]*>\s*<a\s[^>]*href=['\"]?goroutine(?:\?[^'\" >]*)?['\"]?[^>]*>"
    r"\s*goroutine\s*</a>", re.IGNORECASE)
_TOTAL_LINE = re.compile(r"^goroutine profile: total (\d+)", re.MULTILINE)
_MEMSTAT_LINE = re.compile(r"^#\s*([A-Za-z]\w*)\s*=\s*(.*?)\s*$", re.MULTILINE)
_MEMSTATS_MARK = "# runtime.MemStats"


# -- parsers (pure) ---------------------------------------------------------------------------

def goroutines_from_index(text: str) -> int | None:
    """The goroutine row's count on the pprof index page; None when the page has no such row."""
    m = _INDEX_ROW.search(text)
    return int(m.group(1)) if m else None


def goroutines_from_debug1(text: str) -> int | None:
    """N from the first line of goroutine?debug=1: "goroutine profile: total N"."""
    m = _TOTAL_LINE.search(text[:4096])
    return int(m.group(1)) if m else None


def memstats(text: str) -> dict[str, object]:
    """The `# Name = value` lines of heap?debug=1 (the runtime.MemStats block at the end): ints,
    floats, lists of ints (`[1 2 3]`), other values as strings."""
    at = text.rfind(_MEMSTATS_MARK)
    out: dict[str, object] = {}
    for name, raw in _MEMSTAT_LINE.findall(text[at:] if at >= 0 else text):
        out[name] = _value(raw)
    return out


def _value(raw: str) -> object:
    if raw.startswith("[") and raw.endswith("]"):
        try:
            return [int(x) for x in raw[1:-1].split()]
        except ValueError:
            return raw
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def add_pauses(total: int | None, last_gc: int | None, num_gc: int, pauses: list[int]) -> int:
    """The running sum of GC pause times once the collector has finished `num_gc` cycles.

    PauseNs[(n - 1) % 256] is the pause of cycle n. The first reading (or one after a restart,
    when NumGC went down) sums the cycles still in the ring: exact while NumGC <= 256. Later
    readings add the cycles since `last_gc`; cycles that left the ring between two readings
    (more than 256 collections in one interval) count with the ring's mean."""
    ring = len(pauses) or PAUSE_RING
    if total is None or last_gc is None or num_gc < last_gc:
        total, new = 0, num_gc
    else:
        new = num_gc - last_gc
    known = min(new, ring)
    added = sum(pauses[(n - 1) % ring] for n in range(num_gc - known + 1, num_gc + 1)) if pauses else 0
    if new > known:
        added += (new - known) * sum(pauses) // ring
    return total + added


def wants_peak(count: int, low: int, kept: int | None) -> bool:
    """Whether `count` goroutines is a new peak worth a profile: PEAK_GROWTH times and PEAK_MIN_MORE
    above the kept profile's count, or above the phase's lowest count before the first profile."""
    ref = kept if kept is not None else low
    return count >= ref * PEAK_GROWTH and count >= ref + PEAK_MIN_MORE


def goroutine_total(msg) -> int:
    """Goroutines in a goroutine profile (the sum of its counts)."""
    return sum(s.value[0] for s in msg.sample if s.value)


# -- sampler ------------------------------------------------------------------------------------

@dataclass
class Peak:
    """A phase's peak state for one service; `count` is None until a profile is kept."""
    low: int | None = None
    count: int | None = None
    t_s: float | None = None
    sent_s: float | None = None
    done_s: float | None = None
    sample_types: list[str] | None = None
    fetched_mono: float = float("-inf")


class RuntimeSampler:
    """One thread per service; the capture manager tells it the phase (phase_start/phase_end)."""

    def __init__(self, rc, names: list[str], interval: float):
        self.rc = rc
        self.interval = interval
        self.phase: str | None = None
        self._stop = threading.Event()
        self._workers = [_Worker(self, name) for name in names]

    def start(self) -> None:
        (self.rc.run_dir / "runtime").mkdir(parents=True, exist_ok=True)
        for w in self._workers:
            w.start()

    def phase_start(self, name: str, peaks: bool = True) -> None:
        if peaks:
            for w in self._workers:
                w.open_phase(name)
        self.phase = name

    def phase_end(self, name: str) -> None:
        if self.phase == name:
            self.phase = None
        for w in self._workers:
            w.close_phase(name)

    def stop(self) -> None:
        """Idempotent: stops the threads (a request in flight ends within its timeout), registers
        the peaks of phases that did not end and one runtime artifact per service with samples."""
        if self._stop.is_set():
            return
        self._stop.set()
        deadline = time.monotonic() + FETCH_TIMEOUT_S * 2 + PEAK_TIMEOUT_S
        for w in self._workers:
            w.join(max(0.1, deadline - time.monotonic()))
        for w in self._workers:
            w.finish()


class _Worker:
    """The sampler of one service: its thread, its file, its peaks and its failure note."""

    def __init__(self, owner: RuntimeSampler, name: str):
        self.owner = owner
        self.rc = owner.rc
        self.name = name
        self.path = self.rc.run_dir / "runtime" / f"{name}.jsonl"
        self.rows = 0
        self.failures = 0
        self.cost_s = 0.0
        self.ticks = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()          # guards _peaks; held while a peak is fetched
        self._peaks: dict[str, Peak] = {}
        self._pause: tuple[int | None, int | None] = (None, None)
        self._last_count: int | None = None     # the newest goroutine count, in or between phases
        self._index_has_row = True
        self._reported: set[str] = set()

    # -- thread ----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"runtime-{self.name}", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        stop, interval = self.owner._stop, self.owner.interval
        next_t = time.monotonic()
        with open(self.path, "a") as out:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    row = self.tick()
                    if row is not None:
                        out.write(json.dumps(row) + "\n")
                        out.flush()
                        self.rows += 1
                except (OSError, ValueError) as e:        # a full disk, a malformed page: go on
                    self._failed("runtime", self.owner.phase, f"{type(e).__name__}: {e}")
                self.cost_s += time.monotonic() - started
                self.ticks += 1
                next_t += interval
                if next_t < time.monotonic() - interval:      # fell behind (a slow service): no burst
                    next_t = time.monotonic()
                stop.wait(max(0.0, next_t - time.monotonic()))

    # -- one sample ------------------------------------------------------------------------
    def tick(self) -> dict | None:
        """Read the service's pages once; the JSON row, or None when nothing could be read."""
        svc = self.rc.services.get(self.name)
        if svc is None or not svc.pprof_url:
            return None
        base, phase, t = svc.pprof_url.rstrip("/"), self.owner.phase, self.rc.clock.now()
        goroutines, stats = self._read(base, self._goroutines, phase), self._read(base, self._memstats, phase)
        if goroutines is None and stats is None:
            return None
        row = {"t_s": round(t, 3), "phase": phase, "goroutines": goroutines, "heap_inuse_bytes": None,
               "heap_alloc_bytes": None, "num_gc": None, "gc_pause_total_ns": None, "gc_cpu_fraction": None}
        if stats:
            row.update(self._heap_fields(stats))
        if goroutines is not None and phase is not None:
            self._peak(base, phase, goroutines, t)
        if goroutines is not None:
            self._last_count = goroutines
        return row

    def _read(self, base: str, fn, phase: str | None):
        try:
            return fn(base)
        except pprof.FetchError as e:
            self._failed("runtime", phase, str(e))
            return None

    def _goroutines(self, base: str) -> int | None:
        if self._index_has_row:
            count = goroutines_from_index(pprof.http_get(f"{base}/", FETCH_TIMEOUT_S).decode(errors="replace"))
            if count is not None:
                return count
            self._index_has_row = False       # an index page without the row: use debug=1 from now on
        text = pprof.http_get(f"{base}/goroutine?debug=1", FETCH_TIMEOUT_S)[:4096].decode(errors="replace")
        count = goroutines_from_debug1(text)
        if count is None:
            raise pprof.FetchError(f"GET {base}/goroutine?debug=1: no 'goroutine profile: total N' line; "
                                   f"served {text[:60]!r}")
        return count

    def _memstats(self, base: str) -> dict:
        text = pprof.http_get(f"{base}/heap?debug=1", FETCH_TIMEOUT_S).decode(errors="replace")
        stats = memstats(text)
        if "HeapInuse" not in stats:
            raise pprof.FetchError(f"GET {base}/heap?debug=1: no '# runtime.MemStats' lines; "
                                   f"served {text[:60]!r}")
        return stats

    def _heap_fields(self, stats: dict) -> dict:
        num = lambda k: stats.get(k) if isinstance(stats.get(k), (int, float)) else None
        out = {"heap_inuse_bytes": num("HeapInuse"), "heap_alloc_bytes": num("HeapAlloc"),
               "num_gc": num("NumGC"), "gc_cpu_fraction": num("GCCPUFraction")}
        pauses = stats.get("PauseNs")
        if isinstance(out["num_gc"], int) and isinstance(pauses, list):
            total = add_pauses(self._pause[0], self._pause[1], out["num_gc"], pauses)
            self._pause = (total, out["num_gc"])
            out["gc_pause_total_ns"] = total
        return out

    # -- peaks -----------------------------------------------------------------------------
    def open_phase(self, phase: str) -> None:
        """A phase's peaks are measured from the count seen just before it started: a pile-up its
        fault causes at once (before the phase's first sample) is a peak too."""
        with self._lock:
            self._peaks[phase] = Peak(low=self._last_count)

    def _peak(self, base: str, phase: str, count: int, t: float) -> None:
        with self._lock:
            st = self._peaks.get(phase)
            if st is None:
                return
            if st.low is None:
                st.low = count
            due = time.monotonic() - st.fetched_mono >= PEAK_MIN_GAP_S
            if due and wants_peak(count, st.low, st.count):
                st.fetched_mono = time.monotonic()
                self._fetch_peak(base, phase, st, count, t)
            st.low = min(st.low, count)

    def _fetch_peak(self, base: str, phase: str, st: Peak, count: int, t: float) -> None:
        sent = self.rc.clock.now()
        try:
            data = pprof.http_get(pprof.profile_url(base, "goroutine"), PEAK_TIMEOUT_S)
            msg = pprof.parse(data)
        except pprof.FetchError as e:
            self._failed("goroutine-peak", phase, str(e))
            return
        path = self._peak_path(phase)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        st.count = goroutine_total(msg) or count
        st.t_s, st.sent_s, st.done_s = t, sent, self.rc.clock.now()
        st.sample_types = pprof.sample_types(msg)

    def _peak_path(self, phase: str):
        return self.rc.run_dir / "profiles" / phase / self.name / "goroutine-peak.pb.gz"

    def close_phase(self, phase: str) -> None:
        """Register the phase's peak profile (waits for a peak fetch in flight, within its timeout)."""
        got = self._lock.acquire(timeout=PEAK_TIMEOUT_S + 1)
        try:
            st = self._peaks.pop(phase, None)
        finally:
            if got:
                self._lock.release()
        if st is not None and st.count is not None:
            self.rc.artifacts.add("goroutine-peak", self._peak_path(phase), service=self.name, phase=phase,
                                  start_s=st.sent_s, end_s=st.done_s, sample_types=st.sample_types,
                                  window="snapshot", t_s=round(st.t_s, 3), goroutines=st.count)

    # -- end ---------------------------------------------------------------------------------
    def finish(self) -> None:
        for phase in list(self._peaks):
            self.close_phase(phase)
        if self.rows:
            self.rc.artifacts.add("runtime", self.path, service=self.name, samples=self.rows,
                                  failures=self.failures, interval_s=self.owner.interval,
                                  sample_ms=round(self.cost_s / max(1, self.ticks) * 1000, 3))

    def _failed(self, capture: str, phase: str | None, reason: str) -> None:
        """Count every failure; report the first one of each capture of this service."""
        self.failures += 1
        if capture in self._reported:
            return
        self._reported.add(capture)
        self.rc.events.add("capture-failed", f"{capture} of {self.name}: {reason} (reported once; the "
                           "sampler goes on and counts further failures in the runtime artifact)",
                           service=self.name, phase=phase, capture=capture)
