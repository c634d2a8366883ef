"""Captures and the report against a real Go service in a real container.

Two phases: `baseline` (5.5 s, so that its 4 s CPU profile holds some 400 samples), then
`squeeze` (3.5 s: the container's CPU quota cut to 0.2 cores, a real fault). CaptureManager
takes every pprof kind, a trace in the squeeze phase, perf and off-CPU time in both; then write_all builds
summary.json, report.html and junit.xml; headless Chromium renders the report and the
screenshot must show the fault shading.
"""
from __future__ import annotations

import gzip
import json
import shutil
import statistics
import time
from collections import defaultdict
from pathlib import Path

import pytest

from harness import proc
from harness.capture import offcpu
from harness.capture.manager import CaptureManager
from harness.capture.spec import CaptureSpec, RatesSpec, WindowSpec
from harness.report.plots import FAULT_FILL
from harness.report.writer import write_all
from harness.runctx import Clock, PhaseWindow, RunContext
from rundir.gosource import go_binary
from rundir.pprof import line_costs, load_profile
from rundir.pprof.proto import Profile
from tests.hotspots import assert_agree, assert_hot_line, own_lines

from .loadgen import Load
from .pngread import pixels

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "test-artifacts" / "report"
GOAPP_LINES = (Path(__file__).parent / "goapp" / "main.go").read_text().splitlines()
HOT_LINE = next(i for i, text in enumerate(GOAPP_LINES, 1) if "// HOT LINE" in text)
NAP_LINE = next(i for i, text in enumerate(GOAPP_LINES, 1) if "// NAP LINE" in text)
PHASES = [PhaseWindow("baseline", 0.5, 6.0), PhaseWindow("squeeze", 6.0, 9.5)]
EXPECT = """name: e2e
expect:
  - phase: baseline
    error_rate: 1%
    no_oom_kill: true
  - phase: squeeze
    latency: {p50: 1ms}
    top:
      - {profile: cpu, function: main.burn, n: 5}
"""


def _drive(rc: RunContext, manager: CaptureManager, squeeze) -> None:
    manager.start()
    for phase in PHASES:
        _sleep_until(rc, phase.start_s)
        manager.phase_start(phase)
        if phase.name == "squeeze":
            squeeze(True)
        _sleep_until(rc, phase.end_s)
        if phase.name == "squeeze":
            squeeze(False)
        manager.phase_end(phase)


def _sleep_until(rc: RunContext, t_s: float) -> None:
    delay = t_s - rc.clock.now()
    if delay > 0:
        time.sleep(delay)


