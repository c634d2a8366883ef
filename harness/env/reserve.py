"""What concurrent runs on one machine must not share.

- A run id, and the compose project named after it, is reserved machine-wide before any use:
  `mkdir` of the project's name in a registry folder, which succeeds for one caller only. The id
  carries the scenario's name, the second it started and a random suffix; the project keeps the
  stamp and the suffix whole however long the name (Compose projects are cut to 60 characters
  here, and a cut once lost the seconds: two runs 7 s apart shared one project). Two runs of one
  scenario started in the same second, with different runs folders, once got one project and
  broke each other's environment.
- The prepare steps and the image build of one folder run one run at a time (`building`): two
  runs' `go build -o app` into one folder, or a build reading a binary another run is writing,
  race otherwise.

The registry and the locks live in HARNESS_STATE_DIR (default: the system's temporary folder,
shared by every user of the engine; emptied at boot, when no run can be alive).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import HarnessError

PROJECT_MAX = 60
SUFFIX_HEX = 6                  # 24 random bits; the registry makes a repeat impossible anyway
LOCK_WAIT_S = 1800.0            # another run's prepare and build: its steps have timeouts of their own


def state_dir() -> Path:
    return Path(os.environ.get("HARNESS_STATE_DIR") or tempfile.gettempdir())


def _shared_dir(name: str) -> Path:
    path = state_dir() / name
    try:
        if not path.is_dir():
            path.mkdir(exist_ok=True)
            os.chmod(path, 0o1777)      # every user of the engine reserves here (sticky, as /tmp)
    except OSError as e:
        raise HarnessError("cannot create the harness's state folder", where=str(path),
                           seen=e.strerror or str(e),
                           hint="set HARNESS_STATE_DIR to a writable folder on this machine") from None
    return path


def run_id(name: str, now: float, suffix: str) -> str:
    stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{name}-{stamp}-{suffix}"


def project_name(run_id: str) -> str:
    """Compose's project name for a run id: lower-case letters and digits, at most 60, the
    stamp and suffix (the id's last 22 such characters) always kept whole."""
    safe = "".join(ch for ch in run_id.lower() if ch.isascii() and ch.isalnum())
    tail = 16 + SUFFIX_HEX          # 20261206t224826z + the suffix
    if len(safe) + 1 > PROJECT_MAX:
        safe = safe[: PROJECT_MAX - 1 - tail] + safe[-tail:]
    return f"h{safe}"


def reserve(root: Path, name: str, now: float | None = None,
            suffix: Callable[[], str] = lambda: secrets.token_hex(SUFFIX_HEX // 2)) -> tuple[str, Path]:
    """A run id whose project no other run on this machine has, and its new run directory
    under `root` (created). Raises OSError when `root` cannot hold it."""
    registry = _shared_dir("harness-projects")
    root.mkdir(parents=True, exist_ok=True)
    now = time.time() if now is None else now
    for _ in range(1000):
        rid = run_id(name, now, suffix())
        try:
            (registry / project_name(rid)).mkdir()
        except FileExistsError:
            continue
        try:
            (root / rid).mkdir()
        except FileExistsError:
            continue
        return rid, root / rid
    raise HarnessError("could not reserve a run id", where=str(registry),
                       seen="1000 tries found every name taken", hint="remove the folder's contents")


@contextlib.contextmanager
def building(folders: list[Path], on_wait: Callable[[str], None] | None = None,
             timeout: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold the build lock of every folder (prepare steps' folders, the compose folder) while
    the block runs; waits, telling `on_wait` once, while another run holds one."""
    locks = _shared_dir("harness-locks")
    keys = sorted({str(Path(f).resolve()) for f in folders})      # one order: no deadlock
    files = []
    try:
        for key in keys:
            path = locks / (hashlib.sha256(key.encode()).hexdigest()[:20] + ".lock")
            f = open(path, "a")  # noqa: SIM115 - closed below, which releases the lock
            files.append(f)
            with contextlib.suppress(OSError):
                os.chmod(path, 0o666)       # another user's run locks the same folder
            _lock(f, key, on_wait, timeout)
        yield
    finally:
        for f in files:
            f.close()               # closing releases the lock


def _lock(f, key: str, on_wait: Callable[[str], None] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not told and on_wait is not None:
                on_wait(f"another run is preparing or building {key}: waiting for it")
                told = True
            if time.monotonic() > deadline:
                raise HarnessError("another run held the build lock too long", where=key,
                                   seen=f"waited {timeout:g}s",
                                   hint="is another harness run stuck in its prepare or build step?") from None
            time.sleep(0.2)
