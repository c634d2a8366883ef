"""What the terminal shows after `harness run` and for `harness compare`: the verdict first, the
hottest own line of every profile kind (most-changed first), human units (synthetic runs)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from harness.cli import main
from harness.cli_progress import Progress, hot_lines, print_summary
from harness.report.writer import build_summary, render_all
from tests.report.synth import SRC, add_profile, make_run

BLOCK = (("contentions", "count"), ("delay", "nanoseconds"))
HEAP = (("inuse_objects", "count"), ("inuse_space", "bytes"))
VERDICT = {"version": 1, "phases": [{"phase": "fault", "baseline": "baseline",
                                     "headline": "api waited at the pool: p99 12 ms → 120 ms",
                                     "findings": [{"kind": "waiting", "message": "waiting: the pool is full",
                                                   "evidence": {"line": {"file": "main.go", "line": 45,
                                                                         "function": "main.acquire",
                                                                         "share_before": 0.1, "share_after": 0.9}}},
                                                  {"kind": "faults", "message": "faults active: delay on api"}]}]}


def _run(tmp_path: Path, verdict=VERDICT):
    run = make_run(tmp_path)
    # block: the pool line goes from 10% to 90% of the blocking time (the biggest move)
    add_profile(run, "block", "baseline", {(f"{SRC}/main.go", 45, "main.acquire"): 1_000_000,
                                           (f"{SRC}/main.go", 60, "main.io"): 9_000_000}, BLOCK)
    add_profile(run, "block", "fault", {(f"{SRC}/main.go", 45, "main.acquire"): 2_429_960_639_539 * 9,
                                        (f"{SRC}/main.go", 60, "main.io"): 2_429_960_639_539}, BLOCK)
    add_profile(run, "heap", "fault", {(f"{SRC}/main.go", 70, "main.cache"): 3 << 20}, HEAP, window="snapshot")
    data, rd = build_summary(run)
    data["verdict"] = verdict
    render_all(run, data, rd)
    return run, data


def _printed(run: Path, data: dict) -> str:
    console = Console(record=True, width=220, color_system=None)
    result = SimpleNamespace(status="completed", run_id=run.name, exit_code=0, reason=None, summary=data,
                             run_dir=run)
    print_summary(console, result)
    return console.export_text()


def test_summary_prints_the_verdict_first(tmp_path):
    out = _printed(*_run(tmp_path))
    head = out.index("fault vs baseline: api waited at the pool: p99 12 ms → 120 ms")
    assert head < out.index("load by phase") < out.index("hottest own-code line")
    first = out.index("1. waiting")
    assert head < first < out.index("2. faults") and "the pool is full" in out[first:first + 60]
    assert "main.go:45 (main.acquire) 10% → 90%" in out          # the culprit, not already in the message


def test_summary_without_a_verdict_still_prints(tmp_path):
    out = _printed(*_run(tmp_path, verdict=None))
    assert "vs baseline" not in out and "load by phase" in out


def test_hottest_line_of_every_kind_most_changed_first(tmp_path):
    run, data = _run(tmp_path)
    rows = [(h["phase"], h["profile"]) for h in hot_lines(data)]
    assert rows == [("baseline", "cpu"), ("baseline", "block"),      # no change to rank: the kinds' order
                    ("fault", "block"), ("fault", "cpu"), ("fault", "heap")]   # block moved 160 pts, cpu 52
    out = _printed(run, data)
    fault = out[out.index("hottest own-code line"):]
    block = next(line for line in fault.splitlines() if "block" in line and "fault" in line)
    assert "main.go:45" in block and "90%" in block and "6.07 h" in block and "160 pts" in block
    heap = next(line for line in fault.splitlines() if "heap" in line)
    assert "main.go:70" in heap and "3 MiB" in heap and "100%" in heap
    assert "nanoseconds" not in out and "2,429,960,639,539" not in out
    assert "120 ms" in out and "100/s" in out and "5%" in out    # load table in human units


def test_compare_prints_its_main_differences(tmp_path, capsys):
    a = make_run(tmp_path, "a", fault_hot=100)
    b = make_run(tmp_path, "b", fault_hot=900, slow=40)
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    fault = out[out.index("phase fault"):]
    assert "p99        120 ms → 4.8 s  ×40" in fault and "p50        30 ms → 1.2 s  ×40" in fault
    assert "errors     5% → 5%  ×1" in fault and "throughput 100/s → 100/s  ×1" in fault
    assert "cpu · api" in fault
    grew = next(line for line in fault.splitlines() if line.strip().startswith("grew"))
    assert "main.go:55 (main.alloc) 12.5% → 56.2% +43.8 pts" in grew and "25 ms/s → 225 ms/s" in grew
    shrank = next(line for line in fault.splitlines() if line.strip().startswith("shrank"))
    assert "main.go:40 (main.burn)" in shrank and "-25 pts" in shrank
    assert (tmp_path / "cmp" / "compare.json").is_file() and (tmp_path / "cmp" / "compare.html").is_file()
    assert f"wrote {tmp_path / 'cmp'}" in out.replace("\n", "")


def test_live_display_reads_in_human_units():
    console = Console(record=True, width=120, color_system=None)
    progress = Progress(console, SimpleNamespace(name="demo", duration=20.0))
    progress._info = {"stage": "load", "elapsed_s": 5.0, "phase": "fault",
                      "load": {"rps": 198.4, "fps": 2.0, "p50_ms": 3.1, "p99_ms": 5100.0},
                      "stats": {"api": {"mem_bytes": 140 << 20, "mem_limit": 256 << 20, "cpu_pct": 42.0}}}
    console.print(progress._render())
    out = console.export_text()
    assert "198/s" in out and "3.1 ms" in out and "5.1 s" in out and "1.01%" in out
    assert "mem 140 MiB / 256 MiB" in out and "cpu 42%" in out


def test_failed_captures_are_named_after_the_profiles(tmp_path):
    run, data = _run(tmp_path)
    data["capture_failures"] = [{"kind": "capture-failed", "detail": f"cpu of api in phase fault: reason {i}"}
                                for i in range(7)]
    out = _printed(run, data)
    at = out.index("7 capture(s) failed")
    assert out.index("hottest own-code line") < at < out.index("reason 0") < out.index("reason 4")
    assert "reason 5" not in out and "… and 2 more" in out
    assert "capture(s) failed" not in _printed(*_run(tmp_path / "quiet"))
