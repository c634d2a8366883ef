"""The load master: `python -m harness.load.master --config FILE`, started by LoadRunner only.

A Locust MasterRunner (ZeroMQ, Locust's own master/worker protocol) that the load workers join
(`python -m harness.load.worker --master HOST:PORT --token T`). It speaks to the runner in JSON
lines, as the workers did before it: on standard output it says where it listens, then relays
every worker's messages (ready, started, one record per second, final statistics, error)
tagged with the worker's index, and says when a worker joins, is refused or goes missing; on
standard input it reads the runner's "go" (the run's clock and phase windows, handed to every
worker) and "stop". Workers talk to it in custom messages (Locust's register_message /
send_message):

    worker -> master  harness_hello {token, version, pid, host, want}   on joining
    master -> worker  harness_assign {index, workers, config} | harness_refused {why}
    worker -> master  harness_msg {index, msg}                          the worker's JSON messages
    master -> worker  harness_go {...} | harness_stop | harness_bye (after its final record)

A worker must present the run's token and the harness's version; indexes 0..n-1 are handed out
in the order workers join (a local worker asks for its own). Anything that would print goes to
standard error (load/master.log).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys

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
        self.env = Environment(user_classes=[Nobody])
        self.runner = self.env.create_master_runner(cfg.get("bind", "127.0.0.1"), int(cfg.get("port", 0)))
        self.nodes: dict[str, int] = {}         # Locust client id -> our worker index
        self.finished: set[int] = set()
        self.lost: set[int] = set()
        self.all_final = gevent.event.Event()
        for name, fn in (("harness_hello", self.on_hello), ("harness_msg", self.on_msg)):
            self.runner.register_message(name, fn)

    # -- from the workers ---------------------------------------------------------------------
    def on_hello(self, environment, msg, **_kw) -> None:
        data, node = msg.data or {}, msg.node_id
        why = self._refusal(data, node)
        if why:
            self.runner.send_message("harness_refused", {"why": why}, client_id=node)
            self.emit({"type": "refused", "host": data.get("host"), "pid": data.get("pid"), "why": why})
            return
        index = self._index_for(data.get("want"))
        self.nodes[node] = index
        self.runner.send_message("harness_assign", {"index": index, "workers": self.n, "config": self.cfg["worker"]},
                                 client_id=node)
        self.emit({"type": "joined", "worker": index, "host": data.get("host"), "pid": data.get("pid")})

    def _refusal(self, data: dict, node: str) -> str | None:
        if data.get("token") != self.cfg["token"]:
            return "wrong token: a worker must present the token of this run"
        if data.get("version") != self.version:
            return f"version skew: the worker runs harness {data.get('version')}, the master {self.version}"
        if node in self.nodes:
            return None
        if len(self.nodes) >= self.n:
            return f"the run already has its {self.n} workers"
        return None

    def _index_for(self, want) -> int:
        taken = set(self.nodes.values())
        if isinstance(want, int) and 0 <= want < self.n and want not in taken:
            return want
        return min(set(range(self.n)) - taken)

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
