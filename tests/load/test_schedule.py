"""The open-model arrival schedule: times decided by the clock and the rate table only."""
from __future__ import annotations

import itertools

import pytest

from harness.load.schedule import ArrivalSchedule, Phase, PhaseTable, RateFunction
from harness.load.spec import LoadSpec, RateSegment


def schedule(rates, phases, *, ramp=None, index=0, workers=1):
    spec = LoadSpec(model="open", url="http://127.0.0.1", rates=tuple(rates), whole_ramp=ramp)
    table = PhaseTable([Phase(*p) for p in phases])
    return list(ArrivalSchedule(RateFunction(spec, table), index=index, workers=workers))


def test_constant_rate_is_evenly_spaced_inside_the_window():
    times = schedule([("default", RateSegment(100, 100))], [("main", 2.0, 4.0)])
    assert len(times) == 200
    assert times[0] == pytest.approx(2.0) and times[-1] < 4.0
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {0.01}


def test_workers_interleave_into_the_single_worker_schedule():
    rates, phases = [("default", RateSegment(300, 300))], [("main", 0.0, 1.0)]
    alone = schedule(rates, phases)
    together = sorted(t for i in range(3) for t in schedule(rates, phases, index=i, workers=3))
    assert len(together) == len(alone) == 300
    assert max(abs(a - b) for a, b in zip(alone, together)) < 1e-9


def test_step_between_phases_does_not_wait_a_whole_slow_interval():
    times = schedule([("slow", RateSegment(1, 1)), ("fast", RateSegment(100, 100))],
                     [("slow", 0.0, 2.5), ("fast", 2.5, 3.5)])
    slow = [t for t in times if t < 2.5]
    fast = [t for t in times if t >= 2.5]
    assert slow == pytest.approx([0.0, 1.0, 2.0], abs=1e-6)
    # half an interval was owed at 2.5 s: at the new rate that is 5 ms, not 500 ms
    assert fast[0] == pytest.approx(2.505)
    assert len(fast) == 100


def test_zero_rate_phase_sends_nothing_and_the_next_phase_starts_on_time():
    times = schedule([("idle", RateSegment(0, 0)), ("busy", RateSegment(10, 10))],
                     [("idle", 0.0, 5.0), ("busy", 5.0, 6.0)])
    assert times[0] == pytest.approx(5.0) and len(times) == 10


def test_ramp_sends_the_integral_of_the_rate():
    per_phase = schedule([("r", RateSegment(0, 200))], [("r", 0.0, 10.0)])
    # the integral of a 0 -> 200/s ramp over 10 s is 1000 arrivals, denser towards the end
    assert len(per_phase) == 1000
    assert sum(1 for t in per_phase if t < 5.0) == 250
    assert per_phase[100] == pytest.approx((2 * 100 / 20) ** 0.5, abs=1e-6)  # 10 t^2 = 100
    whole = schedule([], [("a", 0.0, 5.0), ("b", 5.0, 10.0)], ramp=RateSegment(100, 100))
    assert len(whole) == 1000


def test_phase_table_lookup():
    table = PhaseTable([Phase("b", 5, 10), Phase("a", 0, 5)])
    assert [table.name_at(t) for t in (-1, 0, 4.99, 5, 9.99, 10)] == [None, "a", "a", "b", "b", None]
    assert (table.start_s, table.end_s) == (0, 10)


def test_bad_worker_index():
    with pytest.raises(ValueError):
        schedule([("default", RateSegment(1, 1))], [("m", 0, 1)], index=2, workers=2)
