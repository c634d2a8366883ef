"""A small load for the capture tests: threads send requests to the service and the results
are written as load/history.jsonl and load/stats.json in the format of docs/DESIGN.md."""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from harness.runctx import PhaseWindow, RunContext


class Load:
    def __init__(self, rc: RunContext, base: str, plan: list[tuple[str, float]], threads: int = 3):
        self.rc, self.base, self.plan, self.n = rc, base, plan, threads
        self.results: list[tuple[float, float, bool, str]] = []   # (end_s, latency_ms, ok, endpoint)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        for i in range(self.n):
            t = threading.Thread(target=self._loop, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def _loop(self, i: int) -> None:
        k = i
        for _ in range(100000):          # bounded; stop() ends it long before
            if self._stop.is_set():
                return
            path, pause = self.plan[k % len(self.plan)]
            k += 1
            sent = time.monotonic()
            try:
                urllib.request.urlopen(self.base + path, timeout=10).read()
                ok = True
            except OSError:
                ok = False
            end = time.monotonic()
            with self._lock:
                self.results.append((self.rc.clock.at(end), (end - sent) * 1000, ok, path.split("?")[0]))
            if pause:
                self._stop.wait(pause)

    def write(self, run_dir: Path, phases: list[PhaseWindow]) -> None:
        phase_of = lambda t: next((p.name for p in phases if p.start_s <= t < p.end_s), None)  # noqa: E731
        secs = defaultdict(list)
        for end, lat, ok, ep in self.results:
            secs[int(end)].append((lat, ok))
        (run_dir / "load").mkdir(exist_ok=True)
        with open(run_dir / "load" / "history.jsonl", "w") as f:
            for s in sorted(secs):
                lats = sorted(lat for lat, _ in secs[s])
                pct = lambda q, lats=lats: round(lats[min(len(lats) - 1, int(q * len(lats)))], 3)
                f.write(json.dumps({"t_s": float(s + 1), "phase": phase_of(s + 0.5),
                                    "rps": float(len(lats)), "fps": float(sum(1 for _, ok in secs[s] if not ok)),
                                    "p50_ms": pct(0.5), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
                                    "max_ms": lats[-1], "users": self.n, "inflight": 0}) + "\n")
        by = defaultdict(list)
        for end, lat, ok, ep in self.results:
            by[(phase_of(end), ep)].append((lat, ok))
        phases = {}
        for (ph, ep), rows in by.items():
            if ph is None:
                continue
            lats = sorted(lat for lat, _ in rows)
            entry = {"name": ep, "method": "GET", "requests": len(rows),
                     "failures": sum(1 for _, ok in rows if not ok),
                     "p50_ms": lats[len(lats) // 2], "p95_ms": lats[int(0.95 * (len(lats) - 1))],
                     "p99_ms": lats[int(0.99 * (len(lats) - 1))], "max_ms": lats[-1]}
            phases.setdefault(ph, {"endpoints": []})["endpoints"].append(entry)
        (run_dir / "load" / "stats.json").write_text(json.dumps({"latency_basis": "sent", "phases": phases}))
