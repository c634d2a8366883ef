"""Container statistics (cgroup CPU, throttling, memory, network, every stats_interval) and the
engine's container events (OOM kills, restarts) for every service with a container."""
from __future__ import annotations

from harness.capture.kind import Capture, CaptureRun
from harness.capture.stats import DockerEvents, StatsSampler


class Containers(Capture):
    name = "container-stats"
    writes = ("container-stats",)

    def __init__(self, run: CaptureRun):
        super().__init__(run)
        self.sampler: StatsSampler | None = None
        self.events: DockerEvents | None = None

    @classmethod
    def wanted(cls, run: CaptureRun) -> bool:
        return True         # the event watcher always runs: an OOM kill is evidence in any run

    def start(self) -> None:
        containers = self.run.container_services()
        if self.spec.stats_interval > 0 and containers:
            self.sampler = StatsSampler(self.rc, containers, self.spec.stats_interval, self.run.restarts)
            self.sampler.start()
        self.events = DockerEvents(self.rc, containers, self.run.restarts)
        self.events.start()

    def progress(self) -> dict[str, dict]:
        return dict(self.sampler.latest) if self.sampler is not None else {}

    def finish(self, deadline: float) -> None:
        if self.sampler is not None:
            self.sampler.stop()
            ticks = max(1, self.sampler.ticks)
            self.rc.artifacts.add("container-stats", self.sampler.path,
                                  sample_ms=round(self.sampler.cost_s / ticks * 1000, 3))
        if self.events is not None:
            self.events.stop()
