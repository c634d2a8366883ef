"""The live display of `harness run`, its end summary and `harness compare`'s differences (rich).

Every number reads in human units (harness/report/units.py); the summary opens with the verdict."""
from __future__ import annotations

import threading

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from harness.report import units, verdict_view
from harness.report.compare import differences
from harness.report.profiles import PROFILE_KINDS, moved

_fmt_ms = units.duration_ms
_fmt_bytes = units.size


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
        t.add_row("throughput", units.rate(rps),
                  "p50", _fmt_ms(load.get("p50_ms")), "p99", _fmt_ms(load.get("p99_ms")),
                  "errors", units.percent(err / 100))
        if load.get("gen_saturated"):
            t.add_row(Text("load generator saturated: latencies may be the generator's", style="yellow"))
        for svc, st in sorted((info.get("stats") or {}).items()):
            mem, lim, cpu = st.get("mem_bytes"), st.get("mem_limit"), st.get("cpu_pct")
            t.add_row(svc, f"mem {_fmt_bytes(mem)} / {_fmt_bytes(lim)}",
                      f"cpu {units.pct(cpu)}" if isinstance(cpu, (int, float)) else "")
        return Group(top, t)


def print_summary(console: Console, result) -> None:
    colour = {"completed": "green", "failed": "red", "interrupted": "yellow"}.get(result.status, "white")
    console.print(f"[{colour}]{result.status}[/] {result.run_id}  exit {result.exit_code}")
    if result.reason:
        console.print(result.reason, highlight=False)
    summary = result.summary or {}
    print_verdict(console, summary)
    _print_load(console, summary)
    _print_hot_lines(console, summary)
    _print_capture_failures(console, summary)
    _print_expect(console, summary)
    if (result.run_dir / "report.html").exists():
        console.print(f"report: {result.run_dir / 'report.html'}")
    console.print(f"run dir: {result.run_dir}")


def print_verdict(console: Console, summary: dict) -> None:
    """The verdict first: per phase its headline, then the ranked findings (nothing without one)."""
    for p in verdict_view.phases(summary):
        head = Text()
        head.append(f"{p['phase']}", style="bold")
        if p.get("baseline"):
            head.append(f" vs {p['baseline']}", style="dim")
        head.append(": ")
        head.append(p["headline"], style="green" if verdict_view.is_calm(p) else "bold")
        console.print(head)
        for i, f in enumerate(p["findings"], 1):
            style = "green" if f["kind"] in verdict_view.CALM else "bold red" if i == 1 else ""
            row = Text(f"  {i}. ")
            row.append(f"{f['kind']:<9}", style="dim" if i > 1 else style)
            row.append(" " + verdict_view.message(f), style=style)
            row.append(verdict_view.line_suffix(f), style="cyan")
            console.print(row)
    fid = verdict_view.fidelity_line(summary)
    if fid:
        console.print(Text(fid, style="magenta"))


def _print_load(console: Console, summary: dict) -> None:
    phases = summary.get("phases") or []
    if not phases:
        return
    t = Table("phase", "requests", "throughput", "p50", "p95", "p99", "max", "errors", title="load by phase")
    for ph in phases:
        ld = ph.get("load") or {}
        t.add_row(Text(str(ph.get("name", "?"))), units.count(ld.get("requests")), units.rate(ld.get("rps")),
                  _fmt_ms(ld.get("p50_ms")), _fmt_ms(ld.get("p95_ms")), _fmt_ms(ld.get("p99_ms")),
                  _fmt_ms(ld.get("max_ms")), units.percent(ld.get("error_rate")))
    console.print(t)


def _print_hot_lines(console: Console, summary: dict) -> None:
    hot = hot_lines(summary)
    if not hot:
        return
    t = Table("phase", "service", "profile", "changed", "hottest own line", "function", "share", "value",
              title="hottest own-code line per profile (most-changed profile first)")
    for h in hot:
        t.add_row(Text(h["phase"]), Text(str(h["service"])), h["profile"],
                  units.MISSING if h["changed"] is None else f"{units.sig3(round(h['changed'] * 100, 1))} pts",
                  Text(f"{h['file']}:{h['line']}"), Text(str(h["function"])), units.percent(h["share"]),
                  units.profile_value(h["value"], h["unit"]))
    console.print(t)


CAPTURE_FAILURES_SHOWN = 5


def _print_capture_failures(console: Console, summary: dict) -> None:
    """Captures the run could not take: what is missing from the profiles above, and why."""
    failed = summary.get("capture_failures") or []
    if not failed:
        return
    console.print(f"[yellow]{units.count(len(failed))} capture(s) failed[/] (the report lists them all):",
                  highlight=False)
    for e in failed[:CAPTURE_FAILURES_SHOWN]:
        console.print(Text(f"  {e.get('detail', '')}"))
    if len(failed) > CAPTURE_FAILURES_SHOWN:
        console.print(f"  … and {len(failed) - CAPTURE_FAILURES_SHOWN} more")


