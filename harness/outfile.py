"""Writing a path the user named (`harness flame -o`, `harness compare --out`, a run's report files).

A regular file (or a new one) is written to a temporary file beside it and renamed over it, so a
reader never sees half a file. Anything else is written *through*, never replaced: a character or
block device, a pipe, a symlink (to whatever it points at). Renaming over them once turned
`-o /dev/full`'s copy into a regular file and replaced a symlink to /proc/self/fd/1; run as root,
`-o /dev/null` would have replaced /dev/null. A folder, a missing parent folder, a full device or
a refused write is a HarnessError (exit 2) naming the path.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from harness.errors import HarnessError


def write(path: str | os.PathLike, data: str | bytes, *, what: str = "the output") -> str:
    """Write `data` (text is UTF-8) to `path`; returns the path as given."""
    p = Path(path)
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _error(what, p, e) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise HarnessError(f"cannot write {what}: it is a folder", where=str(p),
                           hint="name a file in it instead")
    try:
        if st is None or stat.S_ISREG(st.st_mode):
            _replace(p, raw)
        else:                       # a device, pipe, socket or symlink: written through
            _through(p, raw)
    except OSError as e:
        raise _error(what, p, e) from None
    return str(p)


def _replace(p: Path, raw: bytes) -> None:
    if not p.parent.is_dir():
        raise FileNotFoundError(2, "the folder does not exist", str(p.parent))
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(raw)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)


def _through(p: Path, raw: bytes) -> None:
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(raw)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)


def _error(what: str, p: Path, e: OSError) -> HarnessError:
    reason = e.strerror or str(e)
    hints = {"No space left on device": "the device is full", "Permission denied": "choose a path you may write",
             "the folder does not exist": f"create {p.parent} first, or name another folder"}
    return HarnessError(f"cannot write {what}", where=str(p), seen=reason,
                        hint=hints.get(reason, "check the path"))
