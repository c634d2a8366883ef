"""Durations and sizes: the units scenario files accept."""
import pytest

from harness.parse.node import parse_duration, parse_size


@pytest.mark.parametrize("text,seconds", [
    (30, 30.0), (1.5, 1.5), ("500ms", 0.5), ("30s", 30.0), ("2m", 120.0), ("1m30s", 90.0),
    ("1h", 3600.0), ("250us", 0.00025), ("1.5s", 1.5),
])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10 sec", "s", "-1s", "1x", True, None, [], "1s2"])
def test_bad_durations(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize("text,size", [
    (1024, 1024), ("512k", 512 << 10), ("256m", 256 << 20), ("256M", 256 << 20), ("256MiB", 256 << 20),
    ("256MB", 256 << 20), ("1g", 1 << 30), ("1.5g", int(1.5 * (1 << 30))), ("100", 100),
])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "64 megs", "m", "-5", "1i", True, 1.5])
def test_bad_sizes(text):
    assert parse_size(text) is None
