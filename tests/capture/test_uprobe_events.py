"""Entry/RET probe events from perf script text matched into calls: goroutines, threads,
recursion, morestack re-entries, several RETs, stray exits, open entries, the histogram."""
from __future__ import annotations

import pytest
from hdrh.histogram import HdrHistogram

from harness.capture.uprobes.events import ParseTally, match, parse_script, summarize
from harness.errors import HarnessError

MS = 1_000_000
T0 = 13135 * 10**9                      # perf's clock: seconds since boot, in ns
HI = 0x12F11E300000                     # a goroutine's stack top
G1, G2 = 0x12F11E22A1E0, 0x12F11E22A3C0


def line(t_ns: int, event: str, g: int = G1, depth: int = 0x1000, *, hi: int = HI, tid: int = 3045,
         comm: str = "upx", group: str = "hxlat") -> str:
    """One perf script line as `-F comm,tid,time,event,trace --ns` prints it."""
    t = T0 + t_ns
    return (f"{comm:>16} {tid:>5} {t // 10**9}.{t % 10**9:09d}: {group}:{event}: (49a0a0) "
            f"g={g:#x} hi={hi} sp={hi - depth:#x}")


def calls_of(lines: list[str], n: int = 1, **kw):
    return match(parse_script("\n".join(lines)), n, **kw)


def durations(fc) -> list[int]:
    assert fc.raw is not None
    return [d for _t, d, _g in fc.raw]


WINDOW = (0.0, 1e9)                     # every call, kept one by one


def test_plain_calls():
    fc, = calls_of([line(0, "f0_in"), line(1 * MS, "f0_r1"), line(5 * MS, "f0_in"), line(8 * MS, "f0_r1")],
                   raw=WINDOW)
    assert fc.calls == 2 and durations(fc) == [1 * MS, 3 * MS]
    assert (fc.unfinished, fc.unmatched, fc.reentries, fc.max_nesting) == (0, 0, 0, 1)
    assert fc.first_call == pytest.approx(T0 / 1e9) and fc.last_call == pytest.approx((T0 + 8 * MS) / 1e9)


def test_two_goroutines_on_one_thread_and_one_goroutine_on_two_threads():
    lines = [line(0, "f0_in", G1, tid=7), line(1 * MS, "f0_in", G2, tid=7),     # same thread, same depth
             line(4 * MS, "f0_r1", G1, tid=7), line(6 * MS, "f0_r1", G2, tid=7),
             line(10 * MS, "f0_in", G1, tid=7), line(12 * MS, "f0_r1", G1, tid=9)]  # moved threads
    fc, = calls_of(lines, raw=WINDOW)
    assert sorted((g, d) for _t, d, g in fc.raw) == [(G1, 2 * MS), (G1, 4 * MS), (G2, 5 * MS)]
    assert fc.unfinished == fc.unmatched == 0 and fc.max_nesting == 1


def test_recursion_nests_by_depth_and_closes_in_reverse():
    lines = [line(0, "f0_in", depth=0x100), line(1 * MS, "f0_in", depth=0x200),
             line(2 * MS, "f0_in", depth=0x300), line(3 * MS, "f0_r2", depth=0x300),
             line(5 * MS, "f0_r1", depth=0x200), line(9 * MS, "f0_r1", depth=0x100)]
    fc, = calls_of(lines, raw=WINDOW)
    assert durations(fc) == [1 * MS, 4 * MS, 9 * MS]        # innermost closes first
    assert fc.max_nesting == 3 and fc.unfinished == fc.unmatched == fc.reentries == 0


def test_morestack_reentry_is_one_call_from_the_first_entry():
    # the stack was copied: hi and sp both moved, hi - sp is the same
    lines = [line(0, "f0_in", depth=0x180, hi=HI), line(20_000, "f0_in", depth=0x180, hi=HI + 0x8000),
             line(2 * MS, "f0_r1", depth=0x180, hi=HI + 0x8000)]
    fc, = calls_of(lines, raw=WINDOW)
    assert fc.calls == 1 and durations(fc) == [2 * MS] and fc.reentries == 1 and fc.max_nesting == 1


def test_same_depth_after_a_nested_call_is_a_new_call_not_a_reentry():
    # the outer call at 0x100 made a nested call that returned, then a new call at 0x100 came:
    # the outer one was abandoned (a recovered panic), it is not a morestack re-entry
    lines = [line(0, "f0_in", depth=0x100), line(1 * MS, "f0_in", depth=0x200),
             line(2 * MS, "f0_r1", depth=0x200), line(3 * MS, "f0_in", depth=0x100),
             line(4 * MS, "f0_r1", depth=0x100)]
    fc, = calls_of(lines, raw=WINDOW)
    assert durations(fc) == [1 * MS, 1 * MS] and fc.unfinished == 1 and fc.reentries == 0


