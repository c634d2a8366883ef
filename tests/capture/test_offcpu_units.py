"""Off-CPU intervals from perf's switch records and sched_switch call chains (pure), and the
profile they become."""
from __future__ import annotations

import pytest

from harness.capture.offcpu import RUNNABLE, SLEEPING, intervals, to_samples
from harness.capture.perf import to_profile

# `perf script --show-switch-events -F comm,pid,tid,time,event,ip,sym,symoff,dso --ns` of a
# process that slept in nanosleep, then was preempted; its second thread (12) is still out at
# the end of the recording.
SCRIPT = """\
app 10/10 100.000000000: PERF_RECORD_SWITCH IN         
app 10/10 100.001000000: sched:sched_switch: 
\tffffffff82248208 __schedule+0x628 ([kernel.kallsyms])
\tffffffff8224fbde do_nanosleep+0x5e ([kernel.kallsyms])
\t          4a1b20 main.nap+0x40 (/app)
\t          4a0000 main.main+0x10 (/app)

app 10/10 100.001010000: PERF_RECORD_SWITCH OUT        
app 10/12 100.002000000: sched:sched_switch: 
\tffffffff82248208 __schedule+0x628 ([kernel.kallsyms])
\t          4a2000 runtime.futex+0x23 (/app)

app 10/12 100.002005000: PERF_RECORD_SWITCH OUT        
app 10/10 100.006010000: PERF_RECORD_SWITCH IN         
app 10/10 100.007000000: sched:sched_switch: 
\tffffffff82248208 __schedule+0x628 ([kernel.kallsyms])
\tffffffff81000e06 asm_sysvec_apic_timer_interrupt+0x16 ([kernel.kallsyms])
\t          4a3000 main.burn+0x99 (/app)

app 10/10 100.007001000: PERF_RECORD_SWITCH OUT preempt
app 10/10 100.009001000: PERF_RECORD_SWITCH IN         
app 10/10 100.009500000: PERF_RECORD_SWITCH OUT        
"""


def test_one_interval_per_switch_out_charged_to_where_the_thread_stopped():
    ivs, unstacked = intervals(SCRIPT, until=100.010)
    user = [next(sym for sym, _off, dso in iv.frames if dso != "[kernel.kallsyms]") for iv in ivs]
    got = [(iv.tid, iv.state, round((iv.end - iv.start) * 1e3, 3), frame) for iv, frame in zip(ivs, user)]
    assert got == [(10, SLEEPING, 5.0, "main.nap"),               # OUT at .001010, IN at .006010
                   (12, SLEEPING, 7.995, "runtime.futex"),        # still out: charged until the end
                   (10, RUNNABLE, 2.0, "main.burn")]              # OUT preempt: it wanted the CPU
    assert unstacked == 1       # the last OUT had no sched_switch sample before it
    assert ivs[0].frames[2] == ("main.nap", 0x40, "/app")


def test_without_an_end_a_thread_still_out_is_left_out():
    ivs, _ = intervals(SCRIPT)
    assert [iv.tid for iv in ivs] == [10, 10]


def test_the_profile_holds_off_cpu_nanoseconds_and_the_state():
    ivs, _ = intervals(SCRIPT, until=100.010)
    msg = to_profile(to_samples(ivs), mono_t0=99.0, wall_t0=1000.0, period_ns=1,
                     count_type=("switches", "count"), value_type=("off_cpu", "nanoseconds"),
                     window=(100.0, 100.010))
    s = msg.string_table
    assert [(s[t.type], s[t.unit]) for t in msg.sample_type] == [("switches", "count"), ("off_cpu", "nanoseconds")]
    assert [list(smp.value) for smp in msg.sample] == [[1, 5_000_000], [1, 7_995_000], [1, 2_000_000]]
    states = [next(s[lb.str] for lb in smp.label if s[lb.key] == "state") for smp in msg.sample]
    assert states == ["sleeping", "sleeping", "runnable"]
    assert msg.time_nanos == pytest.approx(1001.0e9) and msg.duration_nanos == pytest.approx(10e6, abs=1)


def test_a_host_without_sched_switch_says_so_once_and_records_nothing(tmp_path, monkeypatch):
    from harness.capture import offcpu
    from harness.capture.manager import CaptureManager
    from harness.capture.spec import CaptureSpec
    from harness.runctx import Clock, PhaseWindow, RunContext, ServiceInfo

    monkeypatch.setattr(offcpu, "probe", lambda: (False, "perf record -e sched:sched_switch failed"))
    svc = ServiceInfo("api", "", "api", 0, {}, {}, "http://127.0.0.1:9/debug/pprof")
    rc = RunContext.of("t", tmp_path, Clock.start(), {"api": svc})
    spec = CaptureSpec(pprof=(), runtime=None, stats_interval=0, own={"offcpu": {"phases": ("a", "b")}})
    m = CaptureManager(spec, rc)
    assert "OffCpu" in [type(c).__name__ for c in m.captures]
    m.start()
    for name in ("a", "b"):
        m.phase_start(PhaseWindow(name, 0.0, 1.0))
        m.phase_end(PhaseWindow(name, 0.0, 1.0))
    m.stop()
    events = [(e["kind"], e["detail"]) for e in rc.events.all() if e.get("capture") == "offcpu"
              or "off-CPU" in e["detail"]]
    assert len(events) == 1 and events[0][0] == "capture-note", rc.events.all()
    assert "sched:sched_switch failed" in events[0][1] and "harness doctor" in events[0][1]
    assert rc.artifacts.all() == [] and not (tmp_path / "offcpu").exists()
