"""The runtime sampler without Docker: its parsers on real pprof pages (runtime_pages/, fetched
once from a Go program, see its README), the GC pause sum, the peak rule, the scenario setting,
and the sampler's thread against a local HTTP server (rows, one failure note, a prompt stop)."""
from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from harness.capture import runtime
from harness.capture.runtime import RuntimeSampler, add_pauses, wants_peak
from harness.capture.spec import CAPTURES_SCHEMA, RuntimeSpec, parse_captures
from harness.errors import ScenarioError
from harness.parse.context import ParseContext
from harness.parse.node import load_yaml
from harness.runctx import Clock, RunContext, ServiceInfo

PAGES = Path(__file__).parent / "runtime_pages"
INDEX = (PAGES / "index.html").read_text()
HEAP = (PAGES / "heap_debug1.txt").read_text()
GOROUTINE = (PAGES / "goroutine_debug1.txt").read_text()


# -- parsers on real pages ----------------------------------------------------------------------

def test_index_page_gives_the_goroutine_count_of_the_debug1_header():
    # the two pages were fetched from the same process a moment apart; it had 44 goroutines
    assert runtime.goroutines_from_index(INDEX) == 44
    assert runtime.goroutines_from_debug1(GOROUTINE) == 44


def test_index_page_without_the_goroutine_row_gives_none():
    # the page also has a `goroutineleak` row (and others): none of them is taken for goroutine
    rows = [ln for ln in INDEX.splitlines() if ">goroutine</a>" not in ln]
    assert len(rows) == len(INDEX.splitlines()) - 1 and any("goroutineleak" in ln for ln in rows)
    assert runtime.goroutines_from_index("\n".join(rows)) is None
    assert runtime.goroutines_from_index(HEAP) is None


def test_debug1_header_only_on_the_goroutine_page():
    assert runtime.goroutines_from_debug1(HEAP) is None
    assert runtime.goroutines_from_debug1(INDEX) is None


def test_memstats_from_the_heap_page_tail():
    stats = runtime.memstats(HEAP)
    assert stats["HeapInuse"] == 14286848 and stats["HeapAlloc"] == 13644888
    assert stats["NumGC"] == 27 and stats["GCCPUFraction"] == pytest.approx(0.0012556513975864254)
    assert len(stats["PauseNs"]) == 256 and sum(1 for p in stats["PauseNs"] if p) == 27
    assert stats["Stack"] == "425984 / 425984"          # kept as text, not misread as a number
    # the profile records above the block (`#\t0x487e32 runtime.mallocgc+0x112 ...`) are not stats
    assert all(not k.startswith("0x") for k in stats) and "runtime" not in stats
    assert runtime.memstats(GOROUTINE) == {}


# -- GC pause sum --------------------------------------------------------------------------------

def test_first_reading_sums_the_pauses_of_the_ring():
    stats = runtime.memstats(HEAP)
    assert add_pauses(None, None, stats["NumGC"], stats["PauseNs"]) == sum(stats["PauseNs"]) == 4195717


def _ring(pauses_by_cycle: dict[int, int]) -> list[int]:
    """PauseNs as the runtime keeps it: cycle n's pause at (n - 1) % 256."""
    ring = [0] * 256
    for n, p in pauses_by_cycle.items():
        ring[(n - 1) % 256] = p
    return ring


def test_later_readings_add_only_the_new_cycles_across_the_ring_wrap():
    cycles = {n: 1000 + n for n in range(1, 301)}              # 300 cycles: the ring wrapped
    first = add_pauses(None, None, 250, _ring({n: p for n, p in cycles.items() if n <= 250}))
    assert first == sum(1000 + n for n in range(1, 251))
    later = add_pauses(first, 250, 300, _ring(cycles))
    assert later == sum(cycles.values())
    assert add_pauses(later, 300, 300, _ring(cycles)) == later  # no new cycle, nothing added


def test_more_than_a_ring_of_new_cycles_counts_the_lost_ones_at_the_mean():
    ring = _ring({n: 500 for n in range(1, 257)})
    assert add_pauses(0, 0, 256 + 100, ring) == 356 * 500


def test_a_restart_starts_the_sum_again():
    ring = _ring({1: 700, 2: 300})
    assert add_pauses(10_000_000, 500, 2, ring) == 1000


@pytest.mark.parametrize("count, low, kept, want", [
    (30, 5, None, True),          # +25 and 6x over the phase's lowest count
    (24, 5, None, False),         # +19: under the 20 goroutine margin
    (320, 300, None, False),      # +20 but under +10 %
    (330, 300, None, True),
    (330, 5, 310, False),         # above the kept profile's 310 by less than 10 %
    (345, 5, 310, True),
])
def test_peak_rule(count, low, kept, want):
    assert wants_peak(count, low, kept) is want


# -- the scenario setting --------------------------------------------------------------------------

CTX = ParseContext(file="s.yaml", scenario_dir=Path("."), services=("api",), phase_names=("main",),
                   allow_external_targets=False)


def _parse(text: str):
    return parse_captures(load_yaml(text, "s.yaml").get("captures"), CTX)


@pytest.mark.parametrize("text, want", [
    ("name: x\n", RuntimeSpec(1.0)),
    ("captures:\n  runtime: false\n", None),
    ("captures:\n  runtime: true\n", RuntimeSpec(1.0)),
    ("captures:\n  runtime: {interval: 500ms}\n", RuntimeSpec(0.5)),
    ("captures:\n  runtime: {}\n", RuntimeSpec(1.0)),
])
def test_runtime_setting(text, want):
    assert _parse(text).runtime == want


