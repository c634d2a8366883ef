"""Off-CPU time of every service perf covers, per phase: where its threads were while they were not
running, runnable (the CPU quota, preemption) or sleeping (blocking syscalls, futexes, page faults),
as a pprof profile (harness/capture/offcpu.py says how). Recorded, converted and joined to the
trace's goroutines as perf's CPU samples are (harness/capture/kinds/perf.py).

    captures:
      offcpu: true                        # every phase; or {phases: [baseline, squeeze]}

Where the kernel or perf cannot record sched_switch, the run says so once (a capture-note) and
goes on without it."""
from __future__ import annotations

from pathlib import Path

from harness.capture import offcpu
from harness.capture.kind import CaptureRun
from harness.capture.kinds.perf import Perf
from harness.capture.perf import PerfRecording
from harness.runctx import PhaseWindow, ServiceInfo


class OffCpu(Perf):
    name = "offcpu"
    key = "offcpu"
    needs = ("local-engine", "perf", "go", "sched-switch")
    writes = ("offcpu",)
    sample_types = ["switches/count", "off_cpu/nanoseconds"]
    schema = {"description": "off-CPU time per phase (perf sched:sched_switch): where threads waited, "
                             "runnable or sleeping; true for every phase",
              "oneOf": [{"type": "boolean"},
                        {"type": "object", "additionalProperties": False,
                         "properties": {"phases": {"type": "array", "items": {"type": "string"}}}}]}

    @classmethod
    def parse(cls, node, ctx) -> dict | None:
        from harness.capture.spec import _phases
        if isinstance(node.value, bool):
            return {"phases": ctx.phase_names} if node.as_bool() else None
        keys = node.keys(["phases"])
        return {"phases": _phases(keys["phases"], ctx) if "phases" in keys else ctx.phase_names}

    @classmethod
    def wanted(cls, run: CaptureRun) -> bool:
        conf = run.spec.own.get(cls.key)
        return bool(conf and conf["phases"]) and bool(run.perf_services())

    def __init__(self, run: CaptureRun):
        super().__init__(run)
        self.able = True

    def start(self) -> None:
        ok, detail = offcpu.probe()
        if not ok:
            self.able = False
            self.rc.events.add("capture-note", f"no off-CPU profiles on this host: perf cannot record the "
                               f"scheduler's switches ({detail}); `harness doctor` checks it (sched-switch)")
            return
        super().start()

    def phases(self) -> tuple[str, ...]:
        return self.spec.own[self.key]["phases"] if self.able else ()

    def recording(self, svc: ServiceInfo, phase: PhaseWindow) -> PerfRecording:
        out = self.rc.run_dir / self.name / phase.name / svc.name / "perf.data"
        return PerfRecording(svc.pid, out, 0, self.rc.clock, events=offcpu.EVENTS)

    def convert_file(self, rec: PerfRecording, out: Path, join) -> dict:
        return offcpu.convert(rec.out, out, pid=rec.pid, exe=rec.exe, clock=self.rc.clock, go=self.run.go,
                              window=(rec.start_s, rec.end_s), join=join)
