"""The proxy's pure parts: stratified jitter draws, the token bucket's long-run rate, and
the lateness correction that keeps the median delay exact."""
from __future__ import annotations

import asyncio
import random
import statistics

import pytest

from harness.faults import registry
from harness.faults.proxy import Bucket, Strata


def Fault(config):  # noqa: N802 - reads like the proxy's own construction of a delay fault
    return registry.get(config["kind"]).proxy(config["params"])


def test_strata_cover_every_slice_of_each_block():
    s = Strata(random.Random(1))
    for _ in range(5):
        block = [s.next() for _ in range(Strata.N)]
        assert sorted(int(u * Strata.N) for u in block) == list(range(Strata.N))


def test_delay_samples_are_centred_and_bounded():
    f = Fault({"kind": "delay", "params": {"latency": 0.1, "jitter": 0.02, "distribution": "uniform"}})
    xs = [f.sample_delay() for _ in range(160)]
    assert min(xs) >= 0.08 and max(xs) <= 0.12
    assert abs(statistics.median(xs) - 0.1) < 0.002
    f = Fault({"kind": "delay", "params": {"latency": 0.1, "jitter": 0.02, "distribution": "normal"}})
    xs = [f.sample_delay() for _ in range(160)]
    assert abs(statistics.median(xs) - 0.1) < 0.003 and 0.015 < statistics.stdev(xs) < 0.025


def test_lateness_correction_moves_toward_median_zero():
    f = Fault({"kind": "delay", "params": {"latency": 0.1}})
    for _ in range(20):
        f.track_lateness(0.0008)
    assert abs(f.lead - min(f.LEAD_STEP * 20, f.LEAD_MAX)) < 1e-9
    for _ in range(100):
        f.track_lateness(-0.001)
    assert f.lead == 0.0


class LateClock:
    """A clock whose every sleep wakes up 5 ms late, as timers do on a loaded machine."""
    LATE = 0.005

    def __init__(self):
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds + self.LATE


def test_bucket_long_run_rate_does_not_lose_credit_to_late_wakeups(monkeypatch):
    from harness.faults import proxy

    clock = LateClock()
    monkeypatch.setattr(proxy, "time", clock)
    monkeypatch.setattr(proxy.asyncio, "sleep", clock.sleep)

    async def go():
        b = Bucket(rate_bytes=100_000, burst=2000)
        t0 = clock.monotonic()
        for _ in range(25):
            await b.take(2000)
        return clock.monotonic() - t0

    elapsed = asyncio.run(go())
    # 50 000 bytes at 100 kB/s from a bucket that starts empty: 0.50 s. 25 late wake-ups would add
    # 0.125 s to a bucket that lost credit to them; this one pays only the last one's lateness.
    assert elapsed == pytest.approx(0.50 + LateClock.LATE, abs=1e-9), elapsed


def test_every_kind_the_proxy_serves_brings_its_behaviour():
    from harness.faults.proxy import Behaviour
    served = {name: k for name, k in registry.kinds().items() if "proxy" in k.backends}
    assert {"delay", "rate", "timeout", "slow_close", "reset"} <= set(served)
    for name, kind in served.items():
        assert kind.example, f"{name}: no example parameters"
        b = kind.proxy(kind.example)
        assert isinstance(b, Behaviour) and type(b) is not Behaviour, name
        assert type(b).__module__ == type(kind).__module__, f"{name}: its behaviour lives in its own module"
    # what each tells the connection handler
    assert registry.get("reset").proxy({"after": 0.0}).refuse()
    reset = registry.get("reset").proxy({"after": 0.5})
    assert not reset.refuse() and reset.deadline() == 0.5 and reset.reset_at_deadline
    timeout = registry.get("timeout").proxy({"timeout": 0.0})
    assert timeout.deadline() is None and not timeout.reset_at_deadline
    with pytest.raises(NotImplementedError):
        registry.get("partition").proxy({})


class _Reader:
    def __init__(self, chunks):
        self.chunks = list(chunks)

    async def read(self, n):
        return self.chunks.pop(0) if self.chunks else b""


class _Writer:
    def __init__(self):
        self.data, self.eof = b"", False

    def write(self, data):
        self.data += data

    async def drain(self):
        pass

    def can_write_eof(self):
        return True

    def write_eof(self):
        self.eof = True


@pytest.mark.parametrize("kind,params,passed,eof", [
    ("slow_close", {"delay": 0.01}, b"abcdef", True),
    ("timeout", {"timeout": 0.0}, b"", False),
    ("rate", {"rate": 8_000_000}, b"abcdef", True),
    ("delay", {"latency": 0.001}, b"abcdef", True),
])
def test_behaviours_on_one_direction(kind, params, passed, eof):
    """Bytes through each kind's pump: passed on (or swallowed), and the EOF passed on (or not)."""
    async def go():
        w = _Writer()
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(w)
        await registry.get(kind).proxy(params).pump("egress", _Reader([b"abc", b"def"]), fut)
        return w
    w = asyncio.run(go())
    assert (w.data, w.eof) == (passed, eof)