def _print_expect(console: Console, summary: dict) -> None:
    exp = summary.get("expect") or {}
    unjudged = sorted({c.get("phase") for c in exp.get("checks") or [] if c.get("skipped")})
    if unjudged:
        console.print(f"[yellow]expectations on phase(s) {', '.join(unjudged)} not judged: the run ended "
                      "before they ran[/]", highlight=False)
    for c in exp.get("checks") or []:
        if not c.get("passed") and not c.get("skipped"):
            console.print(Text.assemble(("expectation failed", "red"), f" [{c.get('phase')}] {c.get('name')}: "
                                        f"{c.get('message')} ({c.get('where')})"))
    if exp.get("total"):
        colour = "red" if exp.get("failed") else "green"
        console.print(f"[{colour}]expectations: {exp['total'] - exp.get('failed', 0)}/{exp['total']} passed[/]")


def change_scores(summary: dict) -> dict[tuple, float]:
    """(phase, service, kind) -> how much the profile's own-code distribution changed against the
    baseline (profiles.moved: the sum of |delta| of the line shares in summary["changes"])."""
    return {(c.get("phase"), c.get("service"), c.get("kind")): moved(c) for c in summary.get("changes") or []}


def hot_lines(summary: dict) -> list[dict]:
    """The top own-code line of every captured profile kind, per phase and service; within a phase
    the kind whose distribution changed most against the baseline comes first."""
    scores = change_scores(summary)
    order = {k: i for i, k in enumerate(PROFILE_KINDS)}
    out = []
    for ph in summary.get("phases") or []:
        rows = []
        for svc, profiles in (ph.get("profiles") or {}).items():
            for kind, prof in (profiles or {}).items():
                lines = (prof or {}).get("lines") or []
                if not lines:
                    continue
                top = lines[0]
                rows.append({"phase": ph.get("name", "?"), "service": svc, "profile": kind,
                             "changed": scores.get((ph.get("name"), svc, kind)), "unit": prof.get("unit"),
                             "file": top.get("file", "?"), "line": top.get("line", "?"),
                             "function": top.get("function", "?"), "share": top.get("share", 0.0),
                             "value": top.get("value")})
        rows.sort(key=lambda r: (-(r["changed"] or 0), r["changed"] is None, order.get(r["profile"], 99),
                                 str(r["service"])))
        out += rows
    return out


# -- harness compare ---------------------------------------------------------------------------------

def print_compare(console: Console, result: dict, top: int = 3) -> None:
    """`harness compare A B`'s main differences: per phase the symptom A vs B with factors, then the
    own lines whose share grew or shrank most per profile kind."""
    console.print(Text.assemble(("A ", "bold"), str(result.get("run_a")), ("  B ", "bold"),
                                str(result.get("run_b"))))
    for p in differences(result, top):
        console.print(Text(f"phase {p['phase']}", style="bold"))
        for sy in p["symptom"]:
            style = {True: "red", False: "green"}.get(sy["worse"], "")
            console.print(Text.assemble(f"  {sy['name']:<11}{sy['a']} → {sy['b']}  ", (sy["factor"], style)))
        for k in p["profiles"]:
            console.print(Text(f"  {k['kind']} · {k['service']}", style="bold"))
            for direction, style in (("grew", "red"), ("shrank", "green")):
                for r in k[direction]:
                    console.print(Text.assemble(
                        ("    " + f"{direction:<7}", style), f"{r['key']} ({r['function']}) ",
                        f"{r['share_a']} → {r['share_b']} ", (r["delta"], style), f"  {r['value']}"))


def print_traffic(console: Console, s, top: int = 12) -> None:
    """`harness traffic FILE`: what the file holds, the rate over time as a sparkline, the endpoint
    and status mix, latency when the log has it, and what was skipped."""
    from harness.traffic.summary import sparkline

    console.print(Text.assemble((str(s.path), "bold"), f"  ({s.format})"))
    console.print(f"  {units.count(s.requests)} requests over {units.duration_s(s.seconds)}: "
                  f"mean {units.rate(s.mean_rps)}, peak {s.peak_rps}/s in a second")
    line, step = sparkline(s.per_second, s.seconds)
    console.print(Text.assemble("  rate  ", (line, "cyan"), f"  (a column is {units.duration_s(step)})"))
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    for col, just in (("endpoint", "left"), ("requests", "right"), ("share", "right")):
        table.add_column(col, justify=just)
    for (method, name), n in s.endpoints.most_common(top):
        table.add_row(f"{method} {name}", units.count(n), units.percent(n / s.requests))
    rest = len(s.endpoints) - top
    if rest > 0:
        table.add_row(f"{rest} more", units.count(sum(n for _k, n in s.endpoints.most_common()[top:])), "")
    console.print(table)
    statuses = ", ".join(f"{code or 'none'}: {units.percent(n / s.requests)}" for code, n in s.statuses.most_common(6))
    console.print(f"  status  {statuses}")
    if s.latency_ms:
        console.print("  latency " + "  ".join(f"{k} {units.duration_ms(v)}" for k, v in s.latency_ms.items()))
    notes = []
    if s.spread:
        notes.append(f"{units.count(s.spread)} stamps had whole seconds only: spread evenly within their second")
    if s.out_of_order:
        notes.append(f"{units.count(s.out_of_order)} line(s) out of order by more than 10 s: skipped")
    if s.sensitive:
        notes.append("credential headers not replayed unless kept: " + ", ".join(sorted(s.sensitive)))
    if s.bad:
        notes.append(f"{units.count(s.bad)} line(s) not understood; the first:")
    for n in notes:
        console.print(Text(f"  note: {n}", style="yellow"))
    for b in s.bad_lines:
        console.print(Text(f"    {b}", style="dim"))
