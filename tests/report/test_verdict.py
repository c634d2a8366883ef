"""The verdict's rules on synthetic summaries: each cause found from its signal, ranked as
docs/report.md says, the symptom carried in the first finding, and "no-change" for a phase
that only differs by noise. Real runs of each shape: tests/e2e/test_verdict.py."""
from __future__ import annotations

from harness.judge import verdict

SRC_LINE = 'pool <- struct{}{} // culprit:pool'


def prof(total: float, seconds: float | None, lines: list[tuple[str, int, float]], unit="nanoseconds"):
    return {"total": total, "seconds": seconds, "unit": unit, "own_total": total,
            "lines": [{"file": f, "line": n, "function": "main.f", "share": s, "value": total * s,
                       "rate": total * s / seconds if seconds else None} for f, n, s in lines]}


def phase(name, *, p99=10.0, p50=2.0, rps=50.0, err=0.0, profiles=None, containers=None, runtime=None,
          faults=(), start=0.0, p95=None):
    return {"name": name, "start_s": start, "end_s": start + 10.0, "faults": list(faults),
            "load": {"p50_ms": p50, "p95_ms": p99 if p95 is None else p95, "p99_ms": p99, "rps": rps,
                     "error_rate": err,
                     "failures": int(err * rps * 10), "requests": int(rps * 10)},
            "profiles": {"app": profiles or {}}, "containers": {"app": containers or {}},
            "runtime": {"app": runtime} if runtime else {}}


def change(kind, phase_name, grew):
    return {"service": "app", "kind": kind, "phase": phase_name,
            "lines": {"grew": [{"key": k, "function": "main.f", "share_before": b, "share_after": a,
                                "rate_before": rb, "rate_after": ra} for k, b, a, rb, ra in grew],
                      "shrank": []}}


def summary(phases, changes=(), faults=(), tmp_path=None):
    root = None
    if tmp_path is not None:
        (tmp_path / "main.go").write_text("package main\n" * 9 + SRC_LINE + "\n")
        root = str(tmp_path)
    return {"baseline_phase": "baseline", "phases": phases, "changes": list(changes), "faults": list(faults),
            "services": {"app": {"source_root": root}}}


def first(s, name="incident"):
    v = verdict.build(s)
    return next(p for p in v["phases"] if p["phase"] == name)["findings"]


def test_pool_exhaustion_is_waiting_at_the_pool_line(tmp_path):
    base = phase("baseline", profiles={"block": prof(1e7, 10, [("main.go", 30, 0.9)])})
    inc = phase("incident", p99=5100, p50=900, rps=40, profiles={
        "block": prof(2.4e12, 10, [("main.go", 10, 0.945), ("main.go", 30, 0.05)]),
        "cpu": prof(2e8, 10, [("main.go", 30, 0.5)])}, runtime={"goroutines": {"max": 310, "last": 290}})
    s = summary([base, inc], [change("block", "incident", [("main.go:10", 0.03, 0.945, 1e4, 2.3e11)])],
                tmp_path=tmp_path)
    f = first(s)
    assert f[0]["kind"] == "waiting"
    line = f[0]["evidence"]["line"]
    assert (line["file"], line["line"], line["text"]) == ("main.go", 10, SRC_LINE)
    assert "main.go:10" in f[0]["message"] and "p99 10 ms → 5.1 s (×510)" in f[0]["message"]
    assert "94.5%" in f[0]["message"] and "peaked at 310" in f[0]["message"]
    assert [x["kind"] for x in f][:2] == ["waiting", "symptom"]
    head = verdict.build(s)["phases"][0]["headline"]
    assert head == "app waiting at main.go:10 (block profile): p99 10 ms → 5.1 s (×510), throughput 50 req/s → 40 req/s"


