"""The live display of `harness run` and its end summary (rich)."""
from __future__ import annotations

import threading

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text


def _fmt_ms(v) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.2f}s" if v >= 1000 else f"{v:.1f}ms"


def _fmt_bytes(v) -> str:
    if not v:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024:
            return f"{v:.0f}{unit}"
        v /= 1024
    return f"{v:.1f}TiB"


class Progress:
    """Phase, elapsed, requests/s, p99, error rate, memory against limit; once a second."""

    def __init__(self, console: Console, scenario):
        self.console = console
        self.scenario = scenario
        self._info: dict = {"stage": "starting"}
        self._lock = threading.Lock()
        self._live = Live(self._render(), console=console, refresh_per_second=4, transient=True)

    def start(self) -> None:
        self._live.start()

    def stop(self) -> None:
        self._live.stop()

    def update(self, info: dict) -> None:
        with self._lock:
            self._info = info
        self._live.update(self._render())

    def _render(self):
        info = self._info
        total = self.scenario.duration
        elapsed = info.get("elapsed_s")
        head = Text()
        head.append(f"{self.scenario.name}  ", style="bold")
        if info.get("stage") != "load" or elapsed is None:
            head.append(str(info.get("stage", "")))
            return head
        phase = info.get("phase") or "-"
        head.append(f"phase [{phase}]  {elapsed:5.1f}s / {total:g}s")
        top = Table.grid(padding=(0, 2))
        top.add_row(head, ProgressBar(total=total, completed=min(elapsed, total), width=30))
        t = Table.grid(padding=(0, 2))
        load = info.get("load") or {}
        rps = load.get("rps")
        fails = load.get("fps") or 0
        err = (fails / rps * 100) if rps else 0.0
        t.add_row("req/s", f"{rps:.0f}" if rps is not None else "-",
                  "p50", _fmt_ms(load.get("p50_ms")), "p99", _fmt_ms(load.get("p99_ms")),
                  "errors", f"{err:.1f}%")
        if load.get("gen_saturated"):
            t.add_row(Text("load generator saturated: latencies may be the generator's", style="yellow"))
        for svc, st in sorted((info.get("stats") or {}).items()):
            mem, lim, cpu = st.get("mem_bytes"), st.get("mem_limit"), st.get("cpu_pct")
            t.add_row(svc, f"mem {_fmt_bytes(mem)} / {_fmt_bytes(lim)}",
                      f"cpu {cpu:.0f}%" if isinstance(cpu, (int, float)) else "")
        return Group(top, t)


def print_summary(console: Console, result) -> None:
    colour = {"completed": "green", "failed": "red", "interrupted": "yellow"}.get(result.status, "white")
    console.print(f"[{colour}]{result.status}[/] {result.run_id}  exit {result.exit_code}")
    if result.reason:
        console.print(result.reason, highlight=False)
    summary = result.summary or {}
    phases = summary.get("phases") or []
    if phases:
        t = Table("phase", "requests", "req/s", "p50", "p95", "p99", "max", "errors", title="load by phase")
        for ph in phases:
            ld = ph.get("load") or {}
            t.add_row(ph.get("name", "?"), str(ld.get("requests", "-")),
                      f"{ld['rps']:.1f}" if isinstance(ld.get("rps"), (int, float)) else "-",
                      _fmt_ms(ld.get("p50_ms")), _fmt_ms(ld.get("p95_ms")), _fmt_ms(ld.get("p99_ms")),
                      _fmt_ms(ld.get("max_ms")),
                      f"{ld['error_rate'] * 100:.2f}%" if isinstance(ld.get("error_rate"), (int, float)) else "-")
        console.print(t)
    hot = _hot_lines(summary)
    if hot:
        t = Table("phase", "service", "profile", "hottest own line", "function", "share",
                  title="hottest own-code line per phase")
        for h in hot:
            t.add_row(h["phase"], h["service"], h["profile"], f"{h['file']}:{h['line']}", h["function"],
                      f"{h['share'] * 100:.1f}%")
        console.print(t)
    exp = summary.get("expect") or {}
    unjudged = sorted({c.get("phase") for c in exp.get("checks") or [] if c.get("skipped")})
    if unjudged:
        console.print(f"[yellow]expectations on phase(s) {', '.join(unjudged)} not judged: the run ended "
                      "before they ran[/]", highlight=False)
    for c in exp.get("checks") or []:
        if not c.get("passed") and not c.get("skipped"):
            console.print(f"[red]expectation failed[/] [{c.get('phase')}] {c.get('name')}: {c.get('message')} "
                          f"({c.get('where')})", highlight=False)
    if exp.get("total"):
        colour = "red" if exp.get("failed") else "green"
        console.print(f"[{colour}]expectations: {exp['total'] - exp.get('failed', 0)}/{exp['total']} passed[/]")
    if (result.run_dir / "report.html").exists():
        console.print(f"report: {result.run_dir / 'report.html'}")
    console.print(f"run dir: {result.run_dir}")


def _hot_lines(summary: dict, kinds=("cpu", "perf")) -> list[dict]:
    """The top own-code line of each CPU-like profile, per phase and service."""
    out = []
    for ph in summary.get("phases") or []:
        for svc, profiles in sorted((ph.get("profiles") or {}).items()):
            for kind in kinds:
                prof = profiles.get(kind) or {}
                lines = prof.get("lines") or []
                if lines:
                    top = lines[0]
                    out.append({"phase": ph.get("name", "?"), "service": svc, "profile": kind,
                                "file": top.get("file", "?"), "line": top.get("line", "?"),
                                "function": top.get("function", "?"), "share": top.get("share", 0.0)})
    return out