@pytest.mark.parametrize("text, message", [
    ("captures:\n  runtime: {interval: 10ms}\n", "must be at least 0.1"),
    ("captures:\n  runtime: {every: 1s}\n", "unknown key 'every'"),
    ("captures:\n  runtime: 3\n", "expected true, false or a mapping"),
])
def test_runtime_setting_errors_name_the_place(text, message):
    with pytest.raises(ScenarioError) as e:
        _parse(text)
    assert message in e.value.render() and "s.yaml:2:" in e.value.render()


def test_schema_accepts_what_the_parser_accepts():
    for value in (False, True, {"interval": "2s"}, {"interval": 0.5}):
        jsonschema.validate({"runtime": value}, CAPTURES_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"runtime": {"every": "1s"}}, CAPTURES_SCHEMA)


# -- the sampler thread against a local server ------------------------------------------------------

class _Pages(http.server.BaseHTTPRequestHandler):
    """Serves the real pages; `hang` makes every request wait (a stuck service)."""
    hang = threading.Event()

    def do_GET(self):
        if self.hang.is_set():
            time.sleep(30)
        body = {"/debug/pprof/": INDEX, "/debug/pprof/heap?debug=1": HEAP,
                "/debug/pprof/goroutine?debug=1": GOROUTINE}.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write((body or "not found").encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def pages():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/debug/pprof"
    _Pages.hang.clear()
    server.shutdown()


def _sampler(tmp_path: Path, url: str) -> tuple[RunContext, RuntimeSampler]:
    rc = RunContext.of("t", tmp_path, Clock.start(), {"api": ServiceInfo("api", None, "api", None, {}, {}, url)})
    return rc, RuntimeSampler(rc, ["api"], 0.1)


def _await(cond, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _rows(rc: RunContext) -> list[dict]:
    path = rc.run_dir / "runtime" / "api.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_rows_carry_the_pages_values_and_the_phase(tmp_path, pages):
    rc, sampler = _sampler(tmp_path, pages)
    sampler.start()
    sampler.phase_start("main")
    _await(lambda: len(_rows(rc)) >= 3, "three rows")
    sampler.phase_end("main")
    sampler.stop()
    rows = _rows(rc)
    assert rows[-1] == {"t_s": rows[-1]["t_s"], "phase": rows[-1]["phase"], "goroutines": 44,
                        "heap_inuse_bytes": 14286848, "heap_alloc_bytes": 13644888, "num_gc": 27,
                        "gc_pause_total_ns": 4195717, "gc_cpu_fraction": pytest.approx(0.0012556513975864254)}
    assert "main" in {r["phase"] for r in rows}
    assert [r["t_s"] for r in rows] == sorted(r["t_s"] for r in rows)
    art = [a for a in rc.artifacts.all() if a["kind"] == "runtime"]
    assert art and art[0]["path"] == "runtime/api.jsonl" and art[0]["samples"] == len(rows)
    # a flat count (44 throughout) is no pile-up: no peak profile
    assert not [a for a in rc.artifacts.all() if a["kind"] == "goroutine-peak"]


def test_a_dead_service_is_reported_once_and_the_sampler_goes_on(tmp_path):
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, sampler = _sampler(tmp_path, f"http://127.0.0.1:{port}/debug/pprof")
    sampler.start()
    worker = sampler._workers[0]
    _await(lambda: worker.failures >= 6, "several failed ticks")
    sampler.stop()
    failed = [e for e in rc.events.all() if e["kind"] == "capture-failed"]
    assert len(failed) == 1 and failed[0]["capture"] == "runtime" and failed[0]["service"] == "api", failed
    assert not _rows(rc) and not rc.artifacts.all()


def test_stop_returns_while_the_service_hangs(tmp_path, pages):
    rc, sampler = _sampler(tmp_path, pages)
    sampler.start()
    _await(lambda: len(_rows(rc)) >= 1, "a first row")
    _Pages.hang.set()
    time.sleep(0.3)                     # a request is now in flight on the hanging server
    t0 = time.monotonic()
    sampler.stop()
    # a generous bound for something that must happen at all: the requests time out after 1 s
    assert time.monotonic() - t0 < 10
    assert not sampler._workers[0]._thread.is_alive()


def test_a_pile_up_at_the_phase_start_is_a_peak(tmp_path):
    """A fault that piles goroutines up at once: the phase's first sample is already high. Measured
    from the count just before the phase, it is a peak; with no count before it (the first phase),
    the first sample is the phase's low and nothing is fetched."""
    _rc, sampler = _sampler(tmp_path, "http://127.0.0.1:9/debug/pprof")
    worker = sampler._workers[0]
    fetched = []
    worker._fetch_peak = lambda base, phase, st, count, t: (fetched.append((phase, count)),
                                                            setattr(st, "count", count))
    worker._last_count = 8                     # what tick() saw last, before the phase
    worker.open_phase("fault")
    worker._peak("base", "fault", 60, 1.0)     # the phase's first sample
    assert fetched == [("fault", 60)]
    worker._last_count = None
    worker.open_phase("first")
    worker._peak("base", "first", 60, 2.0)
    worker._peak("base", "first", 61, 3.0)
    assert fetched == [("fault", 60)]