def test_an_unchanged_phase_is_no_change():
    base = phase("baseline", profiles={"cpu": prof(1e8, 10, [("main.go", 5, 0.6)])})
    quiet = phase("incident", p99=11.0, profiles={"cpu": prof(1.1e8, 10, [("main.go", 5, 0.58)])})
    f = first(summary([base, quiet], [change("cpu", "incident", [("main.go:5", 0.5, 0.52, 5e6, 5.5e6)])]))
    assert [x["kind"] for x in f] == ["no-change"]
    assert f[0]["message"].startswith("no significant change against baseline: p50 2 ms → 2 ms, p95 10 ms → 11 ms")


def test_a_squeezed_quota_with_the_same_hot_line_is_squeezed_not_waiting():
    hot = [("main.go", 7, 0.7)]
    base = phase("baseline", profiles={"cpu": prof(3e9, 10, hot)})
    inc = phase("incident", p99=300, profiles={"cpu": prof(2e9, 10, [("main.go", 7, 0.68)]),
                                               "block": prof(5e10, 10, [("main.go", 3, 0.9)])},
                containers={"throttled_ms": 6000}, faults=["squeeze"])
    s = summary([base, inc], [change("block", "incident", [("main.go:3", 0, 0.9, 0, 4.5e9)])],
                faults=[{"id": "squeeze", "kind": "cpu", "target": "app", "params": {"cpus": 0.2}}])
    f = first(s)
    assert f[0]["kind"] == "squeezed" and "cpus 0.2" in f[0]["message"]
    assert "throttled in 60% of its CPU periods (6 s held back)" in f[0]["message"]
    assert "still main.go:7" in f[0]["message"]
    assert any(x["kind"] == "waiting" for x in f[1:])


def test_a_moved_hot_line_is_not_squeezed():
    base = phase("baseline", profiles={"cpu": prof(3e9, 10, [("main.go", 7, 0.7)])})
    inc = phase("incident", p99=300, profiles={"cpu": prof(3e9, 10, [("main.go", 9, 0.8)])},
                containers={"throttled_ms": 6000}, faults=["squeeze"])
    s = summary([base, inc], faults=[{"id": "squeeze", "kind": "cpu", "target": "app", "params": {"cpus": 0.2}}])
    assert all(x["kind"] != "squeezed" for x in first(s))


def test_a_leak_needs_the_goroutines_to_stay_after_the_phase():
    def gprof(n):
        return {"goroutine": prof(n + 10, None, [("main.go", 40, n / (n + 10)), ("main.go", 3, 1 / (n + 10))],
                                  unit="count")}
    base = phase("baseline", profiles=gprof(0), runtime={"goroutines": {"mean": 8, "max": 9, "last": 8}})
    inc = phase("incident", profiles=gprof(300), runtime={"goroutines": {"mean": 150, "max": 320, "last": 320}})
    after = phase("after", profiles=gprof(318))
    f = first(summary([base, inc, after]))
    assert f[0]["kind"] == "leak" and "318 goroutines of app still wait at main.go:40" in f[0]["message"]
    assert "320 goroutines in all at the phase's peak" in f[0]["message"]
    assert (f[0]["evidence"]["line"]["line"], f[0]["evidence"]["line"]["profile"]) == (40, "goroutine")
    # drained by the end of the next phase (the total may stay high: idle keep-alive connections)
    assert all(x["kind"] != "leak" for x in first(summary([base, inc, phase("after", profiles=gprof(2))])))
    # no phase after: a queue still draining looks the same, so it is not called a leak
    assert all(x["kind"] != "leak" for x in first(summary([base, inc])))
    # seen on a loaded machine after a squeezed quota: a backlog still computing at its line
    shrinking = phase("after", profiles=gprof(83))
    assert all(x["kind"] != "leak" for x in first(summary([base, inc, shrinking])))
    working = phase("after", profiles={**gprof(318), "cpu": prof(5e9, 10, [("main.go", 40, 0.99)])})
    assert all(x["kind"] != "leak" for x in first(summary([base, inc, working])))
    # a busy machine left the service 21 CPU samples in the next phase; two of them at the line
    # (spawning, parking) are 10% of the profile but 2 ms of CPU per second: still a leak
    idle = phase("after", profiles={**gprof(318), "cpu": prof(2.1e8, 10, [("main.go", 40, 0.1)])})
    assert first(summary([base, inc, idle]))[0]["kind"] == "leak"
    # 0.1 cores at the line is work, however the profile's shares fall
    busy = phase("after", profiles={**gprof(318), "cpu": prof(1e10, 10, [("main.go", 40, 0.1)])})
    assert all(x["kind"] != "leak" for x in first(summary([base, inc, busy])))


