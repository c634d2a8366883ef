"""Uprobes the harness places on the host's kernel (through `perf probe`), and their removal.

Every probe of a run's service lives in one perf probe group, `hx<run hash><n>` (a C
identifier, as perf requires). Removing a group is `perf probe -d GROUP:*`, then, for any
event perf left (or when perf is gone), writing `-:GROUP/EVENT` to tracefs' uprobe_events
directly. An event that a perf record still holds open cannot be removed (EBUSY): whoever
removes a group stops that recorder first (the ledger's undo does, in that order).

Undo step it owns (harness/undo/steps.py):
  uprobes-remove  {group}   remove every uprobe event of a perf probe group
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from harness import proc
from harness.errors import HarnessError
from harness.undo.steps import StepRunner, operation

PREFIX = "hx"
TRACEFS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
# a line of uprobe_events: "p:GROUP/EVENT /path/to/bin:0x0000000000049a0a0 g=%r14 ..."
EVENT_RE = re.compile(r"^[pr]:(?P<group>[^/\s]+)/(?P<event>\S+)\s")


def group_name(run_id: str, index: int) -> str:
    """The perf probe group of the index-th probed service of a run."""
    return f"{PREFIX}{hashlib.sha1(run_id.encode()).hexdigest()[:8]}s{index}"


def tracefs() -> Path | None:
    for root in TRACEFS:
        if (root / "uprobe_events").exists():
            return root
    return None


def listed(prefix: str = PREFIX) -> list[str]:
    """GROUP:EVENT of every uprobe event registered in the kernel whose group starts with prefix."""
    root = tracefs()
    if root is None:
        return []
    try:
        text = (root / "uprobe_events").read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        m = EVENT_RE.match(line + " ")
        if m and m["group"].startswith(prefix):
            out.append(f"{m['group']}:{m['event']}")
    return out


def hits(prefix: str = PREFIX) -> dict[str, int]:
    """GROUP:EVENT -> how often the kernel fired it, for the groups starting with prefix.

    uprobe_profile names the event without its group ("PATH EVENT HITS"), in the order of
    uprobe_events, which names both: the two are read together and paired line by line ({} when
    they disagree: an event came or went between the reads; the caller asks again later)."""
    root = tracefs()
    try:
        events = (root / "uprobe_events").read_text().splitlines() if root is not None else []
        profile = (root / "uprobe_profile").read_text().splitlines() if root is not None else []
    except OSError:
        return {}
    if len(events) != len(profile):
        return {}
    out = {}
    for ev, prof in zip(events, profile):
        m, parts = EVENT_RE.match(ev + " "), prof.split()
        if m is None or len(parts) < 3 or parts[-2] != m["event"] or not parts[-1].isdigit():
            return {}
        if m["group"].startswith(prefix):
            out[f"{m['group']}:{m['event']}"] = int(parts[-1])
    return out


def remove_group(group: str, timeout: float = 30.0) -> list[str]:
    """Remove every uprobe event of `group`; returns those that could not be removed."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", group):
        raise HarnessError(f"not a probe group name: {group!r}")
    if not listed(group):
        return []
    try:
        proc.run(["perf", "probe", "-q", "-d", f"{group}:*"], timeout=timeout, check=False)
    except HarnessError:
        pass                                     # perf missing or hung: tracefs below
    left = [e for e in listed(group) if e.split(":", 1)[0] == group]
    root = tracefs()
    for event in left:
        g, _, name = event.partition(":")
        try:
            with open(root / "uprobe_events", "a") as f:
                f.write(f"-:{g}/{name}\n")
        except OSError:
            pass
    return [e for e in listed(group) if e.split(":", 1)[0] == group]


@operation("uprobes-remove")
def _remove_step(runner: StepRunner, s: dict) -> None:
    left = remove_group(s["group"])
    if left:
        raise HarnessError(f"uprobes still registered: {', '.join(left)}",
                           hint="a perf record may still hold them; `perf probe -d` them by hand")
