"""Per-request bookkeeping in the worker: HdrHistograms per endpoint and phase and per second.

Pure logic (no gevent, no Locust), so it is tested directly. Times are seconds since t0.
- A request belongs to the phase of its intended send time (open model) or of its actual
  send time (closed model): "what happened to the requests issued during the fault".
- A request is counted in the second in which it completed (requests/s as every load tool
  reports it); sent/dropped/delayed are counted in the second the decision was made, and
  schedule lag in the second of the intended time.
- Completions are also counted per phase by the exact completion time (`completed`): a
  phase's throughput is its completions inside its own window, whatever second it starts in
  (phases start at fractional run-clock times; a per-second row straddles two phases).
"""
from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from dataclasses import dataclass, field

from harness.load import hist as H
from harness.load.schedule import PhaseTable

NO_PHASE = "(none)"
CPU_SATURATED = 0.90        # of one core: a worker is one gevent thread
LATE_SATURATED_MS = 50.0    # behind schedule (not because of the cap), or event loop this late
SENT, DROPPED, DELAYED, LAG = "sent", "dropped", "delayed", "lag"   # Second and PhaseCounts fields


def saturation_reasons(cpu: float, lag_ms: float, loop_late_ms: float) -> list[str]:
    """Why a second of load is the generator's limit rather than the service's (empty: it is not)."""
    reasons = []
    if cpu >= CPU_SATURATED:
        reasons.append(f"generator CPU {cpu:.0%} of a core")
    if lag_ms >= LATE_SATURATED_MS:
        reasons.append(f"{lag_ms:.0f} ms behind schedule")
    if loop_late_ms >= LATE_SATURATED_MS:
        reasons.append(f"event loop {loop_late_ms:.0f} ms late")
    return reasons


@dataclass
class Bucket:
    """Latencies and outcomes of one endpoint in one phase."""
    sig: int
    intended: object = None
    actual: object = None
    count: int = 0
    failures: int = 0
    errors: Counter = field(default_factory=Counter)

    def __post_init__(self):
        self.intended = H.new_hist(self.sig)
        self.actual = H.new_hist(self.sig)


@dataclass
class Second:
    """One second of completions (latency on the run's basis) and of scheduling."""
    sig: int
    hist: object = None
    count: int = 0
    failures: int = 0
    sent: int = 0
    dropped: int = 0
    delayed: int = 0
    lag_s: float = 0.0

    def __post_init__(self):
        self.hist = H.new_hist(self.sig)


@dataclass
class PhaseCounts:
    sent: int = 0
    dropped: int = 0
    delayed: int = 0


class RawLog:
    """load/requests.jsonl.gz: one line per request, written in batches."""

    def __init__(self, path: str):
        self._file = gzip.open(path, "wt", compresslevel=1)  # noqa: SIM115 - closed in close()
        self._pending: list[str] = []

    def add(self, name: str, method: str, intended: float, sent: float, end: float, status: int, ok: bool,
            error: str | None) -> None:
        self._pending.append(json.dumps({"name": name, "method": method, "intended_s": round(intended, 6),
                                         "sent_s": round(sent, 6), "end_s": round(end, 6),
                                         "status": status, "ok": ok, "error": error}))

    def flush(self) -> None:
        if self._pending:
            self._file.write("\n".join(self._pending) + "\n")
            self._pending.clear()

    def close(self) -> None:
        self.flush()
        self._file.close()