def test_garbage_outranks_the_cpu_it_costs():
    base = phase("baseline", profiles={"cpu": prof(2e8, 10, [("main.go", 5, 0.5)]),
                                       "allocs": prof(1e7, 10, [("main.go", 5, 0.5)], unit="bytes")})
    inc = phase("incident", p99=80, profiles={"cpu": prof(5e9, 10, [("main.go", 12, 0.8)]),
                                              "allocs": prof(1.6e9, 10, [("main.go", 12, 0.99)], unit="bytes")},
                runtime={"gc_per_s": 40.0})
    s = summary([base, inc], [change("allocs", "incident", [("main.go:12", 0, 0.99, 0, 1.6e8)]),
                              change("cpu", "incident", [("main.go:12", 0, 0.8, 0, 4e8)])])
    f = first(s)
    assert [x["kind"] for x in f[:3]] == ["garbage", "symptom", "burning"]
    assert "153 MiB/s" in f[0]["message"] and "40 GC cycles/s" in f[0]["message"]


def test_crash_comes_first_and_a_symptom_alone_says_nothing_explains_it():
    base = phase("baseline")
    inc = phase("incident", p99=900, containers={"oom_kills": 2, "mem_limit": 64 << 20})
    f = first(summary([base, inc]))
    assert f[0]["kind"] == "crash" and "2 OOM kill(s)" in f[0]["message"] and "64 MiB" in f[0]["message"]
    f = first(summary([base, phase("incident", p99=900, err=0.2)]))
    assert f[0]["kind"] == "symptom" and "no captured profile or signal explains it" in f[0]["message"]
    assert "errors 0% → 20%" in f[0]["message"]
    assert "no runtime trace or block profile was captured" in f[0]["message"]     # the hint where to look


def test_verdict_is_versioned_with_its_thresholds():
    v = verdict.build(summary([phase("baseline"), phase("incident")]))
    assert v["version"] == 1 and v["thresholds"]["wait_factor"] == 3.0
    assert [p["phase"] for p in v["phases"]] == ["incident"]
    assert verdict.build({"phases": [phase("only")], "baseline_phase": None})["phases"] == []


def test_a_slow_phase_after_a_faulted_one_is_called_recovery():
    base, inc = phase("baseline"), phase("incident", p99=900, faults=["slow"])
    after = phase("after", p99=130)
    f = first(summary([base, inc, after], faults=[{"id": "slow", "kind": "delay", "target": "app"}]), "after")
    assert f[0]["kind"] == "symptom" and "this is the recovery from incident" in f[0]["message"]


def test_a_p99_blip_alone_is_noise():
    """p99 of a few hundred requests moves with one stall of a shared machine: the symptom is
    judged on p50 and p95 (the message still quotes p99)."""
    base = phase("baseline", p99=2.7, p95=2.0, p50=1.0)
    blip = phase("incident", p99=28.5, p95=2.3, p50=1.0)
    f = first(summary([base, blip]))
    assert [x["kind"] for x in f] == ["no-change"] and "p95 2 ms → 2.3 ms" in f[0]["message"]


