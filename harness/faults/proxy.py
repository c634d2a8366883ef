"""The fault proxy: an asyncio TCP proxy that runs inside the target's network namespace.

Started by the proxy backend as `nsenter -t PID -n -- python -m harness.faults.proxy`, so its
listeners are in the container. nat REDIRECT sends the fault's connections to it: the
outbound listener (on 127.0.0.1) gets connections the target opens (the target is the client),
the inbound listener (on the container's own addresses) gets connections into the target (the
target is the server); neither listens on 0.0.0.0. The original
destination comes from SO_ORIGINAL_DST; upstream sockets carry SO_MARK so the REDIRECT
rule skips them.

What it does to the bytes, per direction relative to the target (egress = bytes the target
sends), is the fault kind's: each kind the proxy serves has a Behaviour in its own module
(harness/faults/kinds: delay, rate, slow_close, timeout, reset). This module is the mechanism:
listeners, the upstream connection, copying, and tools kinds share (Bucket, Strata).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import struct
import sys
import time
from pathlib import Path

from harness.faults import registry

SO_ORIGINAL_DST = 80
CHUNK = 16384
DEBUG = bool(os.environ.get("HARNESS_PROXY_DEBUG"))


def original_dst(sock: socket.socket) -> tuple[str, int]:
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port = struct.unpack_from("!H", raw, 2)[0]
    return socket.inet_ntoa(raw[4:8]), port


def rst_close(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort() if sock is None else writer.close()


class Bucket:
    """Token bucket in bytes per second, shared by every connection of one direction.

    Kept as virtual time (the moment the bytes sent so far are paid for), so a late timer
    wake-up never loses credit: the long-run rate is exact; idle time earns at most `burst`."""

    def __init__(self, rate_bytes: float, burst: int):
        self.rate, self.burst = rate_bytes, burst
        self.paid = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n: int) -> None:
        async with self.lock:
            now = time.monotonic()
            self.paid = max(self.paid, now - self.burst / self.rate) + n / self.rate
            wait = self.paid - now
            if wait > 0:
                await asyncio.sleep(wait)


class Behaviour:
    """What a proxy fault does to a connection: one subclass per kind, in the kind's own module
    (harness/faults/kinds/<kind>.py, returned by its Kind.proxy(params)). This base passes the
    bytes through; a kind overrides what it changes."""

    reset_at_deadline: bool = False     # the deadline ends a connection with RST (else a close)

    def __init__(self, params: dict):
        self.p = dict(params)

    def refuse(self) -> bool:
        """Reset each connection as it is accepted, before connecting upstream."""
        return False

    def deadline(self) -> float | None:
        """End each connection this many seconds after its start (None: never)."""
        return None

    async def write(self, direction: str, writer, data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    async def closing(self) -> None:
        """Called once the direction's reader is at EOF, before the EOF is passed on."""

    async def pump(self, direction: str, reader, writer_fut: asyncio.Future) -> None:
        """Copy one direction. Reading starts at once (before the upstream connection is up);
        `writer_fut` resolves to the writer."""
        writer = None
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer = writer or await writer_fut
            await self.write(direction, writer, data)
        await self.closing()
        eof(await writer_fut)


PASS = Behaviour({})


class Fault:
    """The proxy's fault: the faulted direction(s), the upstream mark and the kind's behaviour."""

    def __init__(self, config: dict, behaviour: Behaviour | None = None):
        self.direction = config.get("direction", "egress")
        self.mark = int(config.get("mark", 0))
        self.behaviour = behaviour or registry.get(config["kind"]).proxy(config.get("params", {}))

    def hits(self, direction: str) -> bool:
        return self.direction in (direction, "both")


class Strata:
    """Uniform(0,1) draws, stratified: every block of N consecutive draws has one draw in each
    1/N slice (in random order). Each draw is still uniform; short windows just cover the whole
    jitter range evenly instead of by luck."""

    N = 16

    def __init__(self, rng: random.Random | None = None):
        self.rng = rng or random.Random()
        self.block: list[float] = []

    def next(self) -> float:
        if not self.block:
            self.block = [(i + self.rng.random()) / self.N for i in range(self.N)]
            self.rng.shuffle(self.block)
        return self.block.pop()


