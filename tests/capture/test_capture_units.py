"""Pure parts of the captures: profile subtraction, perf script conversion, trace summary, cgroup stats."""
from __future__ import annotations

import gzip

import pytest

from harness.capture import pprof as pp
from harness.capture.perf import parse_script, to_profile
from harness.capture.stats import derive, find_cgroup, net_bytes
from harness.capture.trace import summarize
from rundir.pprof import line_costs, load_profile
from rundir.pprof.proto import Profile


def _profile(samples: dict[str, list[int]], time_nanos: int = 0) -> Profile:
    """A block-like profile: one location per function name, values (contentions, delay)."""
    msg = Profile()
    msg.string_table.extend(["", "contentions", "count", "delay", "nanoseconds", "main.go"])
    msg.sample_type.add(type=1, unit=2)
    msg.sample_type.add(type=3, unit=4)
    for i, name in enumerate(sorted(samples), 1):
        msg.string_table.append(name)
        msg.function.add(id=i, name=len(msg.string_table) - 1, filename=5)
        loc = msg.location.add(id=i, address=0x1000 * i)
        loc.line.add(function_id=i, line=10 * i)
    for i, name in enumerate(sorted(samples), 1):
        msg.sample.add(location_id=[i], value=samples[name])
    msg.time_nanos = time_nanos
    return msg


def test_subtract_keeps_what_grew_and_drops_the_rest():
    before = _profile({"main.a": [5, 500], "main.b": [2, 200]}, time_nanos=1_000)
    after = _profile({"main.a": [9, 900], "main.b": [2, 200], "main.c": [1, 50]}, time_nanos=3_000)
    delta = pp.subtract(after, before)
    prof = load_profile(pp.encode(delta))
    costs = {c.function: c.flat for c in line_costs(prof, 1).values()}
    assert costs == {"main.a": 400, "main.c": 50}
    assert delta.time_nanos == 1_000 and delta.duration_nanos == 2_000


def test_subtract_sums_duplicate_stacks_first():
    before = _profile({"main.a": [1, 100]})
    after = _profile({"main.a": [3, 300]})
    after.sample.add(location_id=[1], value=[1, 100])       # the same stack twice
    delta = pp.subtract(after, before)
    assert [list(s.value) for s in delta.sample] == [[3, 300]]


def test_parse_rejects_what_is_not_a_profile():
    with pytest.raises(pp.FetchError, match="not a pprof profile"):
        pp.parse(gzip.compress(b"<html>404 page not found</html>"))
    assert pp.sample_types(pp.parse(pp.encode(_profile({"main.a": [1, 1]})))) == \
        ["contentions/count", "delay/nanoseconds"]


PERF_SCRIPT = """app 100/101   1000.250000000:   10101010 
\t          279e06 main.spin+0x46 (/app)
\t          23b329 net/http.HandlerFunc.ServeHTTP+0x29 (/app)

app 100/102   1000.500000000:   10101010 
\tffffffff81eb89a5 __netif_receive_skb+0x15 ([kernel.kallsyms])
\t          90fa1 runtime.goexit.abi0+0x1 (/app)
\t          111111 [unknown] (/app)
"""


def test_perf_script_parse_and_convert_with_run_clock_labels():
    samples = parse_script(PERF_SCRIPT)
    assert [(s.t_mono, s.tid, len(s.frames)) for s in samples] == [(1000.25, 101, 2), (1000.5, 102, 3)]
    assert samples[1].frames[2] == ("[unknown]", None, "/app")

    def resolve(sym, off, dso, is_leaf):
        # main.burn inlined into main.spin: the location holds both lines, innermost first
        table = {"main.spin": [("main.burn", "/src/main.go", 40), ("main.spin", "/src/main.go", 12)],
                 "net/http.HandlerFunc.ServeHTTP": [("net/http.HandlerFunc.ServeHTTP", "/go/src/server.go", 2)]}
        hit = table.get(sym)
        return (0x400000 + (off or 0), hit) if hit and dso == "/app" else None

    msg = to_profile(samples, mono_t0=1000.0, wall_t0=5000.0, period_ns=10_000_000, resolve=resolve,
                     main_dso="/app")
    prof = load_profile(msg.SerializeToString())
    assert prof.sample_types == [("samples", "count"), ("cpu", "nanoseconds")]
    assert prof.total(1) == 2 * 10101010
    costs = line_costs(prof, 1)
    assert costs[("/src/main.go", 40)].flat == 10101010 and costs[("/src/main.go", 40)].function == "main.burn"
    assert costs[("/src/main.go", 12)].cum == 10101010 and costs[("/src/main.go", 12)].flat == 0
    assert costs[("[kernel.kallsyms]", 0)].function == "__netif_receive_skb"
    labels = [{msg.string_table[lb.key]: lb.num for lb in s.label} for s in msg.sample]
    assert labels == [{"t_ms": 250, "tid": 101}, {"t_ms": 500, "tid": 102}]
    assert msg.string_table[msg.mapping[0].filename] == "/app"
    assert msg.time_nanos == int(5000.25 * 1e9)     # wall_t0 + (first sample - mono_t0)