def test_burning_outranks_the_waiting_a_saturated_cpu_causes():
    """Seen on a loaded machine: a service computing every page also showed 25 goroutines blocked
    at its HTTP call (the block profile counts run-queue time); the CPU is the cause."""
    base = phase("baseline", profiles={"cpu": prof(2e8, 10, [("main.go", 5, 0.5)]),
                                       "block": prof(2.2e10, 10, [("main.go", 62, 0.5)])})
    inc = phase("incident", p99=2900, profiles={"cpu": prof(4.5e9, 10, [("main.go", 97, 0.96)]),
                                                "block": prof(2.55e11, 10, [("main.go", 62, 0.7)])})
    s = summary([base, inc], [change("cpu", "incident", [("main.go:97", 0, 0.96, 0, 4.3e8)]),
                              change("block", "incident", [("main.go:62", 0.5, 0.7, 1.1e9, 1.8e10)])])
    assert [x["kind"] for x in first(s)][:3] == ["burning", "symptom", "waiting"]


def goroutines(total_own: int, lines: list[tuple[str, int, float]]):
    return {"total": total_own + 6, "seconds": None, "unit": "count", "own_total": total_own,
            "lines": [{"file": f, "line": n, "function": "main.f", "share": s, "value": round(total_own * s)}
                      for f, n, s in lines]}


def test_a_wait_on_the_network_is_waiting_from_the_goroutine_peak(tmp_path):
    """N+1 round trips to a slow dependency: no block or mutex profile grows (a network wait is in
    neither); the phase's goroutine-peak snapshot holds the own goroutines, at the per-item call."""
    base = phase("baseline", p50=6, p95=8, profiles={"goroutine": goroutines(2, [("main.go", 56, 0.5)]),
                                                  "block": prof(1e6, 10, [("main.go", 30, 1.0)])})
    inc = phase("incident", p50=575, p95=600, p99=605, profiles={
        "goroutine": goroutines(2, [("main.go", 56, 0.5)]),
        "goroutine-peak": goroutines(25, [("main.go", 10, 0.8), ("main.go", 56, 0.04)]),
        "block": prof(1.2e6, 10, [("main.go", 30, 1.0)])}, runtime={"goroutines": {"max": 55}})
    f = first(summary([base, inc], tmp_path=tmp_path))
    assert f[0]["kind"] == "waiting", f
    ev = f[0]["evidence"]
    assert (ev["profile"], ev["blocked_before"], ev["blocked_after"]) == ("goroutine", 2, 25)
    assert (ev["line"]["profile"], ev["line"]["line"], ev["line"]["text"]) == ("goroutine-peak", 10, SRC_LINE)
    assert "25 goroutines were waiting in its code (goroutine-peak profile); baseline 2" in f[0]["message"]


def test_goroutines_alone_explain_only_a_symptom():
    """The same pile of goroutines with latency unchanged is no finding (a snapshot is one instant)."""
    base = phase("baseline", profiles={"goroutine": goroutines(2, [("main.go", 56, 0.5)])})
    inc = phase("incident", profiles={"goroutine": goroutines(2, [("main.go", 56, 0.5)]),
                                      "goroutine-peak": goroutines(25, [("main.go", 10, 0.8)])})
    assert [x["kind"] for x in first(summary([base, inc]))] == ["no-change"]
    few = phase("incident", p50=575, p95=600, profiles={"goroutine-peak": goroutines(4, [("main.go", 10, 1.0)]),
                                                         "goroutine": goroutines(2, [("main.go", 56, 0.5)])})
    assert [x["kind"] for x in first(summary([base, few]))] == ["symptom"]