@pytest.fixture(scope="module")
def run_dir(capapp, docker_client, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    able, _ = offcpu.probe()        # asked once per process: before the clock starts, not in phase 1
    clock = Clock.start()
    rc = RunContext.of("e2e", run, clock, {"api": capapp})
    spec = CaptureSpec(pprof=("cpu", "heap", "allocs", "goroutine", "block", "mutex"),
                       rates=RatesSpec("/debug/harness/rates", 10000, 5), trace=WindowSpec(("squeeze",), 2),
                       perf=WindowSpec(("baseline", "squeeze"), frequency=199),
                       own={"offcpu": {"phases": ("baseline", "squeeze")}} if able else {})
    container = docker_client.containers.get(capapp.container_id)
    fault = {"id": "f1", "kind": "cpu-squeeze", "target": "api", "phase": "squeeze", "backend": "docker"}

    def squeeze(on: bool) -> None:
        container.update(cpu_quota=20000 if on else 100000, cpu_period=100000)
        fault["applied_s" if on else "reverted_s"] = clock.now()
        rc.events.add("fault-applied" if on else "fault-reverted", "cpu quota 0.2", service="api")

    load = Load(rc, f"http://127.0.0.1:{capapp.published[8080]}",
                [("/spin?n=8000000", 0.0), ("/spin?n=8000000", 0.0), ("/lock", 0.0), ("/alloc", 0.01),
                 ("/nap?ms=5", 0.0)])
    manager = CaptureManager(spec, rc)
    load.start()
    try:
        _drive(rc, manager, squeeze)
    finally:
        load.stop()
        manager.stop()
        container.update(cpu_quota=100000, cpu_period=100000)
    load.write(run, PHASES)
    manifest = {"schema_version": 1, "run_id": "e2e", "scenario": {"name": "e2e"}, "clock": clock.to_json(),
                "phases": [{"name": p.name, "start_s": p.start_s, "end_s": p.end_s,
                            "faults": ["f1"] if p.name == "squeeze" else []} for p in PHASES],
                "baseline_phase": "baseline",
                "services": {"api": {"container": capapp.container_id, "source_root": capapp.source_root,
                                     "module": capapp.module, "limits": capapp.limits}},
                "artifacts": rc.artifacts.all(), "faults": [fault], "events": rc.events.all(),
                "result": {"status": "completed", "exit_code": 0, "end_s": clock.now()}}
    (run / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (run / "scenario.yaml").write_text(EXPECT)
    return run


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def _artifact(run_dir, kind, phase):
    found = [a for a in _manifest(run_dir)["artifacts"] if a["kind"] == kind and a["phase"] == phase]
    assert found, f"no {kind} artifact for {phase}; events: {_manifest(run_dir)['events']}"
    return found[0]


@pytest.mark.parametrize("kind", ["cpu", "heap", "allocs", "goroutine", "block", "mutex"])
@pytest.mark.parametrize("phase", PHASES, ids=lambda p: p.name)
def test_per_phase_profiles_have_their_window(run_dir, kind, phase):
    a = _artifact(run_dir, kind, phase.name)
    assert a["path"] == f"profiles/{phase.name}/api/{kind}.pb.gz"
    prof = load_profile(run_dir / a["path"])
    assert a["sample_types"] == [f"{t}/{u}" for t, u in prof.sample_types]
    assert phase.start_s - 0.05 <= a["start_s"] <= a["end_s"] <= phase.end_s + 1.0, a
    if kind == "cpu":     # the CPU window is the phase minus the 1 s margin, on the profile's own clock
        asked = int(phase.end_s - phase.start_s - 1.0)
        assert a["end_s"] - a["start_s"] == pytest.approx(asked, abs=0.5)
    if kind in ("block", "mutex", "allocs"):
        assert a["window"] == "delta"
        assert a["start_s"] - phase.start_s < 0.5 and a["end_s"] >= phase.end_s


def test_mutex_delta_shows_the_lock_handler(run_dir):
    prof = load_profile(run_dir / _artifact(run_dir, "mutex", "baseline")["path"])
    costs = line_costs(prof, prof.index_of("delay"), is_own=lambda f: f.endswith("goapp/main.go"))
    assert prof.total(prof.index_of("delay")) > 0
    assert any(c.function == "main.lock" and c.own > 0 for c in costs.values())


def test_trace_and_derived_views_parse(run_dir):
    a = _artifact(run_dir, "trace", "squeeze")
    summary = json.loads((run_dir / a["summary"]).read_text())
    # /alloc builds 2000 strings per request during the window: the collector must have run
    assert summary["goroutines_created"] > 0 and summary["gc"]["cycles"] >= 1, summary["gc"]
    assert PHASES[1].start_s - 0.05 <= summary["start_s"] < summary["end_s"] <= PHASES[1].end_s
    assert summary["end_s"] - summary["start_s"] == pytest.approx(2.0, abs=0.3)
    for view in ("sched", "sync", "net", "syscall"):
        derived = _artifact(run_dir, f"trace-{view}", "squeeze")
        load_profile(run_dir / derived["path"])
    assert any(v > 0 for v in summary["blocked_ms"].values())


def _own_lines(path: Path):
    return own_lines(path, "cpu", is_own=lambda f: f.endswith("goapp/main.go"))


def test_cpu_profile_puts_the_hot_line_on_top(run_dir):
    cpu = _own_lines(run_dir / _artifact(run_dir, "cpu", "baseline")["path"])
    # two of every four requests hash 8 MB: the hot line holds most of the service's CPU. About
    # 265 samples on a quiet machine, 245 with one core kept busy while the whole suite ran:
    # 150 still puts the share's standard error near 4% (the hot line holds about 60%)
    assert_hot_line(cpu, "main.go", HOT_LINE, min_share=0.5, min_samples=150)


def test_perf_profile_opens_in_pprof_and_agrees_with_cpu(run_dir):
    a = _artifact(run_dir, "perf", "baseline")
    assert a["symbolized"] and a["samples"] > 50
    res = proc.run([go_binary(), "tool", "pprof", "-top", "-lines", str(run_dir / a["path"])], timeout=60)
    assert "main.go:" in res.stdout
    perf = _own_lines(run_dir / a["path"])
    cpu = _own_lines(run_dir / _artifact(run_dir, "cpu", "baseline")["path"])
    print("perf:", perf.table(), "\ncpu:", cpu.table())
    assert_agree(perf, cpu, HOT_LINE)
    assert perf.top_function() == "main.burn"
    # samples lie inside the recorded window, which starts at the phase start and ends when
    # phase_end stopped perf
    assert PHASES[0].start_s - 0.05 <= a["start_s"] <= a["first_s"] <= a["last_s"] <= a["end_s"]
    assert a["end_s"] >= PHASES[0].end_s


def _offcpu_by_own_line(path: Path) -> dict[tuple[str, int], list[int]]:
    """(state, line of main.go) -> the off-CPU intervals (ns) charged to that own line: the
    innermost frame of the capture app's own code on the stack where the thread stopped."""
    msg = Profile()
    msg.ParseFromString(gzip.decompress(path.read_bytes()))
    s = msg.string_table
    funcs = {f.id: s[f.filename] for f in msg.function}
    lines = {loc.id: [(funcs[ln.function_id], ln.line) for ln in loc.line] for loc in msg.location}
    out: dict[tuple[str, int], list[int]] = defaultdict(list)
    for smp in msg.sample:
        state = next(s[lb.str] for lb in smp.label if s[lb.key] == "state")
        own = next((line for loc in smp.location_id for f, line in lines[loc] if f.endswith("goapp/main.go")), None)
        if own is not None:
            out[(state, own)].append(smp.value[1])
    return out


def test_offcpu_profile_names_where_threads_slept_and_waited_for_the_cpu(run_dir):
    able, why = offcpu.probe()
    if not able:
        pytest.skip(f"this host cannot record the scheduler's switches: {why}")
    base = _artifact(run_dir, "offcpu", "baseline")
    squeeze = _artifact(run_dir, "offcpu", "squeeze")
    print("baseline:", {k: base[k] for k in ("switches", "unstacked", "runnable_s", "sleeping_s")},
          "squeeze:", {k: squeeze[k] for k in ("switches", "unstacked", "runnable_s", "sleeping_s")})
    assert base["symbolized"] and base["switches"] > 50
    res = proc.run([go_binary(), "tool", "pprof", "-top", "-lines", str(run_dir / base["path"])], timeout=60)
    assert "main.go:" in res.stdout
    # /nap sleeps 5 ms in nanosleep: its thread leaves the CPU at the nap line, sleeping, and
    # comes back no sooner than the sleep asked
    naps = _offcpu_by_own_line(run_dir / base["path"])[("sleeping", NAP_LINE)]
    assert len(naps) >= 10, _offcpu_by_own_line(run_dir / base["path"]).keys()
    assert statistics.median(naps) >= 4e6, naps
    # at 0.2 cores the threads hashing in burn wait for the CPU (throttled, runnable) at the hot
    # line: it is the line with the most runnable time, most of it, and a good part of the
    # phase. Measured: quiet, well over a second of the 3.7 s; with one core kept busy 1.0-1.2 s,
    # 54% of the runnable own time (a busy core also preempts the baseline: 1.2 s in 5.5 s,
    # 0.22 s per second against the squeeze's 0.33)
    by_line = _offcpu_by_own_line(run_dir / squeeze["path"])
    runnable = {line: sum(v) / 1e9 for (state, line), v in by_line.items() if state == "runnable"}
    seconds = squeeze["end_s"] - squeeze["start_s"]
    assert max(runnable, key=runnable.get) == HOT_LINE, runnable
    assert runnable[HOT_LINE] >= 0.4 * sum(runnable.values()), runnable
    assert runnable[HOT_LINE] >= 0.15 * seconds, (runnable[HOT_LINE], seconds)
    # and more of it per second than in the baseline, where nothing throttles the service
    before = sum(_offcpu_by_own_line(run_dir / base["path"]).get(("runnable", HOT_LINE), [])) / 1e9
    assert runnable[HOT_LINE] / seconds >= 1.2 * before / (base["end_s"] - base["start_s"]), (runnable, before)
    # the profile's window is the phase's (perf stopped at phase end)
    assert PHASES[1].start_s - 0.05 <= squeeze["start_s"] < squeeze["end_s"] <= PHASES[1].end_s + 1.0


def _perf_samples(path: Path) -> list[dict]:
    """Each sample of a perf-based profile: its labels and the innermost own line on its stack."""
    msg = Profile()
    msg.ParseFromString(gzip.decompress(path.read_bytes()))
    s = msg.string_table
    funcs = {f.id: s[f.filename] for f in msg.function}
    lines = {loc.id: [(funcs[ln.function_id], ln.line) for ln in loc.line] for loc in msg.location}
    out = []
    for smp in msg.sample:
        row = {s[lb.key]: (s[lb.str] if lb.str else lb.num) for lb in smp.label}
        row["own"] = next((line for loc in smp.location_id for f, line in lines[loc] if f.endswith("goapp/main.go")),
                          None)
        out.append(row)
    return out


def test_perf_samples_say_which_goroutine_ran_them(run_dir):
    """In the squeeze phase, which has a runtime trace, perf's samples are joined to the goroutines
    the trace saw on their threads: a sample of the hot line ran on a request's goroutine, the one
    net/http started for its connection (a wrong join lands on GC workers, idle threads or none)."""
    summary = json.loads((run_dir / _artifact(run_dir, "trace", "squeeze")["summary"]).read_text())
    lo, hi = summary["start_s"] * 1000, summary["end_s"] * 1000
    a = _artifact(run_dir, "perf", "squeeze")
    assert a["on_goroutines"] > 0, a
    hot = [r for r in _perf_samples(run_dir / a["path"]) if r["own"] == HOT_LINE and lo <= r["t_ms"] <= hi]
    joined = [r for r in hot if "goroutine" in r]
    print(f"{len(hot)} hot-line samples in the trace window, {len(joined)} on a goroutine; starts:",
          sorted({r.get("goroutine_start") for r in joined}, key=str))
    assert len(hot) >= 10 and len(joined) >= 0.8 * len(hot), (len(hot), len(joined))
    started = [r["goroutine_start"] for r in joined if "goroutine_start" in r]
    assert started and sum(fn == "net/http.(*conn).serve" for fn in started) >= 0.9 * len(started), started
    # the baseline has no trace: nothing to join, no labels
    base = _artifact(run_dir, "perf", "baseline")
    assert "on_goroutines" not in base and not any("goroutine" in r for r in _perf_samples(run_dir / base["path"]))
    # off-CPU intervals are joined the same way: /nap's sleeps are on request goroutines too
    off = _artifact(run_dir, "offcpu", "squeeze") if offcpu.probe()[0] else None
    if off is not None:
        naps = [r for r in _perf_samples(run_dir / off["path"]) if r["own"] == NAP_LINE and lo <= r["t_ms"] <= hi]
        assert off["on_goroutines"] > 0 and len(naps) >= 5, (off, len(naps))
        assert sum("goroutine" in r for r in naps) >= 0.9 * len(naps), naps[:5]


def test_container_stats_show_the_squeeze(run_dir):
    rows = [json.loads(x) for x in (run_dir / "stats" / "containers.jsonl").read_text().splitlines()]
    assert {"cpu_pct", "throttled_ms", "mem_bytes", "mem_limit", "rx_bytes", "restarts"} <= set(rows[-1])
    assert rows[-1]["mem_limit"] == 256 << 20
    squeezed = [r for r in rows if PHASES[1].start_s + 1.5 <= r["t_s"] <= PHASES[1].end_s]
    assert sum(r["throttled_ms"] or 0 for r in squeezed) > 100
    assert max(r["cpu_pct"] or 0 for r in squeezed) < 40        # 0.2 cores = 20 %


def test_report_files_and_failing_expectation(run_dir):
    summary = write_all(run_dir)
    assert json.loads((run_dir / "summary.json").read_text())["schema_version"] == 1
    exp = summary["expect"]
    assert not exp["passed"] and exp["failed"] == 1, exp
    failed = next(c for c in exp["checks"] if not c["passed"])
    assert failed["phase"] == "squeeze" and failed["name"] == "latency p50" and failed["observed"] > 1
    junit = (run_dir / "junit.xml").read_text()
    assert 'failures="1"' in junit and "squeeze: latency p50" in junit and "over by" in junit
    squeeze = next(p for p in summary["phases"] if p["name"] == "squeeze")
    assert squeeze["containers"]["api"]["throttled_ms"] > 100
    assert squeeze["profiles"]["api"]["cpu"]["functions"][0]["function"] in ("main.burn", "main.spin")
    assert any(c["kind"] == "cpu" and c["phase"] == "squeeze" for c in summary["changes"])
    assert squeeze["traces"]["api"]["gc"] == json.loads(
        (run_dir / _artifact(run_dir, "trace", "squeeze")["summary"]).read_text())["gc"]


def test_report_screenshot_shows_phase_and_fault_shading(run_dir):
    write_all(run_dir)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "report.html", ARTEFACTS / "report.html")
    shot = ARTEFACTS / "report.png"
    shot.unlink(missing_ok=True)
    proc.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--screenshot={shot}", "--window-size=1100,1000", (ARTEFACTS / "report.html").as_uri()],
             timeout=90)
    _w, _h, counts = pixels(shot)
    fault = bytes.fromhex(FAULT_FILL[1:])
    assert len(counts) > 20, "the screenshot looks blank"
    assert counts[fault] > 2000, f"fault shading {FAULT_FILL} not in the screenshot: {counts.most_common(5)}"
    assert counts[bytes.fromhex("eef2f7")] > 2000, "phase shading not in the screenshot"