TRACE_TEXT = """M=-1 P=-1 G=-1 Sync Time=100 N=1 Trace=100 Mono=5000000100 Wall=2026-11-22T11:35:28Z
M=1 P=0 G=1 StateTransition Time=1000 GoID=7 NotExist->Runnable Reason=""
M=1 P=0 G=1 StateTransition Time=2000 GoID=7 Runnable->Running Reason=""
M=1 P=0 G=7 StateTransition Time=3000 GoID=7 Running->Waiting Reason="sync"
M=1 P=0 G=-1 StateTransition Time=5003000 GoID=7 Waiting->Runnable Reason=""
M=1 P=0 G=7 RangeBegin Time=6000000 Name="GC concurrent mark phase" Scope=None
M=1 P=0 G=7 RangeBegin Time=6000000 Name="stop-the-world (GC sweep termination)" Scope=Goroutine(7)
M=1 P=0 G=7 RangeEnd Time=6500000 Name="stop-the-world (GC sweep termination)" Scope=Goroutine(7) Attributes=[]
M=1 P=0 G=7 StateTransition Time=7000000 GoID=7 Running->Syscall Reason=""
M=1 P=0 G=7 StateTransition Time=9000000 GoID=7 Syscall->Running Reason=""
Stack=
\tmain.main @ 0x1
"""


def test_trace_summary():
    s = summarize(TRACE_TEXT, mono_t0=4.0)
    assert s["goroutines_created"] == 1
    assert s["blocked_ms"] == {"sync": 5.0}
    assert s["gc"] == {"cycles": 1, "stw_pauses": 1, "stw_total_ms": 0.5, "stw_max_ms": 0.5}
    assert s["syscall_ms"] == 2.0 and s["runnable_ms"] == 0.001
    assert s["start_s"] == pytest.approx(1.0000002, abs=1e-6)      # trace ns 100 -> mono 5.0000001 s
    assert s["end_s"] == pytest.approx(1.009, abs=1e-6)
    sched = s["sched_latency"]
    assert (sched["count"], sched["p50_ms"], sched["max_ms"]) == (1, 0.001, 0.001)


def test_scheduler_latency_is_each_wait_from_runnable_to_running():
    """100 goroutines made runnable, each running after its own wait (1..100 ms): the percentiles
    are those of the waits; runnable time that ends elsewhere (a goroutine that blocks again) is no
    scheduler latency sample."""
    lines, t = [], 1_000_000
    for g in range(1, 101):
        lines.append(f'M=1 P=0 G=-1 StateTransition Time={t} GoID={g} Waiting->Runnable Reason=""')
        lines.append(f'M=1 P=0 G={g} StateTransition Time={t + g * 1_000_000} GoID={g} Runnable->Running Reason=""')
    lines.append(f'M=1 P=0 G=-1 StateTransition Time={t} GoID=500 Waiting->Runnable Reason=""')
    lines.append(f'M=1 P=0 G=-1 StateTransition Time={t + 10**9} GoID=500 Runnable->Waiting Reason=""')
    s = summarize("\n".join(lines))["sched_latency"]
    assert s["count"] == 100
    assert s["p50_ms"] == pytest.approx(50, rel=0.01) and s["p99_ms"] == pytest.approx(99, rel=0.01)
    assert s["max_ms"] == pytest.approx(100, rel=0.01) and s["mean_ms"] == pytest.approx(50.5, rel=0.01)
    curve = dict((p, v) for p, v in s["percentiles"])
    assert curve[0] == pytest.approx(1, rel=0.01) and curve[100] == s["max_ms"]
    assert summarize("")["sched_latency"] == {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None,
                                              "p999_ms": None, "max_ms": None, "mean_ms": None, "percentiles": []}


def test_stats_derive():
    prev = {"cpu_ns": 0, "throttled_periods": 3, "throttled_ns": 0, "mem_bytes": 1, "mem_limit": 10, "oom_kills": 0}
    cur = {"cpu_ns": 500_000_000, "throttled_periods": 8, "throttled_ns": 250_000_000, "mem_bytes": 5,
           "mem_limit": 10, "oom_kills": 1}
    out = derive(prev, cur, 1.0)
    assert out["cpu_pct"] == 50.0 and out["throttled_periods"] == 5 and out["throttled_ms"] == 250.0
    assert out["oom_kills"] == 1 and derive(None, cur, 0)["cpu_pct"] is None


def _write(root, rel, files):
    d = root / rel
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)


def test_find_cgroup_v1_and_v2(tmp_path):
    v1 = tmp_path / "v1"
    _write(v1, "cpu/docker/abc", {"cpu.stat": "nr_periods 10\nnr_throttled 4\nthrottled_time 7000000\n"})
    _write(v1, "cpuacct/docker/abc", {"cpuacct.usage": "123456789\n"})
    _write(v1, "memory/docker/abc", {"memory.usage_in_bytes": "4096\n", "memory.limit_in_bytes": "9223372036854771712\n",
                                     "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"})
    raw = find_cgroup("abc", root=v1).read()
    assert raw == {"cpu_ns": 123456789, "throttled_periods": 4, "periods": 10, "throttled_ns": 7000000,
                   "mem_bytes": 4096, "mem_limit": None, "oom_kills": 2}
    v2 = tmp_path / "v2"
    _write(v2, "", {"cgroup.controllers": "cpu memory\n"})
    _write(v2, "system.slice/docker-abc.scope", {
        "cpu.stat": "usage_usec 2000\nnr_periods 5\nnr_throttled 1\nthrottled_usec 300\n",
        "memory.current": "8192\n", "memory.max": "max\n", "memory.events": "low 0\noom 1\noom_kill 1\n"})
    raw = find_cgroup("abc", root=v2).read()
    assert raw["cpu_ns"] == 2_000_000 and raw["throttled_ns"] == 300_000 and raw["mem_limit"] is None
    assert raw["oom_kills"] == 1 and find_cgroup("nope", root=v2) is None


def test_net_bytes_of_a_missing_process():
    assert net_bytes(None) == (None, None) and net_bytes(2**22 + 17) == (None, None)
