"""A load worker as a node of Locust's master/worker mode (imported ONLY in the worker process:
it imports Locust, which patches the process with gevent).

The node connects a Locust WorkerRunner to the load master (harness/load/master.py), presents
the run's token and the harness's version, receives its index and the load's configuration,
prepares the Worker (harness/load/driver.py), and then relays the Worker's messages to the
master as `harness_msg` custom messages until the Worker's final record is acknowledged.

A remote worker (one that asked for no index: a user started it on another machine) measures
its clock against the master's (harness/load/clock.py) and keeps the run's clock in its own
terms, writes its raw request log to a file of its own and sends it to the master at the end,
and loads the locustfile from the text the master sent.
"""
from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import gevent
import gevent.event
import gevent.queue
import locust.runners
from locust.env import Environment

from harness import __version__
from harness.load.clock import PINGS, offset_from
from harness.load.driver import Worker

ASSIGN_TIMEOUT_S = 30.0
BYE_TIMEOUT_S = 5.0
PONG_TIMEOUT_S = 5.0
RAW_CHUNK = 256 * 1024
locust.runners.CONNECT_RETRY_COUNT = 12     # about a minute of retries, not Locust's five


class WorkerNode:
    def __init__(self, host: str, port: int, token: str, want: int | None):
        self.env = Environment(user_classes=[])
        self.runner = self.env.create_worker_runner(host, port)
        self.assigned = gevent.event.AsyncResult()
        self.go = gevent.event.AsyncResult()
        self.stop = gevent.event.Event()
        self.bye = gevent.event.Event()
        self.pongs: gevent.queue.Queue = gevent.queue.Queue()
        self.worker: Worker | None = None
        self.remote = want is None
        self.addr = _address_towards(host, port)     # this machine's address as the master sees it
        self.clock = {"offset_s": 0.0, "rtt_s": 0.0}
        self.tmp: tempfile.TemporaryDirectory | None = None
        self.raw_file: str | None = None
        for name, fn in (("harness_assign", lambda environment, msg, **_: self.assigned.set(msg.data)),
                         ("harness_refused", lambda environment, msg, **_: self.assigned.set(
                             {"refused": (msg.data or {}).get("why", "refused")})),
                         ("harness_go", lambda environment, msg, **_: self.go.set(msg.data)),
                         ("harness_stop", lambda environment, msg, **_: self._stop()),
                         ("harness_bye", lambda environment, msg, **_: self.bye.set()),
                         ("harness_pong", lambda environment, msg, **_: self.pongs.put((msg.data, time.monotonic())))):
            self.runner.register_message(name, fn)
        self.runner.send_message("harness_hello", {"token": token, "version": __version__, "pid": os.getpid(),
                                                   "host": socket.gethostname(), "addr": self.addr,
                                                   "want": want})

    def _stop(self) -> None:
        self.stop.set()
        if self.worker is not None:
            self.worker.stopping.set()

    def run(self) -> int:
        assign = self.assigned.get(timeout=ASSIGN_TIMEOUT_S)
        if "refused" in assign:
            print(f"the load master refused this worker: {assign['refused']}", file=sys.stderr)
            self.runner.quit()
            return 4
        index = int(assign["index"])
        print(f"joined the load master as worker {index} of {assign['workers']}", file=sys.stderr)

        def emit(msg: dict) -> None:
            if self.remote and msg.get("type") == "final":   # where it ran, and how well its clock was known
                msg = {**msg, "remote": {"addr": self.addr,
                                         "clock_offset_ms": round(self.clock["offset_s"] * 1000, 3),
                                         "clock_error_ms": round(self.clock["rtt_s"] * 500, 3)}}
            self.runner.send_message("harness_msg", {"index": index, "msg": msg})

        try:
            worker = self._prepare(dict(assign["config"], index=index, workers=int(assign["workers"])), emit)
        except Exception as e:  # noqa: BLE001 - the runner raises it as a HarnessError
            emit({"type": "error", "what": f"the load worker could not prepare: {type(e).__name__}: {e}",
                  "where": f"load worker {index} on {socket.gethostname()}", "hint": "see the worker's output"})
            gevent.sleep(0.5)          # let the message leave before the process does
            raise
        gevent.wait([self.go, self.stop], count=1)
        if not self.go.ready():
            self.runner.quit()
            return 0
        worker.set_timeline(self._timeline(dict(self.go.get()), index))
        if self.stop.is_set():
            worker.stopping.set()
        code = worker.run(before_final=self._before_final, orphan_exit=not self.remote)
        self.bye.wait(BYE_TIMEOUT_S)
        self.runner.quit()
        if self.tmp is not None:
            self.tmp.cleanup()
        return code

    def _prepare(self, cfg: dict, emit) -> Worker:
        if self.remote:
            self.tmp = tempfile.TemporaryDirectory(prefix="harness-worker-")
            if cfg.get("locustfile_source") is not None:
                path = Path(self.tmp.name) / Path(cfg["spec"]["locustfile"]).name
                path.write_text(cfg["locustfile_source"])
                cfg["spec"] = dict(cfg["spec"], locustfile=str(path))
            self.clock = self._measure_clock()
        self.worker = worker = Worker(cfg, emit)
        worker.prepare(self.env)
        emit({"type": "ready", "pid": os.getpid(), "host": socket.gethostname(),
              "clock_offset_ms": round(self.clock["offset_s"] * 1000, 3),
              "clock_rtt_ms": round(self.clock["rtt_s"] * 1000, 3)})
        return worker

    def _measure_clock(self) -> dict:
        samples = []
        for k in range(PINGS):
            self.runner.send_message("harness_ping", {"k": k, "t": time.monotonic()})
            data, received = self.pongs.get(timeout=PONG_TIMEOUT_S)
            samples.append((float(data["t"]), float(data["m"]), received))
        offset, rtt = offset_from(samples)
        return {"offset_s": offset, "rtt_s": rtt}

    def _timeline(self, go: dict, index: int) -> dict:
        """The go message in this worker's terms: its clock, its raw log's file."""
        raw = go.get("raw_logs") or []
        go["raw_log"] = raw[index] if index < len(raw) else None
        if self.remote:
            go["mono_t0"] = float(go["mono_t0"]) - self.clock["offset_s"]
            go["raw_log"] = str(Path(self.tmp.name) / "requests.jsonl.gz") if go["raw_log"] else None
        self.raw_file = go["raw_log"]
        return go

    def _before_final(self) -> None:
        """Locust's statistics, then a remote worker's raw log, reach the master before the final record."""
        self.runner._send_stats()
        if self.remote and self.raw_file and os.path.exists(self.raw_file):
            with open(self.raw_file, "rb") as f:
                while chunk := f.read(RAW_CHUNK):
                    self.runner.send_message("harness_raw", {"data": chunk})
                    gevent.sleep(0)


def _address_towards(host: str, port: int) -> str | None:
    """This machine's address on the route to the master (a UDP connect sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, port))
            return s.getsockname()[0]
    except OSError:
        return None

