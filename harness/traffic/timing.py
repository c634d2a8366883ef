"""A traffic file's requests on the replay's clock: each request's send time is the log's own,
measured from the replayed window's start and divided by `speed`.

The steps, all streaming (memory bounded by one second's lines and the reorder horizon):
1. spread: lines stamped to the whole second (a combined log's $time_local) are spread evenly
   within it, in file order (line i of n at +i/n s); how many were is counted and said.
2. start: a stamp that is the request's end (nginx logs when a request finished; a duration is
   then known) becomes its start by taking the duration off.
3. order: a bounded reorder buffer (REORDER_S of log time) puts starts in order; a line older
   than what was already sent is counted as out of order and skipped, never sent late.
4. window: [start, end) seconds after the log's first request; reading stops past its end.
5. speed, max_rate (arrivals past it in a second of replay are skipped and counted) and loop (the
   window again, one mean gap after its last request, until the load window ends).
"""
from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from harness.traffic.formats import Entry, Source

REORDER_S = 10.0


@dataclass
class Counts:
    """What happened to the lines of one pass over the file (and the passes made)."""
    spread: int = 0              # whole-second stamps spread within their second (two or more in it)
    out_of_order: int = 0        # older than the reorder horizon: skipped
    outside_window: int = 0
    over_max_rate: int = 0
    arrivals: int = 0            # arrivals handed out (all workers together, the load window aside)
    passes: int = 0
    log_span_s: float = 0.0      # the first to the last request of the window, on the log's clock
    first_ts: float | None = None

    def to_json(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in vars(self).items()}


def spread(entries: Iterable[Entry], counts: Counts) -> Iterator[Entry]:
    group: list[Entry] = []
    for e in entries:
        if e.whole_second and group and e.t == group[0].t:
            group.append(e)
            continue
        yield from _spread_group(group, counts)
        group = [e] if e.whole_second else []
        if not e.whole_second:
            yield e
    yield from _spread_group(group, counts)


def _spread_group(group: list[Entry], counts: Counts) -> Iterator[Entry]:
    n = len(group)
    if n > 1:                      # a lone line keeps its stamp: nothing was spread
        counts.spread += n
    for i, e in enumerate(group):
        e.t += i / n
        yield e


def in_order(entries: Iterable[Entry], counts: Counts, horizon: float = REORDER_S) -> Iterator[Entry]:
    """Entries by start time, through a buffer of `horizon` seconds of log time."""
    heap: list[tuple[float, int, Entry]] = []
    newest, last_out = -math.inf, -math.inf
    for seq, e in enumerate(entries):
        s = e.start
        if s < last_out:
            counts.out_of_order += 1
            continue
        heapq.heappush(heap, (s, seq, e))
        newest = max(newest, s)
        while heap and heap[0][0] <= newest - horizon:
            last_out = heap[0][0]
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


@dataclass(frozen=True)
class Window:
    start_s: float = 0.0
    end_s: float | None = None
    speed: float = 1.0
    max_rate: float | None = None
    loop: bool = False


@dataclass
class Timeline:
    """(replay seconds, entry) for a source, window and speed; `counts` says what was skipped."""
    source: Source
    window: Window = field(default_factory=Window)
    horizon: float = REORDER_S
    counts: Counts = field(default_factory=Counts)

    def one_pass(self) -> Iterator[tuple[float, Entry]]:
        """Log offsets (seconds after the window's start, before speed) of one pass."""
        w, c = self.window, self.counts
        origin = None
        for e in in_order(spread(self.source, c), c, self.horizon):
            s = e.start
            if origin is None:
                origin = s
                c.first_ts = c.first_ts if c.first_ts is not None else s
            off = s - origin - w.start_s
            if off < 0:
                c.outside_window += 1
                continue
            if w.end_s is not None and off >= w.end_s - w.start_s:
                c.outside_window += 1
                break
            yield off, e

    def __iter__(self) -> Iterator[tuple[float, Entry]]:
        """Replay times (seconds from the replay's start, after speed, loops and max_rate)."""
        w, c = self.window, self.counts
        base, second, in_second = 0.0, None, 0
        for p in itertools.count():
            last, n = 0.0, 0
            c.passes = p + 1
            for off, e in self.one_pass():
                last, n = off, n + 1
                t = base + off / w.speed
                if w.max_rate is not None:
                    k = math.floor(t)
                    in_second = in_second + 1 if k == second else 1
                    second = k
                    if in_second > w.max_rate:
                        c.over_max_rate += 1
                        continue
                c.arrivals += 1
                if p == 0:
                    c.log_span_s = off
                yield t, e
            if not w.loop or n == 0:
                return
            span = (w.end_s - w.start_s) if w.end_s is not None else last + last / max(n - 1, 1)
            base += span / w.speed


def for_worker(arrivals: Iterable[tuple[float, Entry]], index: int, workers: int):
    """Worker `index` of `workers` sends arrivals index, index + workers, ..."""
    return itertools.islice(arrivals, index, None, workers)