async def pump(fault: Fault, direction: str, reader, writer_fut: asyncio.Future) -> None:
    """Copy one direction, through the fault's behaviour when the fault is on that direction."""
    await (fault.behaviour if fault.hits(direction) else PASS).pump(direction, reader, writer_fut)


def eof(writer) -> None:
    try:
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        pass


async def connect_upstream(fault: Fault, cwriter) -> tuple:
    host, port = original_dst(cwriter.get_extra_info("socket"))
    up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    up.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, fault.mark)
    up.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(up, (host, port)), 10)
    except BaseException:
        up.close()
        raise
    return await asyncio.open_connection(sock=up)


async def handle(fault: Fault, target_is_client: bool, creader, cwriter) -> None:
    behaviour = fault.behaviour
    if behaviour.refuse():
        rst_close(cwriter)
        return
    loop = asyncio.get_running_loop()
    upstream = asyncio.ensure_future(connect_upstream(fault, cwriter))
    uwriter_fut: asyncio.Future = loop.create_future()
    cwriter_fut: asyncio.Future = loop.create_future()
    cwriter_fut.set_result(cwriter)
    c2s = "egress" if target_is_client else "ingress"
    s2c = "ingress" if target_is_client else "egress"
    up_task = asyncio.ensure_future(pump(fault, c2s, creader, uwriter_fut))
    try:
        ureader, uwriter = await upstream
    except (OSError, asyncio.TimeoutError) as e:
        uwriter_fut.set_exception(e)
        up_task.cancel()
        rst_close(cwriter)
        return
    uwriter_fut.set_result(uwriter)
    tasks = [up_task, asyncio.ensure_future(pump(fault, s2c, ureader, cwriter_fut))]
    try:
        done, pending = await asyncio.wait(tasks, timeout=behaviour.deadline(),
                                           return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:      # the proxy is stopping: drop the connection quietly
        for t in tasks:
            t.cancel()
        rst_close(cwriter)
        rst_close(uwriter)
        return
    failed = any(t.exception() for t in done if not t.cancelled())
    for t in pending:
        t.cancel()
    if failed or (pending and behaviour.reset_at_deadline):
        rst_close(cwriter)
        rst_close(uwriter)
        return
    for w in (cwriter, uwriter):
        w.close()


def timer_priority() -> str:
    """The proxy mostly sleeps and must wake on time on a busy host: SCHED_RR at the lowest
    real-time priority when allowed (root), else nice -10, else as is. Returns what it got."""
    if os.environ.get("HARNESS_PROXY_SCHED", "rr") == "rr":
        try:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))
            return "SCHED_RR 1"
        except (OSError, AttributeError):
            pass
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
        return "nice -10"
    except OSError:
        return "default"


def listen_addresses(config: dict) -> list[tuple[int, bool, list[str]]]:
    """(port, target is the client, addresses) of the two listeners, never 0.0.0.0.

    nat REDIRECT rewrites the destination of a connection the target opens (OUTPUT) to
    127.0.0.1, and of a connection into it (PREROUTING) to the primary address of the
    interface it came in on: the container's own addresses."""
    inbound = [a for a in config.get("in_addrs") or [] if a] or ["127.0.0.1"]
    return [(config["out_port"], True, ["127.0.0.1"]), (config["in_port"], False, inbound)]


async def serve(config: dict, pidfile: Path | None) -> None:
    """Listen, then say so: the pidfile (started by this host's harness) or a line `listening` on
    standard output (a container on a remote engine, harness/faults/helper.py)."""
    from harness.undo.steps import write_pidfile
    timer_priority()
    fault = Fault(config)
    servers = []
    for port, client, hosts in listen_addresses(config):
        servers.append(await asyncio.start_server(
            lambda r, w, c=client: handle(fault, c, r, w), hosts, port, reuse_address=True, backlog=512))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if pidfile:
        write_pidfile(pidfile)
    else:
        print("listening", flush=True)
    await stop.wait()
    for s in servers:
        s.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.faults.proxy")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--pidfile", type=Path)
    ap.add_argument("--config", required=True, help="JSON: kind, params, direction, mark, out_port, in_port")
    args = ap.parse_args(argv)
    try:
        asyncio.run(serve(json.loads(args.config), args.pidfile))
    except OSError as e:
        print(f"fault proxy {args.tag}: cannot listen: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
