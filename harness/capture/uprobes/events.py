"""`perf script` output of the entry/RET probes -> events -> calls -> a latency histogram.

Input lines (`perf script -F comm,tid,time,event,trace --ns`; the comm may hold spaces):

    upx  3045 13135.694774123: hxlat:f0_in: (49a0a0) g=0x12f11e22a1e0 hi=20826802393088 sp=0x12f1...

Matching: a frame's depth is hi - sp, the bytes from the top of the goroutine's stack. At the
entry SP points at the return address; after each RET's frame teardown it does again, so a
call's entry and exit have the same (g, depth) on whichever OS thread. Per (function, g) a stack
of open entries:
  - an entry at the innermost open entry's depth with nothing in between is the re-entry after
    runtime.morestack (the stack was copied: hi and sp moved, hi - sp did not): one call, the
    first timestamp;
  - an entry deeper than the innermost is a nested (recursive) call: pushed; a shallower or
    equal one means the open entries at or below it were abandoned (a recovered panic, a reused
    g): they are "unfinished";
  - an exit closes the entry at its depth, deeper open entries are "unfinished" (a panic unwound
    them); an exit with no entry at its depth (probed mid-call) is "unmatched";
  - entries still open at the end are "unfinished".
Events are taken in the order perf script prints them (time order).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from harness.errors import HarnessError

DEFAULT_GROUP = "hxlat"
LOWEST_NS, HIGHEST_NS, DIGITS = 1, 600 * 10**9, 3          # 1 ns .. 10 minutes, 3 significant digits
LINE_RE = re.compile(r"^\s*(?P<comm>.*?)\s+(?:\d+/)?(?P<tid>\d+)\s+(?P<s>\d+)\.(?P<frac>\d+):\s+"
                     r"(?P<group>\w+):(?P<event>\w+):\s+\([0-9a-fA-F]+\)\s*(?P<trace>.*)$")
EVENT_RE = re.compile(r"^f(?P<fn>\d+)_(?:in|r(?P<site>\d+))$")
FIELD_RE = re.compile(r"(\w+)=(\S+)")


@dataclass(frozen=True)
class ProbeEvent:
    """One probe hit: when (ns on perf's clock), where, which function, entry or RET, g, depth."""

    t_ns: int
    tid: int
    function: int          # the index i of f<i>
    kind: str              # "in" or "ret"
    g: int
    depth: int             # hi - sp: bytes from the top of the goroutine's stack
    site: int = 0          # k of f<i>_r<k>; 0 for the entry

    @property
    def t(self) -> float:
        """Seconds on perf's clock."""
        return self.t_ns / 1e9


@dataclass
class ParseTally:
    """What parse_script saw: lines that were our events, other events, and malformed lines."""

    events: int = 0
    skipped: int = 0
    malformed: int = 0
    examples: list[str] = field(default_factory=list)     # the first few malformed lines

    def bad(self, line: str) -> None:
        self.malformed += 1
        if len(self.examples) < 3:
            self.examples.append(line.strip()[:200])


def parse_script(text: str | Iterable[str], group: str = DEFAULT_GROUP, *,
                 tally: ParseTally | None = None) -> Iterator[ProbeEvent]:
    """The events of `group` in perf script text, in order; other events are skipped, lines
    that are no event (or our event without g/hi/sp) are counted in `tally` as malformed."""
    tally = tally if tally is not None else ParseTally()
    for line in text.splitlines() if isinstance(text, str) else text:
        if not line.strip():
            continue
        m = LINE_RE.match(line)
        if m is None:
            tally.bad(line)
            continue
        if m["group"] != group:
            tally.skipped += 1
            continue
        ev = _event(m)
        if ev is None:
            tally.bad(line)
            continue
        tally.events += 1
        yield ev


def _event(m: re.Match) -> ProbeEvent | None:
    """The event of a line of our group, or None when its name or fields are not ours."""
    name = EVENT_RE.match(m["event"])
    fields = dict(FIELD_RE.findall(m["trace"]))
    try:
        g, hi, sp = (int(fields[k], 0) for k in ("g", "hi", "sp"))
    except (KeyError, ValueError):
        return None
    if name is None:
        return None
    t_ns = int(m["s"]) * 10**9 + int(m["frac"][:9].ljust(9, "0"))
    site = int(name["site"]) if name["site"] else 0
    return ProbeEvent(t_ns, int(m["tid"]), int(name["fn"]), "ret" if site else "in", g, hi - sp, site)


def new_histogram() -> HdrHistogram:
    """An empty latency histogram in ns: 1 ns .. 10 minutes, 3 significant digits."""
    return HdrHistogram(LOWEST_NS, HIGHEST_NS, DIGITS)


@dataclass
class FunctionCalls:
    """The matched calls of one probed function."""

    function: int
    durations: HdrHistogram = field(default_factory=new_histogram)   # ns
    calls: int = 0
    unfinished: int = 0          # entries never closed (panics, still running at the end)
    unmatched: int = 0           # exits with no entry (the call began before the probes)
    reentries: int = 0           # entries again after runtime.morestack, folded into their call
    max_nesting: int = 0         # most calls open at once on one goroutine (recursion)
    first_call: float | None = None     # start of the first matched call, s on perf's clock
    last_call: float | None = None      # end of the last matched call
    total_ns: int = 0
    min_ns: int | None = None
    max_ns: int | None = None
    raw: list[tuple[float, int, int]] | None = None     # (start s, duration ns, g) in the window

    def record(self, start_ns: int, end_ns: int, g: int, window: tuple[float, float] | None) -> None:
        """One completed call."""
        d = end_ns - start_ns
        self.calls += 1
        self.total_ns += d
        self.min_ns = d if self.min_ns is None else min(self.min_ns, d)
        self.max_ns = d if self.max_ns is None else max(self.max_ns, d)
        self.durations.record_value(min(max(d, LOWEST_NS), HIGHEST_NS))
        start = start_ns / 1e9
        if self.first_call is None or start < self.first_call:
            self.first_call = start
        if self.last_call is None or end_ns / 1e9 > self.last_call:
            self.last_call = end_ns / 1e9
        if window is not None and window[0] <= start < window[1]:
            if self.raw is None:
                self.raw = []
            self.raw.append((start, d, g))


@dataclass
class _Open:
    """An entry not yet closed; `quiet` while nothing else of its (function, g) came after it."""

    t_ns: int
    depth: int
    quiet: bool = True


def match(events: Iterable[ProbeEvent], n_functions: int, *,
          raw: tuple[float, float] | None = None,
          sink: Callable[[int, int, int, int], None] | None = None) -> list[FunctionCalls]:
    """Calls per function (index 0 .. n_functions-1) from time-ordered events; with `raw`
    = (t0, t1) in seconds the calls starting in [t0, t1) are also kept one by one; `sink`
    (function, start ns, end ns, g) sees every completed call as it is matched (the caller
    splits them by phase without keeping them)."""
    out = [FunctionCalls(i, raw=[] if raw is not None else None) for i in range(n_functions)]
    stacks: dict[tuple[int, int], list[_Open]] = {}
    for ev in events:
        if not 0 <= ev.function < n_functions:
            raise HarnessError(f"a probe event names function f{ev.function}, but {n_functions} "
                               "functions were probed", seen=f"{ev}",
                               hint="probes of an earlier run are still placed: perf probe -d 'GROUP:*'")
        stack = stacks.setdefault((ev.function, ev.g), [])
        if ev.kind == "in":
            _enter(out[ev.function], stack, ev)
        else:
            _exit(out[ev.function], stack, ev, raw, sink)
    for (fn, _g), stack in stacks.items():
        out[fn].unfinished += len(stack)
    return out


def _enter(calls: FunctionCalls, stack: list[_Open], ev: ProbeEvent) -> None:
    """An entry: the morestack re-entry of the innermost call, or a new (maybe nested) call."""
    if stack and stack[-1].depth == ev.depth and stack[-1].quiet:
        calls.reentries += 1
        return
    while stack and stack[-1].depth >= ev.depth:
        stack.pop()                 # abandoned: this goroutine is back at or above their frames
        calls.unfinished += 1
    if stack:
        stack[-1].quiet = False
    stack.append(_Open(ev.t_ns, ev.depth))
    calls.max_nesting = max(calls.max_nesting, len(stack))


def _exit(calls: FunctionCalls, stack: list[_Open], ev: ProbeEvent,
          raw: tuple[float, float] | None, sink=None) -> None:
    """An exit: closes the open entry at its depth, deeper ones are unfinished."""
    at = next((i for i in range(len(stack) - 1, -1, -1) if stack[i].depth == ev.depth), None)
    if at is None:
        calls.unmatched += 1
        return
    calls.unfinished += len(stack) - at - 1
    opened = stack[at]
    del stack[at:]
    if stack:
        stack[-1].quiet = False
    calls.record(opened.t_ns, ev.t_ns, ev.g, raw)
    if sink is not None:
        sink(calls.function, opened.t_ns, ev.t_ns, ev.g)


def summarize(calls: FunctionCalls, seconds: float) -> dict:
    """The report's numbers for one function over a window of `seconds`: counts, rate,
    latency in ms (4 significant digits; None without calls) and the encoded histogram."""
    h = calls.durations
    latency = None
    if calls.calls:
        latency = {"min": _ms(calls.min_ns), "mean": _ms(calls.total_ns / calls.calls),
                   "p50": _ms(h.get_value_at_percentile(50)), "p90": _ms(h.get_value_at_percentile(90)),
                   "p99": _ms(h.get_value_at_percentile(99)),
                   "p999": _ms(h.get_value_at_percentile(99.9)), "max": _ms(calls.max_ns)}
    return {"calls": calls.calls,
            "calls_per_s": float(f"{calls.calls / seconds:.4g}") if seconds > 0 else None,
            "unfinished": calls.unfinished, "unmatched": calls.unmatched, "reentries": calls.reentries,
            "latency_ms": latency, "histogram": h.encode().decode()}


def _ms(ns: float) -> float:
    """ns as ms, 4 significant digits."""
    return float(f"{ns / 1e6:.4g}")
