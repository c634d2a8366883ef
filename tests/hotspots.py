"""Assertions on planted hot spots that hold on any x86-64 machine.

Which instruction of a tight loop collects a CPU sample (the loop header or the body) depends
on the CPU, the Go version and the sampling skid, so no test names the line of a loop. The
fixtures plant each hot spot as one call into code that is not the service's own (the
standard library): own-code attribution charges everything below the call to the calling
line, whichever instruction was sampled. The tests then assert properties with margins:
enough samples, the marked line on top of the own lines *and* holding a stated share, perf
and pprof agreeing on the hot function and on the marked line among its top lines.
docs/DESIGN.md ("Tests that hold anywhere") says the same for whoever writes the next fixture.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rundir.pprof import line_costs, load_profile


@dataclass(frozen=True)
class OwnLine:
    file: str           # base name, e.g. main.go
    line: int
    function: str
    value: int
    share: float        # of the profile's total for the sample type


@dataclass(frozen=True)
class OwnLines:
    """The own lines of one profile, hottest first, with the sample count behind them."""
    lines: list[OwnLine]
    samples: int        # sum of the profile's first sample type (samples/count for CPU and perf)
    total: int

    def top_function(self) -> str:
        by_func: dict[str, int] = defaultdict(int)
        for ln in self.lines:
            by_func[ln.function] += ln.value
        return max(by_func, key=by_func.get)

    def top_lines_of(self, function: str, n: int) -> list[int]:
        return [ln.line for ln in self.lines if ln.function == function][:n]

    def table(self, n: int = 6) -> str:
        rows = [f"{ln.file}:{ln.line} {ln.function} {ln.share:.1%}" for ln in self.lines[:n]]
        return f"{self.samples} samples; top own lines: " + ", ".join(rows)


def own_lines(path: Path, sample_type: str, is_own: Callable[[str], bool]) -> OwnLines:
    prof = load_profile(path)
    index = prof.index_of(sample_type)
    total = prof.total(index)
    costs = [c for c in line_costs(prof, index, is_own=is_own).values() if c.own > 0]
    costs.sort(key=lambda c: -c.own)
    lines = [OwnLine(c.filename.rsplit("/", 1)[-1], c.line, c.function, c.own, c.own / total if total else 0.0)
             for c in costs]
    return OwnLines(lines, prof.total(0), total)


def assert_hot_line(got: OwnLines, file: str, line: int, *, min_share: float, min_samples: int = 0) -> None:
    """The marked line is the top own line and holds at least `min_share` of the profile."""
    assert got.samples >= min_samples, f"too few samples for a verdict: {got.table()}"
    assert got.lines, f"no own line has a cost: {got.table()}"
    top = got.lines[0]
    assert (top.file, top.line) == (file, line), f"{file}:{line} is not the top own line: {got.table()}"
    assert top.share >= min_share, f"{file}:{line} holds {top.share:.1%} < {min_share:.0%}: {got.table()}"


def assert_agree(a: OwnLines, b: OwnLines, line: int) -> None:
    """Two profiles of the same window (perf and pprof) name the same hot function, and the
    marked line is among the top two lines of that function in both."""
    fa, fb = a.top_function(), b.top_function()
    assert fa == fb, f"hot functions differ: {fa} ({a.table()}) vs {fb} ({b.table()})"
    for got in (a, b):
        assert line in got.top_lines_of(fa, 2), f"line {line} not in the top 2 lines of {fa}: {got.table()}"
