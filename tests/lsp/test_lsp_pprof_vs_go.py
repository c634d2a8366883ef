"""rundir.pprof's numbers equal `go tool pprof -top -lines` / `-top` on the same real profiles."""
from __future__ import annotations

import re
from collections import defaultdict

import pytest

from rundir.pprof import function_costs, line_costs, load_profile
from tests.hotspots import assert_hot_line, own_lines
from tests.lsp.lspfixtures import KINDS, go_binary, marker_line, run

ROW = re.compile(r"^\s*(-?\d+)([a-zA-Zµ]*)\s+[\d.]+%\s+[\d.]+%\s+(-?\d+)([a-zA-Zµ]*)\s+[\d.e+-]+%\s+(.+?)"
                 r"(?: \((?:partial-)?inline\))?$")   # pprof marks inlined frames
UNIT = {"nanoseconds": "ns", "bytes": "B", "count": ""}


def pprof_rows(path, index: int, unit: str, lines: bool) -> list[tuple[str, int, int]]:
    """(name, flat, cum) for every node `go tool pprof -top` prints, values in raw units."""
    cmd = [go_binary(), "tool", "pprof", "-top", "-nodefraction=0", "-nodecount=1000000",
           f"-sample_index={index}"]
    if UNIT.get(unit):
        cmd.append(f"-unit={UNIT[unit]}")
    if lines:
        cmd.append("-lines")
    out = run(cmd + [str(path)], timeout=120)
    rows, started = [], False
    for text in out.splitlines():
        if text.strip().startswith("flat"):
            started = True
            continue
        m = ROW.match(text) if started else None
        if m:
            rows.append((m.group(5), int(m.group(1)), int(m.group(3))))
    return rows


def cases(built):
    for phase_dir in (built.baseline, built.fault):
        for kind in KINDS:
            prof = load_profile(phase_dir / f"{kind}.pb.gz")
            for i in range(len(prof.sample_types)):
                yield phase_dir / f"{kind}.pb.gz", prof, i


def test_line_costs_equal_go_tool_pprof_top_lines(built):
    compared = 0
    for path, prof, index in cases(built):
        unit = prof.sample_types[index][1]
        by_line: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
        for name, flat, cum in pprof_rows(path, index, unit, lines=True):
            _func, _, where = name.rpartition(" ")
            filename, _, line = where.rpartition(":")
            by_line[(filename, int(line))].append((flat, cum))
        ours = line_costs(prof, index)
        assert set(ours) == set(by_line), \
            f"{path} [{index}]: only ours {set(ours) - set(by_line)}, only pprof's {set(by_line) - set(ours)}"
        for key, rows in by_line.items():
            assert ours[key].flat == sum(f for f, _c in rows), f"{path} [{index}] {key} flat"
            if len(rows) == 1:   # two functions on one line: pprof prints them apart
                assert ours[key].cum == rows[0][1], f"{path} [{index}] {key} cum"
            compared += 1
    assert compared > 100


def test_function_costs_equal_go_tool_pprof_top(built):
    compared = 0
    for path, prof, index in cases(built):
        unit = prof.sample_types[index][1]
        rows = pprof_rows(path, index, unit, lines=False)
        ours = function_costs(prof, index)
        theirs = {n for n, _f, _c in rows}
        assert theirs == set(ours), \
            f"{path} [{index}]: only ours {set(ours) - theirs}, only pprof's {theirs - set(ours)}"
        for name, flat, cum in rows:
            assert (ours[name].flat, ours[name].cum) == (flat, cum), f"{path} [{index}] {name}"
            compared += 1
    assert compared > 50


def test_recursion_counts_once_and_inlined_frames_are_own_lines(built):
    prof = load_profile(built.baseline / "cpu.pb.gz")
    idx = prof.index_of("cpu")
    costs = line_costs(prof, idx)
    fib = costs.get(("example.com/hot/main.go", marker_line("fib")))
    assert fib is not None, "fib's recursive line has no samples"
    assert fib.cum <= prof.total(idx)
    step = costs[("example.com/hot/main.go", marker_line("cpu"))]
    # inlined into burn, still its own line, holding (through crc64.Update below it) most of the CPU
    assert step.function == "main.step" and step.cum >= 0.5 * prof.total(idx)


@pytest.mark.parametrize("kind,sample_type,marker", [
    ("cpu", "cpu", "cpu"), ("allocs", "alloc_space", "alloc"), ("block", "delay", "block")])
def test_top_own_line_is_the_line_the_program_makes_hot(built, kind, sample_type, marker):
    prof = load_profile(built.baseline / f"{kind}.pb.gz")
    is_own = lambda f: f.startswith("example.com/hot/")  # noqa: E731
    costs = line_costs(prof, prof.index_of(sample_type), is_own=is_own)
    assert sum(c.own for c in costs.values()) <= prof.total(prof.index_of(sample_type))
    # 3.5 CPU seconds at 100 Hz: some 350 samples, the marked line holding most of them
    got = own_lines(built.baseline / f"{kind}.pb.gz", sample_type, is_own)
    assert_hot_line(got, "main.go", marker_line(marker), min_share=0.5, min_samples=300 if kind == "cpu" else 0)
