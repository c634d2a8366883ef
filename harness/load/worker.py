"""A load worker process: `python -m harness.load.worker --master HOST:PORT` (the token in
$HARNESS_LOAD_TOKEN or --token).

It joins the run's load master (harness/load/master.py) over Locust's master/worker protocol,
receives its share of the load, and sends its records back as custom messages. LoadRunner
starts one per local worker (`load.workers`, with --index to keep its log's name); on another
machine a user starts one per remote worker (`harness worker`, which runs this) with the
address and token the run prints. Anything that would print goes to standard error
(load/worker-<I>.log for local workers). It stops sending on SIGTERM or the master's stop. A
local worker ignores SIGINT (the harness decides) and exits by itself when its parent process
goes away; a remote one stops on Ctrl-C and ends with its master.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.load.worker")
    ap.add_argument("--master", required=True, help="the load master's HOST:PORT")
    ap.add_argument("--token", default=os.environ.get("HARNESS_LOAD_TOKEN", ""),
                    help="the run's token (or $HARNESS_LOAD_TOKEN)")
    ap.add_argument("--index", type=int, default=None, help="the worker index to ask for")
    args = ap.parse_args(argv)
    host, _, port = args.master.rpartition(":")
    if not host or not port.isdigit():
        print(f"--master: expected HOST:PORT, got {args.master!r}", file=sys.stderr)
        return 2
    if not args.token:
        print("no token: set HARNESS_LOAD_TOKEN (or --token) to the token the run printed", file=sys.stderr)
        return 2
    if args.index is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout = sys.stderr
    try:
        from harness.load.node import WorkerNode  # imports locust: gevent patches this process only
        return _run(WorkerNode(host.strip("[]"), int(port), args.token, args.index), args.index)
    except ConnectionError:
        print(f"could not reach the load master at {args.master}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the master reports the worker's absence; its log has why
        traceback.print_exc()
        return 1


def _run(node, index: int | None) -> int:
    profile = os.environ.get("HARNESS_LOAD_PROFILE")
    if not profile:
        return node.run()
    import cProfile  # developer aid: the worker's CPU profile, written to $HARNESS_LOAD_PROFILE.<index>
    import time
    prof = cProfile.Profile(time.process_time)
    try:
        return prof.runcall(node.run)
    finally:
        prof.dump_stats(f"{profile}.{index if index is not None else os.getpid()}")


if __name__ == "__main__":
    sys.exit(main())
