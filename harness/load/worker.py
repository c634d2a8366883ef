"""The load worker process: `python -m harness.load.worker --config FILE --index I`.

Started by harness.load.runner.LoadRunner only. It loads Locust, says "ready", then reads
one "go" line on its standard input (the run's mono_t0, the phase windows, the raw log path)
and runs. It speaks JSON lines on its standard output (ready, started, one record per
second, final statistics, or an error); anything else that would print there goes to
standard error, which the runner keeps as load/worker-<I>.log.
It stops sending on SIGTERM, ignores SIGINT (the harness decides), and exits by itself
when its parent process goes away.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback


def _channel():
    """The protocol channel: the original stdout; fd 1 then points at stderr."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def emit(msg: dict) -> None:
        out.write(json.dumps(msg, separators=(",", ":")) + "\n")
        out.flush()
    return emit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.load.worker")
    ap.add_argument("--config", required=True)
    ap.add_argument("--index", type=int, default=0)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    emit = _channel()
    with open(args.config) as f:
        cfg = json.load(f)
    cfg["index"] = args.index
    try:
        from harness.load.driver import Worker  # imports locust: gevent patches this process only
        worker = Worker(cfg, emit)
        worker.prepare()
        emit({"type": "ready", "pid": os.getpid()})
        line = sys.stdin.readline()         # the go message; EOF: the runner gave up on us
        if not line.strip():
            return 0
        worker.set_timeline(json.loads(line))
        return _run(worker, args.index)
    except BrokenPipeError:
        return 3
    except SystemExit as e:
        return int(e.code or 0)
    except Exception as e:  # noqa: BLE001 - reported to the runner, which raises a HarnessError
        traceback.print_exc()
        emit({"type": "error", "what": f"the load worker failed: {type(e).__name__}: {e}",
              "where": f"load worker {args.index}", "hint": f"see load/worker-{args.index}.log"})
        return 1


def _run(worker, index: int) -> int:
    profile = os.environ.get("HARNESS_LOAD_PROFILE")
    if not profile:
        return worker.run()
    import cProfile  # developer aid: the worker's CPU profile, written to $HARNESS_LOAD_PROFILE.<index>
    import time
    prof = cProfile.Profile(time.process_time)
    try:
        return prof.runcall(worker.run)
    finally:
        prof.dump_stats(f"{profile}.{index}")


if __name__ == "__main__":
    sys.exit(main())
