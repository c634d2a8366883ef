"""The fault watchdog: a detached process that puts a run right if the harness dies.

    python -m harness.host.watchdog --run-dir D --owner-pid P --project NAME

Started by FaultController.start_watchdog in its own session (a Ctrl-C or a SIGKILL of
the harness's process group does not reach it). Every POLL seconds it checks that the owner
(PID and start time, so a reused PID does not count; recovery.owner_alive) is alive. When it
is gone it reverts every open entry of D/faults.ledger (newest first), then removes the run's
environment by label (recovery.recover), and exits. It exits quietly when
D/faults/watchdog.stop appears or on SIGTERM/SIGINT. Bound: POLL (0.25 s) + the undo steps
(tens of ms each) + the environment teardown.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from harness.host.recovery import owner_alive, recover, start_time
from harness.undo.steps import StepRunner, write_pidfile

POLL = 0.25
log = logging.getLogger("harness.host.watchdog")


def take_over(run_dir: Path, project: str, runner=None) -> None:
    t0 = time.monotonic()
    try:
        removed = recover(run_dir, project, runner=runner)
        log.info("faults reverted and environment of %s removed in %.2fs: %s", project,
                 time.monotonic() - t0, removed)
    except Exception as e:  # noqa: BLE001 - logged; the watchdog exits either way
        log.error("environment teardown of %s failed: %s", project, e)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.host.watchdog")
    ap.add_argument("--run-dir", type=Path, required=True)
    ap.add_argument("--owner-pid", type=int, required=True)
    ap.add_argument("--project", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s watchdog %(message)s")
    ctime = start_time(args.owner_pid)
    stop_file = args.run_dir / "faults" / "watchdog.stop"
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: stopping.append(s))
    runner = StepRunner()
    try:
        runner.docker.ping()            # connect now: taking over must not wait for imports
    except Exception as e:  # noqa: BLE001 - docker steps will report it when they run
        log.info("Docker engine not reachable yet: %s", e)
    (args.run_dir / "faults").mkdir(parents=True, exist_ok=True)
    write_pidfile(args.run_dir / "faults" / "watchdog.pid")
    log.info("watching pid %s for %s", args.owner_pid, args.run_dir)
    while True:
        if stopping or stop_file.exists():
            log.info("stopped (%s)", "signal" if stopping else "stop file")
            return 0
        if ctime is None or not owner_alive(args.owner_pid, create_time=ctime):
            log.info("owner pid %s is gone: reverting faults and tearing down", args.owner_pid)
            take_over(args.run_dir, args.project, runner)
            return 0
        time.sleep(POLL)


if __name__ == "__main__":
    sys.exit(main())