def test_a_lock_is_named_where_goroutines_waited_not_where_it_was_released():
    """Both profiles grow under a contended mutex: the block profile (the Lock line) is preferred to
    the mutex profile (the Unlock line), even when the mutex profile's delay is larger."""
    base = phase("baseline", profiles={"block": prof(1e7, 10, [("main.go", 18, 1.0)]),
                                       "mutex": prof(1e7, 10, [("main.go", 24, 1.0)])})
    inc = phase("incident", p50=112, p95=1000, p99=1100, profiles={
        "block": prof(3e11, 10, [("main.go", 18, 0.97)]), "mutex": prof(4e11, 10, [("main.go", 24, 0.99)])})
    s = summary([base, inc], [change("block", "incident", [("main.go:18", 0.5, 0.97, 1e6, 2.9e10)]),
                              change("mutex", "incident", [("main.go:24", 0.5, 0.99, 1e6, 3.9e10)])])
    f = first(s)
    assert f[0]["kind"] == "waiting" and f[0]["evidence"]["profile"] == "block"
    assert f[0]["evidence"]["line"]["line"] == 18


def test_fault_parameters_read_in_the_units_their_kind_gives_them():
    """The report asks the kind (harness/faults/kinds) what each parameter is: no table of
    parameter names in the report (a memory_pressure size once printed as a raw byte count)."""
    text = verdict._fault_text
    assert text({"kind": "memory_pressure", "target": "app", "params": {"size": 256 << 20}}) == \
        "memory_pressure on app (size 256 MiB)"
    assert text({"kind": "delay", "target": "app", "peer": {"service": "db", "port": 5432},
                 "params": {"latency": 0.1, "jitter": 0.02, "correlation": 25.0}}) == \
        "delay on app to db:5432 (latency 100 ms, jitter 20 ms, correlation 25%)"
    assert text({"kind": "rate", "target": "app", "params": {"rate": 1_000_000, "burst": 32768}}) == \
        "rate on app (rate 1 Mbit/s, burst 32 KiB)"
    assert text({"kind": "cpu", "target": "app", "params": {"cpus": 0.2}}) == "cpu on app (cpus 0.2)"
    # a kind this version does not know (an older run): plain numbers, never a failure
    assert text({"kind": "gone", "target": "app", "params": {"level": 3}}) == "gone on app (level 3)"


def test_a_squeeze_is_a_resource_fault_of_any_resource_kind():
    base = phase("baseline", profiles={"cpu": prof(3e9, 10, [("main.go", 7, 0.7)])})
    inc = phase("incident", p99=300, profiles={"cpu": prof(3e9, 10, [("main.go", 7, 0.7)])},
                containers={"throttled_ms": 6000}, faults=["squeeze"])
    for kind, params in (("cpu", {"cpus": 0.2}), ("cpuset", {"cpus": "0"}), ("cpu_pressure", {"workers": 2})):
        s = summary([base, inc], faults=[{"id": "squeeze", "kind": kind, "target": "app", "params": params}])
        assert first(s)[0]["kind"] == "squeezed", kind
    s = summary([base, inc], faults=[{"id": "squeeze", "kind": "delay", "target": "app", "params": {"latency": 1}}])
    assert all(x["kind"] != "squeezed" for x in first(s))


def waits(lines: list[tuple[str, int, float, str]], seconds=10.0):
    """A phase's waits table (harness/report/waits.py): (file, line, seconds waiting per second, class)."""
    return {"source": "trace", "seconds": seconds,
            "lines": [{"file": f, "path": "/src/" + f, "line": n, "function": "main.fetch", "per_s": v,
                       "runnable_per_s": 0.0, "by_class": {c: v}, "class": c} for f, n, v, c in lines]}


def test_a_slow_dependency_is_waiting_on_the_network_at_the_calling_line(tmp_path):
    """The runtime trace's waits at the own line that calls the dependency grew: the first finding
    names that line, its class and seconds of waiting per second before -> after."""
    base = phase("baseline", p50=4, p95=6)
    base["waits"] = {"app": waits([("main.go", 10, 0.012, "network"), ("main.go", 30, 0.05, "sync")])}
    inc = phase("incident", p50=60, p95=110, p99=112)
    inc["waits"] = {"app": waits([("main.go", 10, 1.2, "network"), ("main.go", 30, 0.06, "sync")])}
    s = summary([base, inc], tmp_path=tmp_path)
    f = first(s)
    assert f[0]["kind"] == "waiting", f
    ev = f[0]["evidence"]
    assert (ev["profile"], ev["wait"], ev["waiting_before"], ev["waiting_after"]) == ("trace", "network", 0.012, 1.2)
    assert (ev["line"]["line"], ev["line"]["text"], ev["line"]["path"]) == (10, SRC_LINE, "/src/main.go")
    assert "waited on the network at main.go:10" in f[0]["message"]
    assert "12 ms → 1.2 s of waiting per second" in f[0]["message"]
    head = verdict.build(s)["phases"][0]["headline"]
    assert head.startswith("app waiting at main.go:10 (on the network, runtime trace): p99 10 ms → 112 ms")


