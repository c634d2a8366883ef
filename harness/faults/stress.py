"""CPU/memory pressure helper: joins the cgroups of a target process, then burns CPU in
`--cpu` worker processes and/or holds `--memory` bytes of touched memory until SIGTERM.

Run by the cgroup backend as `python -m harness.faults.stress`; see backends/cgroup.py.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path


def cgroup_dirs(pid: int, root: Path = Path("/sys/fs/cgroup")) -> list[Path]:
    """The cgroup directories of `pid` (every v1 hierarchy, or the v2 unified one)."""
    out = []
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if ctrls.startswith("name="):
            sub = ctrls[len("name="):]
        else:
            sub = ctrls
        d = root / sub / path.lstrip("/") if sub else root / path.lstrip("/")
        if d.is_dir():
            out.append(d)
    return out


def join(pid: int) -> list[str]:
    joined = []
    for d in cgroup_dirs(pid):
        try:
            (d / "cgroup.procs").write_text(str(os.getpid()))
            joined.append(str(d))
        except OSError:
            pass
    return joined


def burn() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    x = 0
    while True:
        x += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.faults.stress")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--pidfile", type=Path)
    ap.add_argument("--target-pid", type=int, required=True)
    ap.add_argument("--cpu", type=int, default=0)
    ap.add_argument("--memory", type=int, default=0)
    args = ap.parse_args(argv)
    joined = join(args.target_pid)
    if not joined:
        print(f"stress {args.tag}: could not join any cgroup of pid {args.target_pid}", file=sys.stderr)
        return 1
    children = []
    for _ in range(args.cpu):
        pid = os.fork()
        if pid == 0:
            burn()
        children.append(pid)
    hold = None
    if args.memory:
        hold = bytearray(args.memory)
        for i in range(0, len(hold), 4096):
            hold[i] = 1
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    if args.pidfile:
        from harness.undo.steps import write_pidfile
        write_pidfile(args.pidfile)
    while not stop:
        time.sleep(0.2)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
