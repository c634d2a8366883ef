"""The replay model's arrivals for one load worker: a traffic file's requests at their own times
(harness/traffic/timing.py), as RequestSpecs named by their templated paths, with credential
headers dropped. Pure logic: the worker sends each at its time like an open-model arrival."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from harness.load.spec import RequestSpec
from harness.traffic.formats import Source
from harness.traffic.names import Namer
from harness.traffic.privacy import HeaderFilter
from harness.traffic.spec import ReplaySpec
from harness.traffic.timing import Timeline, for_worker


class ReplayArrivals:
    """(run time, request) for worker `index` of `workers`. prime() reads the file up to its first
    request (the reorder horizon's worth of lines) before the timeline is known; between(start_s,
    end_s) then puts the replay's start at start_s and sends nothing at or after end_s."""

    def __init__(self, spec: ReplaySpec, *, index: int = 0, workers: int = 1):
        self.spec = spec
        self.source = Source(Path(spec.file), spec.format)
        self.timeline = Timeline(self.source, spec.window())
        self.namer = Namer(spec.rules())
        self.headers = HeaderFilter(spec.keep_headers, spec.drop_headers, keep_host=not spec.rewrite_host)
        self.beyond_end = False
        self.sent = 0
        self._arrivals = for_worker(self.timeline, index, workers)
        self._first: tuple | None = None

    def prime(self) -> None:
        self._first = next(self._arrivals, None)

    def between(self, start_s: float, end_s: float) -> Iterator[tuple[float, RequestSpec]]:
        first = [self._first] if self._first is not None else []
        for t, e in itertools.chain(first, self._arrivals):
            at = start_s + t
            if at >= end_s:
                self.beyond_end = True
                return
            self.sent += 1
            yield at, self._request(e)

    def _request(self, e) -> RequestSpec:
        headers = e.headers
        if e.host and not self.spec.rewrite_host and not any(k.lower() == "host" for k, _ in headers):
            headers = (("Host", e.host),) + headers
        return RequestSpec(self.namer.name(e.target), e.method, e.target,
                           headers=self.headers.apply(headers), body=e.body)

    def report(self) -> dict:
        """What this worker's pass over the file did: the file's counts are the same in every worker;
        sent and the headers count the worker's own requests."""
        return {"file": self.spec.file, "format": self.source.format, "speed": self.spec.speed,
                "bad_lines": self.source.bad, "first_bad": self.source.bad_lines(),
                "ended_by_load_window": self.beyond_end, "sent": self.sent, "endpoints": len(self.namer.seen),
                "headers_dropped": dict(self.headers.dropped), "headers_kept": list(self.spec.keep_headers),
                **self.timeline.counts.to_json()}