def test_every_return_probe_closes_a_call():
    lines = [line(0, "f0_in"), line(1 * MS, "f0_r1"), line(2 * MS, "f0_in"), line(5 * MS, "f0_r2"),
             line(6 * MS, "f1_in"), line(7 * MS, "f1_r3")]
    f0, f1 = calls_of(lines, 2, raw=WINDOW)
    assert durations(f0) == [1 * MS, 3 * MS] and durations(f1) == [1 * MS]


def test_an_exit_without_entry_is_unmatched_and_ignored():
    lines = [line(0, "f0_r1", depth=0x300), line(1 * MS, "f0_in"), line(2 * MS, "f0_r1", depth=0x999),
             line(3 * MS, "f0_r1")]
    fc, = calls_of(lines, raw=WINDOW)
    assert fc.unmatched == 2 and durations(fc) == [2 * MS] and fc.unfinished == 0


def test_entries_never_closed_or_unwound_are_unfinished():
    lines = [line(0, "f0_in", depth=0x100), line(1 * MS, "f0_in", depth=0x200),
             line(3 * MS, "f0_r1", depth=0x100),               # a panic unwound the inner call
             line(4 * MS, "f0_in", G2)]                        # still running at the end
    fc, = calls_of(lines, raw=WINDOW)
    assert durations(fc) == [3 * MS] and fc.unfinished == 2 and fc.unmatched == 0


def test_malformed_lines_are_counted_and_other_events_skipped():
    text = "\n".join([
        line(0, "f0_in", comm="my app 2"),                    # a comm with spaces and digits
        "",
        "garbage that is no event",
        line(1 * MS, "f0_in").rsplit(" sp=", 1)[0],           # our event without sp
        line(1 * MS, "whatever"),                             # our group, not our event name
        line(1 * MS, "f0_r1").replace("hi=", "hi=zz"),         # a field that is no number
        line(1 * MS, "f0_in", group="other"),                 # someone else's probe
        line(2 * MS, "f0_r1", comm="my app 2"),
    ])
    tally = ParseTally()
    events = list(parse_script(text, tally=tally))
    assert [(e.kind, e.site, e.tid, e.g, e.depth) for e in events] == [("in", 0, 3045, G1, 0x1000),
                                                                        ("ret", 1, 3045, G1, 0x1000)]
    assert events[1].t_ns - events[0].t_ns == 2 * MS and events[0].t == pytest.approx(T0 / 1e9)
    assert (tally.events, tally.skipped, tally.malformed) == (2, 1, 4)
    assert tally.examples[0] == "garbage that is no event"


def test_an_event_of_a_function_not_probed_is_an_error():
    with pytest.raises(HarnessError, match="f3"):
        calls_of([line(0, "f3_in")], 2)


def test_histogram_percentiles_and_summary():
    lines = []
    for i in range(1, 101):                                 # 1 ms .. 100 ms
        lines += [line(i * 1000 * MS, "f0_in"), line(i * 1000 * MS + i * MS, "f0_r1")]
    fc, = calls_of(lines, raw=(T0 / 1e9 + 10, T0 / 1e9 + 20))
    s = summarize(fc, 50.0)
    lat = s["latency_ms"]
    assert (lat["min"], lat["max"], lat["mean"]) == (1.0, 100.0, 50.5)
    for key, want in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 100)):
        assert lat[key] == pytest.approx(want, rel=1e-3), key
    assert s["calls"] == 100 and s["calls_per_s"] == 2.0
    assert (s["unfinished"], s["unmatched"], s["reentries"]) == (0, 0, 0)
    back = HdrHistogram.decode(s["histogram"])
    assert back.get_total_count() == 100
    assert back.get_value_at_percentile(50) == pytest.approx(50 * MS, rel=1e-3)
    assert [d for _t, d, _g in fc.raw] == [i * MS for i in range(10, 20)]   # starts in [t0, t1)


def test_summary_without_calls():
    fc, = calls_of([line(0, "f0_in")])
    s = summarize(fc, 10.0)
    assert s["calls"] == 0 and s["latency_ms"] is None and s["unfinished"] == 1 and s["calls_per_s"] == 0.0
    assert fc.raw is None
