"""What a traffic file holds, for `harness traffic FILE`: how long, how fast over time, which
endpoints (templated), which statuses, how slow (when the log has durations); and a `load:`
section to paste into a scenario.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.load import hist as H
from harness.traffic.formats import Source
from harness.traffic.names import Namer
from harness.traffic.privacy import HeaderFilter
from harness.traffic.timing import Timeline

SPARK = "▁▂▃▄▅▆▇█"


@dataclass
class TrafficSummary:
    path: Path
    format: str
    requests: int = 0
    bad: int = 0
    bad_lines: list[str] = field(default_factory=list)
    seconds: float = 0.0
    per_second: Counter = field(default_factory=Counter)     # whole second of the log -> requests
    endpoints: Counter = field(default_factory=Counter)      # (method, templated name) -> requests
    statuses: Counter = field(default_factory=Counter)
    spread: int = 0
    out_of_order: int = 0
    sensitive: Counter = field(default_factory=Counter)      # header name -> requests carrying it
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def mean_rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else float(self.requests)

    @property
    def peak_rps(self) -> int:
        return max(self.per_second.values(), default=0)


def summarize(path: Path, fmt: str = "auto") -> TrafficSummary:
    source = Source(path, fmt)
    timeline = Timeline(source)
    namer, headers = Namer(), HeaderFilter()
    lat = H.new_hist(3)
    out = TrafficSummary(path, source.format)
    durations = 0
    for off, e in timeline.one_pass():
        out.requests += 1
        out.per_second[math.floor(off)] += 1
        out.endpoints[(e.method, namer.name(e.target))] += 1
        out.statuses[e.status or 0] += 1
        headers.apply(e.headers)
        if e.duration is not None:
            durations += 1
            H.record_s(lat, e.duration)
        out.seconds = off
    c = timeline.counts
    out.bad, out.bad_lines = source.bad, source.bad_lines()
    out.spread, out.out_of_order = c.spread, c.out_of_order
    out.sensitive = headers.dropped
    if out.requests == 0:
        raise no_requests(path, source)
    out.seconds = max(out.seconds, 1.0) if out.requests > 1 else 1.0
    if durations:
        ms = H.summary_ms(lat)
        out.latency_ms = {k: ms[k] for k in ("p50", "p90", "p95", "p99", "p99.9", "max")}
    return out


def no_requests(path: Path, source: Source) -> HarnessError:
    seen = f"{source.bad} line(s), none a request" + (":\n    " + "\n    ".join(source.bad_lines())
                                                       if source.bad_lines() else "")
    return HarnessError(f"no request could be read from the traffic file (as {source.format})", where=str(path),
                        seen=seen, hint="formats: combined (nginx/Apache), jsonl (ts, method, url per line), "
                                        "har; set replay.format or --format if the guess was wrong")


def sparkline(per_second: Counter, seconds: float, width: int = 60) -> tuple[str, float]:
    """The rate over time in `width` columns (and the seconds each column stands for)."""
    n = max(1, math.ceil(seconds))
    cols = min(width, n)
    step = n / cols
    sums = [0] * cols
    for k, v in per_second.items():
        if 0 <= k < n:
            sums[min(int(k / step), cols - 1)] += v
    rates = [s / step for s in sums]
    top = max(rates, default=0) or 1
    return "".join(SPARK[min(len(SPARK) - 1, int(r / top * (len(SPARK) - 1) + 0.5))] for r in rates), step


def scenario_snippet(s: TrafficSummary, path_text: str) -> str:
    """A load section replaying the file, to paste into a scenario."""
    lines = [f"# {s.requests} requests over {s.seconds:.0f} s (mean {s.mean_rps:.1f}/s, peak {s.peak_rps}/s);",
             "# phases should add up to the replayed window's length (at speed 1)",
             "load:",
             "  target: {service: api, port: 8080}     # your service and port",
             "  model: replay",
             "  replay:",
             f"    file: {path_text}",
             f"    format: {s.format}",
             "    speed: 1"]
    if s.sensitive:
        lines.append(f"    # dropped unless kept: {', '.join(sorted(s.sensitive))} (keep_headers: [...])")
    return "\n".join(lines)
