"""delay: added latency with jitter. netem delays every packet (handshake included); the proxy
delays each chunk of data in the faulted direction (handshake and close not delayed): every chunk
read is written `latency + jitter` after it was read, order kept; jitter draws are stratified
(every 16 draws cover the range evenly) and timer lateness is corrected (median lateness 0)."""
from __future__ import annotations

import asyncio
import sys
import time
from statistics import NormalDist

from harness.faults.backends import proxy
from harness.faults.kinds._params import CORRELATION, DURATION, NetKind, correlated, correlation, ms, need
from harness.faults.proxy import CHUNK, DEBUG, Behaviour, Strata, eof
from harness.faults.registry import register

DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal")


@register
class Delay(NetKind):
    name = "delay"
    summary = "add latency (and jitter) to the target's traffic"
    params_doc = "latency, jitter=0, distribution=uniform|normal|pareto|paretonormal, correlation=0"
    backends = ("netem", "proxy")
    units = {"latency": "duration", "jitter": "duration", "correlation": "percent"}
    example = {"latency": 0.1, "jitter": 0.0, "distribution": "uniform"}
    params_schema = {"required": ["latency"], "properties": {
        "latency": DURATION, "jitter": DURATION, "distribution": {"enum": list(DISTRIBUTIONS)},
        "correlation": CORRELATION}}

    def parse(self, p, node):
        latency = need(p, "latency", node).as_duration(max=60, allow_zero=False)
        jitter = p["jitter"].as_duration(max=60) if "jitter" in p else 0.0
        if jitter > latency:
            raise p["jitter"].error(f"must not exceed latency ({latency * 1000:g}ms)",
                                    seen=f"{jitter * 1000:g}ms")
        dist = p["distribution"].as_enum(DISTRIBUTIONS) if "distribution" in p else "uniform"
        return {"latency": latency, "jitter": jitter, "distribution": dist, "correlation": correlation(p)}

    def netem(self, p):
        a = ["delay", ms(p["latency"])]
        if p.get("jitter"):
            a += [ms(p["jitter"]), *correlated(p)]
            if p.get("distribution", "uniform") != "uniform":
                a += ["distribution", p["distribution"]]
        return a

    def unsupported(self, backend, params, direction):
        if backend == "proxy":
            if params.get("correlation"):
                return "the proxy has no correlated jitter (netem only)"
            if params.get("distribution") not in ("uniform", "normal"):
                return "the proxy draws jitter from uniform or normal only"
        return None

    def proxy(self, params):
        return DelayOnProxy(params)

    def build(self, backend, spec, t):
        if backend == "netem":
            return self.netem_plan(spec, t)
        return proxy.plan(t, self.name, spec.params, spec.direction)


class DelayOnProxy(Behaviour):
    """Each chunk is queued with its due time as it arrives; a sender writes it when due."""

    LEAD_STEP = 0.0001
    LEAD_MAX = 0.005

    def __init__(self, params: dict):
        super().__init__(params)
        self.strata = Strata()
        self.lead = 0.0

    def track_lateness(self, late: float) -> None:
        """Timer wake-ups on a busy host come late; wake up `lead` early, with lead adjusted
        so that half of the deliveries are late and half early: the median delay is exact."""
        step = self.LEAD_STEP if late > 0 else -self.LEAD_STEP
        self.lead = min(self.LEAD_MAX, max(0.0, self.lead + step))

    def sample_delay(self) -> float:
        lat, jit = self.p.get("latency", 0.0), self.p.get("jitter", 0.0)
        if not jit:
            return lat
        u = self.strata.next()
        if self.p.get("distribution") == "normal":
            return max(0.0, lat + jit * NormalDist().inv_cdf(min(max(u, 1e-9), 1 - 1e-9)))
        return max(0.0, lat + jit * (2 * u - 1))

    async def _deliver(self, q: asyncio.Queue, writer_fut: asyncio.Future) -> None:
        writer = await writer_fut
        while True:
            due, data, t_read = await q.get()
            wait = due - self.lead - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                self.track_lateness(time.monotonic() - due)
            if data is None:
                return
            if DEBUG:
                print(f"late {1000 * (time.monotonic() - due):.3f} ms lead {self.lead * 1000:.2f} "
                      f"held {1000 * (time.monotonic() - t_read):.3f}", file=sys.stderr)
            writer.write(data)
            await writer.drain()

    async def pump(self, direction, reader, writer_fut):
        q: asyncio.Queue = asyncio.Queue()
        sender = asyncio.ensure_future(self._deliver(q, writer_fut))
        last = 0.0
        try:
            while True:
                data = await reader.read(CHUNK)
                if DEBUG:
                    print(f"{direction} chunk {len(data)} at {time.monotonic():.4f}", file=sys.stderr)
                due = max(last, time.monotonic() + self.sample_delay())
                last = due
                q.put_nowait((due, data or None, time.monotonic()))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()
        eof(await writer_fut)
