"""The load master: `python -m harness.load.master --config FILE`, started by LoadRunner only.

A Locust MasterRunner (ZeroMQ, Locust's own master/worker protocol) that the load workers join
(`python -m harness.load.worker --master HOST:PORT --token T`). It speaks to the runner in JSON
lines, as the workers did before it: on standard output it says where it listens, then relays
every worker's messages (ready, started, one record per second, final statistics, error)
tagged with the worker's index, and says when a worker joins, is refused or goes missing; on
standard input it reads the runner's "go" (the run's clock and phase windows, handed to every
worker) and "stop". Workers talk to it in custom messages (Locust's register_message /
send_message):

    worker -> master  harness_hello {token, version, pid, host, addr, want}   on joining
    master -> worker  harness_assign {index, workers, remote, config} | harness_refused {why}
    worker -> master  harness_ping {k, t}   master -> worker  harness_pong {k, t, m}   (remote: clock)
    worker -> master  harness_msg {index, msg}                          the worker's JSON messages
    worker -> master  harness_raw {data}    (remote, raw_log: its raw request log, in order)
    master -> worker  harness_go {...} | harness_stop | harness_bye (after its final record)

A worker must present the run's token and the harness's version. A local worker (started by the
runner) asks for its index, 0..local-1; a remote one (started by a user on another machine, no
index asked) gets the next of local..n-1, the remote workers' configuration (their own target
URL, the locustfile's text) and measures its clock against the master's. A remote worker's raw
request log comes in chunks that the master appends to the run directory's file. Anything that
would print goes to standard error (load/master.log).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

LOST_AFTER_S = 5.0          # a worker silent this long (no heartbeat) is reported lost


def _channel():
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def emit(msg: dict) -> None:
        out.write(json.dumps(msg, separators=(",", ":")) + "\n")
        out.flush()
    return emit


class Master:
    def __init__(self, cfg: dict, emit):
        import gevent
        from locust import User
        from locust.env import Environment

        from harness import __version__

        class Nobody(User):          # the master runs no users; Locust wants a class to exist
            abstract = False

            def run(self):
                pass

        self.gevent = gevent
        self.cfg, self.emit, self.version = cfg, emit, __version__
        self.n = int(cfg["workers"])
        self.local = int(cfg.get("local", self.n))
        self.raw_logs: list = []
        self.env = Environment(user_classes=[Nobody])
        self.runner = self.env.create_master_runner(cfg.get("bind", "127.0.0.1"), int(cfg.get("port", 0)))
        self.nodes: dict[str, int] = {}         # Locust client id -> our worker index
        self.finished: set[int] = set()
        self.lost: set[int] = set()
        self.all_final = gevent.event.Event()
        for name, fn in (("harness_hello", self.on_hello), ("harness_msg", self.on_msg),
                         ("harness_ping", self.on_ping), ("harness_raw", self.on_raw)):
            self.runner.register_message(name, fn)

    # -- from the workers ---------------------------------------------------------------------
    def on_hello(self, environment, msg, **_kw) -> None:
        data, node = msg.data or {}, msg.node_id
        why = self._refusal(data, node)
        if why:
            self.runner.send_message("harness_refused", {"why": why}, client_id=node)
            self.emit({"type": "refused", "host": data.get("host"), "pid": data.get("pid"), "why": why})
            return
        remote = data.get("want") is None
        index = self.nodes.get(node)
        if index is None:
            index = self.nodes[node] = self._index_for(data.get("want"))
        config = self.cfg.get("remote_worker", self.cfg["worker"]) if remote else self.cfg["worker"]
        self.runner.send_message("harness_assign", {"index": index, "workers": self.n, "remote": remote,
                                                    "config": config}, client_id=node)
        self.emit({"type": "joined", "worker": index, "host": data.get("host"), "addr": data.get("addr"),
                   "pid": data.get("pid"), "remote": remote})

    def _refusal(self, data: dict, node: str) -> str | None:
        if data.get("token") != self.cfg["token"]:
            return "wrong token: a worker must present the token of this run"
        if data.get("version") != self.version:
            return f"version skew: the worker runs harness {data.get('version')}, the master {self.version}"
        if node in self.nodes:
            return None
        free = self._free()
        if data.get("want") is None and not free - set(range(self.local)):
            return f"the run already has its {self.n - self.local} remote workers"
        if not free:
            return f"the run already has its {self.n} workers"
        return None

    def _index_for(self, want) -> int:
        """A local worker's own index; a remote worker the lowest free one at or above local."""
        free = self._free()
        if isinstance(want, int) and want in free:
            return want
        return min((i for i in free if i >= self.local), default=min(free))

    def _free(self) -> set[int]:
        return set(range(self.n)) - set(self.nodes.values())

    def on_ping(self, environment, msg, **_kw) -> None:
        if msg.node_id in self.nodes:
            self.runner.send_message("harness_pong", {**(msg.data or {}), "m": time.monotonic()}, client_id=msg.node_id)

    def on_raw(self, environment, msg, **_kw) -> None:
        """A chunk of a remote worker's raw request log (gzip members concatenate)."""
        index = self.nodes.get(msg.node_id)
        data = (msg.data or {}).get("data")
        path = self.raw_logs[index] if index is not None and index < len(self.raw_logs) else None
        if path and isinstance(data, bytes):
            with open(path, "ab") as f:
                f.write(data)

    def on_msg(self, environment, msg, **_kw) -> None:
        index = self.nodes.get(msg.node_id)
        body = (msg.data or {}).get("msg")
        if index is None or not isinstance(body, dict):
            return
        self.emit({**body, "worker": index})
        if body.get("type") == "final":
            self.finished.add(index)
            self.runner.send_message("harness_bye", None, client_id=msg.node_id)
            if len(self.finished | self.lost) >= self.n:
                self.all_final.set()

    # -- watching -----------------------------------------------------------------------------
    def watch(self) -> None:
        """Report a joined worker whose heartbeats stopped (its process or machine is gone)."""
        from locust.runners import HEARTBEAT_INTERVAL, HEARTBEAT_LIVENESS, STATE_MISSING
        while True:
            self.gevent.sleep(0.5)
            for node, index in list(self.nodes.items()):
                client = self.runner.clients.get(node)
                gone = client is None or client.state == STATE_MISSING
                if gone and index not in self.lost and index not in self.finished:
                    self.lost.add(index)
                    self.emit({"type": "lost", "worker": index,
                               "silent_s": HEARTBEAT_INTERVAL * HEARTBEAT_LIVENESS})
                    if len(self.finished | self.lost) >= self.n:
                        self.all_final.set()

    def commands(self) -> None:
        """The runner's lines on standard input: go, stop; end of input means stop."""
        pool = self.gevent.get_hub().threadpool
        while True:
            line = pool.apply(sys.stdin.readline)
            if not line:
                self.runner.send_message("harness_stop")
                self.all_final.set()
                return
            msg = json.loads(line)
            if msg.get("type") == "go":
                self.raw_logs = list(msg.get("raw_logs") or [])
                self.runner.send_message("harness_go", msg)
            elif msg.get("type") == "stop":
                self.runner.send_message("harness_stop")

    def run(self) -> int:
        from harness.load.driver import locust_stats, watch_parent  # imports Locust, as this process does
        self.emit({"type": "listening", "port": self.runner.server.port, "pid": os.getpid(),
                   "version": self.version})
        self.gevent.spawn(self.watch)
        self.gevent.spawn(self.commands)
        self.gevent.spawn(watch_parent, os.getppid())
        self.all_final.wait()
        self.emit({"type": "locust", "stats": locust_stats(self.env)})   # Locust's own, merged from the workers
        self.gevent.sleep(0.2)            # let the byes go out
        self.runner.quit()
        return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.load.master")
    ap.add_argument("--config", required=True)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    emit = _channel()
    with open(args.config) as f:
        cfg = json.load(f)
    try:
        return Master(cfg, emit).run()
    except Exception as e:  # noqa: BLE001 - reported to the runner, which raises a HarnessError
        import traceback
        traceback.print_exc()
        emit({"type": "error", "what": f"the load master failed: {type(e).__name__}: {e}",
              "where": "load master", "hint": "see load/master.log"})
        return 1


if __name__ == "__main__":
    sys.exit(main())