def test_trace_waits_need_a_symptom_and_real_growth():
    """The same growth with latency unchanged is no finding (a stall of a shared machine moves a
    dependency's waits too); a line under 0.2 s/s, or under x3 its baseline, is none either."""
    def judged(before, after, **load):
        base, inc = phase("baseline", p50=4, p95=6), phase("incident", **load)
        base["waits"] = {"app": waits([("main.go", 10, before, "network")])}
        inc["waits"] = {"app": waits([("main.go", 10, after, "network")])}
        return [x["kind"] for x in first(summary([base, inc]))]

    assert judged(0.01, 1.2, p50=4, p95=6) == ["no-change"]
    assert judged(0.01, 0.15, p50=60, p95=110) == ["symptom"]
    assert judged(0.2, 0.5, p50=60, p95=110) == ["symptom"]
    assert judged(0.01, 0.5, p50=60, p95=110)[0] == "waiting"


def test_without_a_baseline_trace_the_block_profile_still_decides():
    base = phase("baseline", profiles={"block": prof(1e7, 10, [("main.go", 30, 0.9)])})
    inc = phase("incident", p99=5100, p50=900, profiles={"block": prof(2.4e12, 10, [("main.go", 10, 0.945)])})
    inc["waits"] = {"app": waits([("main.go", 10, 1.2, "sync")])}
    f = first(summary([base, inc], [change("block", "incident", [("main.go:10", 0.03, 0.945, 1e4, 2.3e11)])]))
    assert (f[0]["kind"], f[0]["evidence"]["profile"]) == ("waiting", "block")


def test_a_squeeze_quotes_the_scheduler_latency_the_traces_measured():
    """With a runtime trace of both phases, the squeeze says how much longer goroutines waited to
    run (runnable -> running); the expectation's sched_p99 metric reads the same figure."""
    from harness.judge.expect import METRICS
    from harness.judge.records import Phase

    base = phase("baseline", profiles={"cpu": prof(3e9, 10, [("main.go", 7, 0.7)])})
    inc = phase("incident", p99=300, profiles={"cpu": prof(3e9, 10, [("main.go", 7, 0.7)])},
                containers={"throttled_ms": 6000}, faults=["squeeze"])
    base["traces"] = {"app": {"sched_latency": {"count": 900, "p50_ms": 0.004, "p99_ms": 0.2}}}
    inc["traces"] = {"app": {"sched_latency": {"count": 700, "p50_ms": 0.02, "p99_ms": 48.0}}}
    s = summary([base, inc], faults=[{"id": "squeeze", "kind": "cpu", "target": "app", "params": {"cpus": 0.2}}])
    f = first(s)[0]
    assert f["kind"] == "squeezed"
    assert "goroutines waited longer to run (runnable → running, runtime trace): p50 4 µs → 20 µs, p99 " \
           "200 µs → 48 ms" in f["message"], f["message"]
    assert (f["evidence"]["sched_p99_ms_before"], f["evidence"]["sched_p99_ms_after"]) == (0.2, 48.0)
    assert METRICS["sched_p99"][1](Phase.of(inc), "app") == 48.0
    del inc["traces"]
    assert "runnable" not in first(summary([base, inc], faults=s["faults"]))[0]["message"]
