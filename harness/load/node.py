"""A load worker as a node of Locust's master/worker mode (imported ONLY in the worker process:
it imports Locust, which patches the process with gevent).

The node connects a Locust WorkerRunner to the load master (harness/load/master.py), presents
the run's token and the harness's version, receives its index and the load's configuration,
prepares the Worker (harness/load/driver.py), and then relays the Worker's messages to the
master as `harness_msg` custom messages until the Worker's final record is acknowledged.
"""
from __future__ import annotations

import os
import socket
import sys

import gevent
import gevent.event
import locust.runners
from locust.env import Environment

from harness import __version__
from harness.load.driver import Worker

ASSIGN_TIMEOUT_S = 30.0
BYE_TIMEOUT_S = 5.0
locust.runners.CONNECT_RETRY_COUNT = 12     # about a minute of retries, not Locust's five


class WorkerNode:
    def __init__(self, host: str, port: int, token: str, want: int | None):
        self.env = Environment(user_classes=[])
        self.runner = self.env.create_worker_runner(host, port)
        self.assigned = gevent.event.AsyncResult()
        self.go = gevent.event.AsyncResult()
        self.stop = gevent.event.Event()
        self.bye = gevent.event.Event()
        self.worker: Worker | None = None
        for name, fn in (("harness_assign", lambda environment, msg, **_: self.assigned.set(msg.data)),
                         ("harness_refused", lambda environment, msg, **_: self.assigned.set(
                             {"refused": (msg.data or {}).get("why", "refused")})),
                         ("harness_go", lambda environment, msg, **_: self.go.set(msg.data)),
                         ("harness_stop", lambda environment, msg, **_: self._stop()),
                         ("harness_bye", lambda environment, msg, **_: self.bye.set())):
            self.runner.register_message(name, fn)
        self.runner.send_message("harness_hello", {"token": token, "version": __version__, "pid": os.getpid(),
                                                   "host": socket.gethostname(), "want": want})

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

        def emit(msg: dict) -> None:
            self.runner.send_message("harness_msg", {"index": index, "msg": msg})

        cfg = dict(assign["config"], index=index, workers=int(assign["workers"]))
        self.worker = worker = Worker(cfg, emit)
        worker.prepare(self.env)
        emit({"type": "ready", "pid": os.getpid(), "host": socket.gethostname()})
        gevent.wait([self.go, self.stop], count=1)
        if not self.go.ready():
            self.runner.quit()
            return 0
        go = dict(self.go.get())
        raw = go.get("raw_logs") or []
        go["raw_log"] = raw[index] if index < len(raw) else None
        worker.set_timeline(go)
        if self.stop.is_set():
            worker.stopping.set()
        code = worker.run(before_final=self.runner._send_stats)   # Locust's statistics reach the master first
        self.bye.wait(BYE_TIMEOUT_S)
        self.runner.quit()
        return code

