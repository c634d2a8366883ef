"""A stand-in for the harness process in the revert-path tests: applies faults with a
FaultController and a watchdog, says APPLIED, then waits to be interrupted or killed.

    python tests/faults/driver.py '<json: run_dir, project, services, faults>'

SIGINT and SIGTERM end the wait like the engine does (revert_all, stop_watchdog in finally).
"""
from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from harness.faults.controller import FaultController
from harness.faults.spec import FaultSpec
from harness.runctx import Clock, RunContext, ServiceInfo


class Stop(Exception):
    pass


def _raise(signum, frame):
    raise Stop(signal.Signals(signum).name)


def main() -> int:
    cfg = json.loads(sys.argv[1])
    run_dir = Path(cfg["run_dir"])
    clock = Clock.start()
    rc = RunContext.of(cfg["run_id"], run_dir, clock, {k: ServiceInfo(**v) for k, v in cfg["services"].items()},
                       cfg["project"])
    specs = [FaultSpec.from_json(f) for f in cfg["faults"]]
    signal.signal(signal.SIGTERM, _raise)
    signal.signal(signal.SIGINT, _raise)
    fc = FaultController(rc)
    try:
        fc.preflight(specs)
        fc.start_watchdog(int(cfg.get("owner_pid") or 0) or __import__("os").getpid())
        for s in specs:
            fc.apply(s, "fault")
        print("APPLIED", flush=True)
        time.sleep(600)
    except Stop as e:
        print(f"stopping on {e}", flush=True)
    finally:
        fc.revert_all()
        fc.stop_watchdog()
    return 0


if __name__ == "__main__":
    sys.exit(main())
