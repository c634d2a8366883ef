"""The run's undo journal (run_dir/faults.ledger, JSONL, append-only, fsync'd).

Every change is written with state "applying" and its complete undo steps BEFORE anything is
changed, then "applied", then "reverted" (or "revert-failed"). The last line of an id wins.
Anything not "reverted" is what the watchdog and `harness clean` revert. Faults and function
probes (uprobes) both write here; the file keeps its name (run directories are a contract).
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from harness.undo.steps import StepRunner

FILENAME = "faults.ledger"
OPEN_STATES = ("applying", "applied", "revert-failed")


class Ledger:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / FILENAME
        self._lock = threading.Lock()

    def write(self, entry_id: str, state: str, **fields) -> dict:
        entry = {"id": entry_id, "state": state, "wall": round(time.time(), 3), **fields}
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

    def entries(self) -> list[dict]:
        return read(self.path)

    def latest(self) -> dict[str, dict]:
        return latest(self.entries())

    def unreverted(self) -> list[dict]:
        return unreverted(self.entries())


def read(path: Path) -> list[dict]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line torn by a kill mid-write: the previous state of that id stands
    return out


def latest(entries: list[dict]) -> dict[str, dict]:
    """id -> merged entry (later lines update earlier fields), in first-seen order."""
    merged: dict[str, dict] = {}
    for e in entries:
        merged.setdefault(e["id"], {}).update(e)
    return merged


def unreverted(entries: list[dict]) -> list[dict]:
    """Open entries, most recently applied first (undo in reverse order of application)."""
    return [e for e in reversed(list(latest(entries).values())) if e.get("state") in OPEN_STATES]


def revert_open(run_dir: Path, runner=None, log=None) -> list[dict]:
    """Revert every open entry of a run directory (watchdog, `harness clean`); the caller has
    imported the owners of its steps. Returns what was done."""
    runner = runner or StepRunner()
    led = Ledger(run_dir)
    done = []
    for e in led.unreverted():
        failures = runner.undo(e.get("undo") or [])
        state = "revert-failed" if failures else "reverted"
        led.write(e["id"], state, by=f"pid {os.getpid()}", failures=failures or None)
        if log:
            log(f"{e['id']}: {state}" + (f" ({'; '.join(failures)})" if failures else ""))
        done.append({"id": e["id"], "state": state, "failures": failures})
    return done
