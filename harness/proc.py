"""Subprocess calls: argument lists, always a timeout, failures that carry everything."""
from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass

from harness.errors import CommandError

log = logging.getLogger("harness.proc")


@dataclass(frozen=True)
class Result:
    cmd: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(cmd: list[str], *, timeout: float, check: bool = True, what: str | None = None,
        hint: str | None = None, input: str | None = None, env: dict | None = None,
        cwd: str | None = None, stdout_path: str | None = None) -> Result:
    """Run `cmd` (a list), wait at most `timeout` seconds.

    With check=True a non-zero exit raises CommandError naming the command, exit code and
    output; a timeout always raises CommandError (the child is killed). With stdout_path,
    standard output (binary or not) goes to that file and Result.stdout is empty.
    """
    if stdout_path is not None:
        with open(stdout_path, "wb") as out:
            return _run(cmd, timeout, check, what, hint, input, env, cwd, out)
    return _run(cmd, timeout, check, what, hint, input, env, cwd, None)


def _run(cmd, timeout, check, what, hint, input, env, cwd, out) -> Result:
    if not isinstance(cmd, (list, tuple)):
        raise TypeError("cmd must be an argument list")
    cmd = [str(c) for c in cmd]
    log.debug("run %s (timeout %ss)", cmd, timeout)
    try:
        # A new session: a Ctrl-C in the terminal reaches the harness only, which then
        # stops its children in order instead of having them die half-way.
        cp = subprocess.run(cmd, check=False, stdout=out if out is not None else subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=timeout, input=input,
                            env=env, cwd=cwd, start_new_session=True,
                            stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise CommandError(what or f"{cmd[0]} did not finish within {timeout:g}s", cmd=cmd,
                           returncode=None, stdout=_text(e.stdout), stderr=_text(e.stderr),
                           hint=hint) from None
    except FileNotFoundError:
        raise CommandError(what or f"{cmd[0]} is not installed", cmd=cmd, returncode=127,
                           hint=hint or f"install {cmd[0]} (see README: set-up)") from None
    res = Result(cmd, cp.returncode, cp.stdout or "", cp.stderr)
    if check and cp.returncode != 0:
        raise CommandError(what or f"{cmd[0]} failed", cmd=cmd, returncode=cp.returncode,
                           stdout=cp.stdout, stderr=cp.stderr, hint=hint)
    return res


def _text(b) -> str:
    if b is None:
        return ""
    return b.decode(errors="replace") if isinstance(b, bytes) else b
