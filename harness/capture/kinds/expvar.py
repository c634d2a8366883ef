"""The service's own counters: every `interval`, each pprof service's expvar page (`/debug/vars`,
Go's standard expvar package) is read and its numbers written, one line per sample, to
expvar/<service>.jsonl: {"t_s", "phase", "vars": {name: number}} (nested maps as "map.key";
memstats and cmdline left out: the runtime capture has the first, the second is no number).

    captures:
      expvar: {interval: 1s, path: /debug/vars}      # or: expvar: true
"""
from __future__ import annotations

import json
import threading

from harness.capture import pprof
from harness.capture.kind import Capture, CaptureRun
from harness.runctx import PhaseWindow, ServiceInfo

SKIP = ("memstats", "cmdline")
MAX_VARS = 500            # a page with more numbers than this is cut (and says so once)


class Expvar(Capture):
    name = "expvar"
    key = "expvar"
    writes = ("expvar",)
    schema = {"description": "the services' expvar counters (/debug/vars) every interval; true for the defaults",
              "oneOf": [{"type": "boolean"},
                        {"type": "object", "additionalProperties": False,
                         "properties": {"interval": {"type": ["number", "string"], "default": "1s"},
                                        "path": {"type": "string", "default": "/debug/vars"}}}]}

    @classmethod
    def parse(cls, node, ctx) -> dict | None:
        if isinstance(node.value, bool):
            return {"interval": 1.0, "path": "/debug/vars"} if node.as_bool() else None
        keys = node.keys(["interval", "path"])
        path = keys["path"].as_str() if "path" in keys else "/debug/vars"
        if not path.startswith("/"):
            raise keys["path"].error("expected a path on the service's pprof port", seen=repr(path),
                                     hint="like /debug/vars")
        return {"interval": keys["interval"].as_duration(min=0.1, max=60) if "interval" in keys else 1.0,
                "path": path}

    @classmethod
    def wanted(cls, run: CaptureRun) -> bool:
        return bool(run.spec.own.get(cls.key)) and bool(run.pprof_services())

    def __init__(self, run: CaptureRun):
        super().__init__(run)
        self.conf = run.spec.own[self.key]
        self.phase: str | None = None
        self.rows: dict[str, int] = {}
        self.cut: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="capture-expvar", daemon=True)

    def start(self) -> None:
        (self.rc.run_dir / "expvar").mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def phase_start(self, phase: PhaseWindow) -> None:
        self.phase = phase.name

    def phase_end(self, phase: PhaseWindow):
        if self.phase == phase.name:
            self.phase = None
        return ()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.spec.fetch_timeout + 1)

    def finish(self, deadline: float) -> None:
        for svc in self.run.pprof_services():
            if self.rows.get(svc.name):
                self.rc.artifacts.add("expvar", self._path(svc), service=svc.name, samples=self.rows[svc.name])

    def _path(self, svc: ServiceInfo):
        return self.rc.run_dir / "expvar" / f"{svc.name}.jsonl"

    def _loop(self) -> None:
        failed: set[str] = set()
        while not self._stop.is_set():
            for svc in self.run.pprof_services():
                try:
                    self._sample(svc)
                except (pprof.FetchError, ValueError, OSError) as e:
                    if svc.name not in failed:       # once per service: a page that is not there
                        failed.add(svc.name)
                        self.run.failed(svc.name, self.phase, "expvar", str(e))
            self._stop.wait(self.conf["interval"])

    def _sample(self, svc: ServiceInfo) -> None:
        url = pprof.origin(svc.pprof_url) + self.conf["path"]
        page = json.loads(pprof.http_get(url, self.spec.fetch_timeout))
        numbers = flatten(page)
        if len(numbers) > MAX_VARS and svc.name not in self.cut:
            self.cut.add(svc.name)
            self.rc.events.add("capture-note", f"expvar of {svc.name}: {len(numbers):,} numbers, the first "
                               f"{MAX_VARS} kept", service=svc.name, capture="expvar")
        line = {"t_s": round(self.rc.clock.now(), 3), "phase": self.phase,
                "vars": dict(list(numbers.items())[:MAX_VARS])}
        with open(self._path(svc), "a") as f:
            f.write(json.dumps(line) + "\n")
        self.rows[svc.name] = self.rows.get(svc.name, 0) + 1


def flatten(page: dict, prefix: str = "", depth: int = 2) -> dict[str, float]:
    """The numbers of an expvar page, nested maps as "map.key" (up to `depth` levels)."""
    out: dict[str, float] = {}
    for name, value in (page.items() if isinstance(page, dict) else ()):
        if not prefix and name in SKIP:
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[prefix + name] = value
        elif isinstance(value, dict) and depth > 1:
            out.update(flatten(value, f"{prefix}{name}.", depth - 1))
    return out
