"""Errors the harness reports to users: what went wrong, where, what was seen, and a hint.

Library code raises these; only the CLI turns them into a message and an exit code.
"""
from __future__ import annotations


class HarnessError(Exception):
    """A failure the user can act on.

    what:  one sentence, what went wrong
    where: a place (file:line:col, a service, a URL), optional
    seen:  what was found instead, optional
    hint:  what to do about it, optional
    """

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, seen: str | None = None,
                 hint: str | None = None):
        super().__init__(what)
        self.what = what
        self.where = where
        self.seen = seen
        self.hint = hint

    def render(self) -> str:
        head = f"{self.where}: {self.what}" if self.where else self.what
        lines = [head]
        if self.seen:
            lines.append(f"  seen: {self.seen}")
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        # a value from the scenario may hold a lone surrogate (YAML's "\ud800"): shown escaped
        return "\n".join(lines).encode("utf-8", "backslashreplace").decode("utf-8")

    def __str__(self) -> str:
        return self.render()


class ScenarioError(HarnessError):
    """A scenario file is malformed or names something that does not exist."""


class CommandError(HarnessError):
    """A subprocess failed or timed out."""

    def __init__(self, what: str, *, cmd: list[str], returncode: int | None, stdout: str = "",
                 stderr: str = "", hint: str | None = None):
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        tail = (stderr or stdout).strip().splitlines()[-8:]
        seen = f"exit code {returncode}" if returncode is not None else "timed out"
        if tail:
            seen += "; output:\n    " + "\n    ".join(tail)
        super().__init__(what, where=" ".join(cmd), seen=seen, hint=hint)


class EnvironmentError_(HarnessError):
    """The compose environment could not be brought up, or became unhealthy."""


class ReadinessError(EnvironmentError_):
    """A service did not become ready in time."""


class CapabilityError(HarnessError):
    """The host lacks something a scenario needs (a qdisc, a tool, a kernel feature)."""


class TargetRefused(HarnessError):
    """Load or fault traffic would go somewhere other than loopback or the project's containers."""


class Interrupted(HarnessError):
    """The run was stopped by SIGINT or SIGTERM."""

    exit_code = 130
