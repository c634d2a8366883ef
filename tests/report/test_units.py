"""harness/report/units.py: human units, edge values (0, negatives, None, NaN, huge)."""
from __future__ import annotations

import pytest

from harness.report import units as U


@pytest.mark.parametrize("ns,text", [
    (0, "0 s"), (1, "1 ns"), (999, "999 ns"), (999.6, "1 µs"), (1_500, "1.5 µs"), (12_345_678, "12.3 ms"),
    (999_960, "1 ms"), (1_000_000_000, "1 s"), (59_000_000_000, "59 s"), (90_000_000_000, "1.5 min"),
    (2_429_960_639_539, "40.5 min"), (3 * 3600 * 10**9, "3 h"), (10**18, "277,778 h"),
    (-1_500_000, "-1.5 ms"), (None, U.MISSING), (float("nan"), U.MISSING), ("x", U.MISSING),
])
def test_durations_from_nanoseconds(ns, text):
    assert U.duration_ns(ns) == text


def test_durations_from_milliseconds_and_seconds():
    assert U.duration_ms(0.25) == "250 µs" and U.duration_ms(5100) == "5.1 s" and U.duration_ms(11) == "11 ms"
    assert U.duration_ms(None) == U.MISSING and U.duration_s(0) == "0 s" and U.duration_s(-90) == "-1.5 min"
    assert U.duration_s(float("inf")) == "∞ s"


def test_three_significant_digits_round_up_into_the_next_decade():
    assert U.sig3(9.996) == "10" and U.sig3(99.96) == "100" and U.sig3(0.0012345) == "0.00123"
    assert U.sig3(123456) == "123,456" and U.sig3(-0.5) == "-0.5" and U.sig3(0) == "0"


@pytest.mark.parametrize("b,text", [
    (0, "0 B"), (512, "512 B"), (1023, "1023 B"), (1024, "1 KiB"), (1536, "1.5 KiB"), (140 << 20, "140 MiB"),
    (1 << 30, "1 GiB"), (3 << 29, "1.5 GiB"), (1 << 62, "4,096 PiB"), (-2048, "-2 KiB"), (None, U.MISSING),
])
def test_sizes(b, text):
    assert U.size(b) == text


@pytest.mark.parametrize("f,text", [
    (0, "0%"), (0.945, "94.5%"), (1, "100%"), (0.05, "5%"), (0.0005, "0.05%"), (1e-6, "<0.01%"),
    (-0.123, "-12.3%"), (2.5, "250%"), (None, U.MISSING),
])
def test_percentages(f, text):
    assert U.percent(f) == text


def test_counts_rates_points_factors():
    assert U.count(2_429_960_639_539) == "2,429,960,639,539" and U.count(0) == "0" and U.count(-3) == "-3"
    assert U.count(12.5) == "12.5" and U.count(None) == U.MISSING
    assert U.rate(198.4) == "198/s" and U.rate(12345.6) == "12,346/s" and U.rate(0) == "0/s"
    assert U.rate(None) == U.MISSING and U.rate(2.5, "req") == "2.5 req/s"
    assert U.points(0.262) == "+26.2 pts" and U.points(-0.49) == "-49 pts" and U.points(None) == U.MISSING
    assert U.factor(11, 5100) == "×464" and U.factor(0, 3) == "new" and U.factor(0, 0) == "×1"
    assert U.factor(None, 1) == U.MISSING and U.factor(100, 50) == "×0.5"
    assert U.pct(150.0) == "150%" and U.pct(None) == U.MISSING


def test_profile_values_by_the_profiles_unit():
    assert U.profile_value(2_429_960_639_539, "nanoseconds") == "40.5 min"
    assert U.profile_value(3 << 20, "bytes") == "3 MiB" and U.profile_value(300, "count") == "300"
    assert U.profile_value(5, "widgets") == "5 widgets" and U.profile_value(None, "bytes") == U.MISSING
    assert U.profile_rate(120e6, "nanoseconds") == "120 ms/s" and U.profile_rate(230, "count") == "230/s"
    assert U.profile_rate(None, "bytes") == U.MISSING and U.profile_value(2, "seconds") == "2 s"


def test_no_raw_nanosecond_total_survives():
    for v in (2_429_960_639_539, 10**15, 1):
        assert "nanoseconds" not in U.profile_value(v, "nanoseconds")