class Recorder:
    def __init__(self, phases: PhaseTable, *, basis: str, sig: int = 3, raw: RawLog | None = None):
        if basis not in ("intended", "actual"):
            raise ValueError("basis must be 'intended' or 'actual'")
        self.phases = phases
        self.basis = basis
        self.sig = sig
        self.raw = raw
        self.buckets: dict[tuple[str, str, str], Bucket] = {}
        self.seconds: dict[int, Second] = {}
        self.phase_counts: dict[str, PhaseCounts] = {}
        self.completed: Counter = Counter()      # (name, method, phase of the completion time) -> n
        self._done: list[tuple] = []             # completions not yet in the histograms
        self._notes: list[tuple] = []            # (kind, intended, at or lag) not yet counted

    # -- recording ---------------------------------------------------------------------------
    # The request path only appends a tuple; the histograms are filled in a batch when a
    # second is read (pop_second, final). On a lightly loaded worker every request wakes a
    # cold process, where three HdrHistogram records cost several times what they cost in
    # a batch.
    def record(self, name: str, method: str, intended: float, sent: float, end: float, *,
               ok: bool, status: int = 0, error: str | None = None) -> None:
        self._done.append((name, method, intended, sent, end, ok, status, error))

    def note_sent(self, intended: float, at: float) -> None:
        """An arrival intended at `intended` was sent at `at` (its phase is the intended one,
        its history second the one in which it was sent)."""
        self._notes.append((SENT, intended, at))

    def note_dropped(self, intended: float, at: float) -> None:
        self._notes.append((DROPPED, intended, at))

    def note_delayed(self, intended: float, at: float) -> None:
        """Sent late because every slot under the cap was busy at its intended time."""
        self._notes.append((DELAYED, intended, at))

    def note_lag(self, intended: float, lag_s: float) -> None:
        self._notes.append((LAG, intended, lag_s))

    def flush(self) -> None:
        """Put what was recorded since the last flush into the histograms and counts."""
        done, self._done = self._done, []
        for item in done:
            self._file(*item)
        notes, self._notes = self._notes, []
        for kind, intended, x in notes:
            if kind == LAG:
                sec = self._second(intended)
                sec.lag_s = max(sec.lag_s, x)
            else:
                setattr(self._second(x), kind, getattr(self._second(x), kind) + 1)
                pc = self._phase_counts(intended)
                setattr(pc, kind, getattr(pc, kind) + 1)

    def close(self) -> None:
        """Flush, then close the raw log (the counts stay readable)."""
        self.flush()
        if self.raw is not None:
            self.raw.close()

    def _file(self, name, method, intended, sent, end, ok, status, error) -> None:
        phase = self.phases.name_at(intended) or NO_PHASE
        key = (name, method, phase)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(self.sig)
        lat_i, lat_a = end - intended, end - sent
        H.record_s(bucket.intended, lat_i)
        H.record_s(bucket.actual, lat_a)
        bucket.count += 1
        self.completed[(name, method, self.phases.name_at(end) or NO_PHASE)] += 1
        sec = self._second(end)
        H.record_s(sec.hist, lat_i if self.basis == "intended" else lat_a)
        sec.count += 1
        if not ok:
            bucket.failures += 1
            bucket.errors[error or f"HTTP {status}"] += 1
            sec.failures += 1
        if self.raw is not None:
            self.raw.add(name, method, intended, sent, end, status, ok, error)

    def _second(self, t: float) -> Second:
        k = math.floor(t)
        sec = self.seconds.get(k)
        if sec is None:
            sec = self.seconds[k] = Second(self.sig)
        return sec

    def _phase_counts(self, t: float) -> PhaseCounts:
        name = self.phases.name_at(t) or NO_PHASE
        pc = self.phase_counts.get(name)
        if pc is None:
            pc = self.phase_counts[name] = PhaseCounts()
        return pc

    # -- reporting ---------------------------------------------------------------------------
    def pop_second(self, k: int) -> dict:
        """The wire record of second k (then forgotten); empty seconds give zero counts."""
        self.flush()
        sec = self.seconds.pop(k, None) or Second(self.sig)
        return {"type": "second", "t": k, "count": sec.count, "failures": sec.failures,
                "sent": sec.sent, "dropped": sec.dropped, "delayed": sec.delayed,
                "lag_ms": round(sec.lag_s * 1000.0, 3), "hist": H.encode(sec.hist)}

    def pending_seconds(self) -> list[int]:
        self.flush()
        return sorted(self.seconds)

    def final(self) -> dict:
        self.flush()
        buckets = [{"name": n, "method": m, "phase": p, "count": b.count, "failures": b.failures,
                    "errors": dict(b.errors), "intended": H.encode(b.intended),
                    "actual": H.encode(b.actual)}
                   for (n, m, p), b in sorted(self.buckets.items())]
        phases = {name: vars(pc).copy() for name, pc in self.phase_counts.items()}
        return {"type": "final", "buckets": buckets, "phase_counts": phases,
                "completed": [{"name": n, "method": m, "phase": p, "count": c}
                              for (n, m, p), c in sorted(self.completed.items())]}
