"""The `harness` command: one function pair per subcommand (add_<name>, cmd_<name>).

Every option has an environment variable (HARNESS_<OPTION>); settings resolve
command line > scenario > environment > default, and the log says which won.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from harness import __version__
from harness.errors import HarnessError, Interrupted

log = logging.getLogger("harness")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")


# -- run ------------------------------------------------------------------------------------------

def add_run(sub) -> None:
    p = sub.add_parser("run", help="run a scenario end to end")
    p.add_argument("scenario", help="scenario file (YAML)")
    p.add_argument("--runs-dir", default=None, help="where run directories go [HARNESS_RUNS_DIR]")
    p.add_argument("--compose", default=os.environ.get("HARNESS_COMPOSE"),
                   help='force "docker compose" or "docker-compose" [HARNESS_COMPOSE]')
    p.add_argument("--quiet", action="store_true", default=_env_flag("HARNESS_QUIET"),
                   help="no live display [HARNESS_QUIET]")
    p.add_argument("--json", action="store_true", default=_env_flag("HARNESS_JSON"),
                   help="print the summary as JSON [HARNESS_JSON]")
    p.add_argument("--no-report", action="store_true", default=_env_flag("HARNESS_NO_REPORT"),
                   help="skip report.html/summary.json/junit.xml [HARNESS_NO_REPORT]")
    _docker_host_arg(p)


def resolve_runs_dir(cli: str | None, scenario) -> tuple[Path, str]:
    if cli:
        return Path(cli).resolve(), "command line (--runs-dir)"
    if scenario.runs_dir_explicit:
        return scenario.runs_dir, "scenario (runs_dir)"
    if os.environ.get("HARNESS_RUNS_DIR"):
        return Path(os.environ["HARNESS_RUNS_DIR"]).resolve(), "environment (HARNESS_RUNS_DIR)"
    return scenario.runs_dir, "default (runs/ beside scenarios/)"


def cmd_run(args, console: Console) -> int:
    from harness.cli_progress import Progress
    from harness.run import RunOptions, run
    from harness.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    if not args.json:
        print_warnings(console, scenario)
    runs_dir, source = resolve_runs_dir(args.runs_dir, scenario)
    log.info("runs dir: %s (from %s)", runs_dir, source)
    progress = None if (args.quiet or args.json) else Progress(console, scenario)

    def started(run_id: str, run_dir: Path) -> None:
        if not args.json:
            console.print(f"[bold]run[/] {escape(run_id)}  ->  {escape(str(run_dir))}")
        if progress:
            progress.start()

    opts = RunOptions(runs_dir=runs_dir, compose=args.compose, report=not args.no_report, docker_host=args.docker_host,
                      on_progress=progress.update if progress else None, on_start=started)
    try:
        result = run(scenario, opts)
    finally:
        if progress:
            progress.stop()
    if args.json:
        print(json.dumps({"run_id": result.run_id, "run_dir": str(result.run_dir), "status": result.status,
                          "reason": result.reason, "exit_code": result.exit_code,
                          "summary": result.summary}, indent=2, default=str))
    else:
        from harness.cli_progress import print_summary

        print_summary(console, result)
    return result.exit_code


# -- validate / schema ------------------------------------------------------------------------------

def add_validate(sub) -> None:
    p = sub.add_parser("validate", help="check scenario files without running anything")
    p.add_argument("files", nargs="+")
    _docker_host_arg(p)


def cmd_validate(args, console: Console) -> int:
    from harness import docker_engine as engine
    from harness.run import check_engine_fit
    from harness.scenario import load_scenario

    bad = 0
    for f in args.files:
        try:
            sc = load_scenario(f)
            check_engine_fit(sc, engine.choose_for(args.docker_host, sc))
        except HarnessError as e:
            bad += 1
            console.print(f"[red]✗[/] {escape(e.render())}", highlight=False)
            continue
        faults = len(sc.fault_specs())
        console.print(f"[green]✓[/] {escape(f)}: {sc.name}, {len(sc.phases)} phase(s), {sc.duration:g}s, "
                      f"{faults} fault(s), services: {', '.join(sc.compose.services)}", highlight=False)
        print_warnings(console, sc)
    return 2 if bad else 0


def print_warnings(console: Console, scenario) -> None:
    for w in scenario.warnings:
        console.print(f"[yellow]![/] {escape(str(scenario.file))}: {escape(w)}", highlight=False)


def add_schema(sub) -> None:
    sub.add_parser("schema", help="print the JSON Schema of scenario files")


def cmd_schema(args, console: Console) -> int:
    from harness.scenario.schema import scenario_schema

    print(json.dumps(scenario_schema(), indent=2))
    return 0


# -- clean / runs -------------------------------------------------------------------------------------

def add_clean(sub) -> None:
    p = sub.add_parser("clean", help="remove containers, networks, volumes and images left by runs")
    p.add_argument("--all", action="store_true", default=_env_flag("HARNESS_CLEAN_ALL"),
                   help="also runs whose harness process is still alive [HARNESS_CLEAN_ALL]")
    p.add_argument("--dry-run", action="store_true", help="list, do not remove")
    _docker_host_arg(p)


def cmd_clean(args, console: Console) -> int:
    from harness.host import recovery

    _use_engine(args)
    found = recovery.find()
    targets = [lo for lo in found.values() if args.all or not lo.alive]
    journals = recovery.orphan_journals()
    for lo in found.values():
        if lo.alive and not args.all:
            console.print(f"skip {lo.project} (run {lo.run_id}): its harness process {lo.owner_pid} "
                          f"is still running; --all removes it too")
    if not targets and not journals:
        console.print("nothing to clean")
        return 0
    if args.dry_run:
        for lo in targets:
            console.print(f"would remove {lo.project} (run {lo.run_id}): {len(lo.containers)} container(s), "
                          f"{len(lo.networks)} network(s), {len(lo.volumes)} volume(s), {len(lo.images)} image(s)")
        for j in journals:
            console.print(f"would undo what process {j.owner()[0]} left open ({escape(str(j.path))})")
        return 0
    for j in journals:
        done = recovery.replay(j)
        console.print(f"undid what process {j.owner()[0]} left open: "
                      + (", ".join(f"{d['id']} {d['state']}" for d in done) or "nothing was open"))
    for lo, removed in recovery.clean(targets):
        console.print(f"removed {lo.project} (run {lo.run_id}): "
                      + ", ".join(f"{len(v)} {k}" for k, v in removed.items()))
    return 0


def add_runs(sub) -> None:
    p = sub.add_parser("runs", help="list run directories")
    p.add_argument("--runs-dir", default=os.environ.get("HARNESS_RUNS_DIR", "runs"),
                   help="runs folder [HARNESS_RUNS_DIR] (default: ./runs)")
    p.add_argument("--json", action="store_true", default=_env_flag("HARNESS_JSON"))


def cmd_runs(args, console: Console) -> int:
    from rich.table import Table

    from rundir.contract import scan_runs

    root = Path(args.runs_dir)
    rows = []
    for run in sorted(scan_runs(root), key=lambda r: r.path.name):
        if run.error:
            rows.append({"run_id": run.path.name, "status": f"broken manifest: {run.error}",
                         "path": str(run.path)})
            continue
        rows.append({"run_id": run.id, "scenario": run.scenario, "started": run.wall_t0_iso or None,
                     "status": _status(run), "phases": list(run.phases), "path": str(run.path)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        console.print(f"no runs under {escape(str(root.resolve()))}")
        return 0
    t = Table("run", "scenario", "started (UTC)", "status", "phases")
    for r in rows:
        t.add_row(r["run_id"], str(r.get("scenario") or ""), str(r.get("started") or ""),
                  str(r.get("status") or ""), ", ".join(r.get("phases") or []))
    console.print(t)
    return 0


def _status(run) -> str | None:
    """A run still "running" whose harness process is gone was killed (SIGKILL, a crash)."""
    if run.status != "running":
        return run.status or None
    from harness.host.recovery import owner_alive

    pid, started = run.owner.get("pid"), run.owner.get("started")
    if not isinstance(pid, int) or owner_alive(pid, create_time=started if isinstance(started, (int, float))
                                               else None, host=run.owner.get("host")):
        return "running"
    return "killed"


# -- doctor / report / compare ------------------------------------------------------------------------

def add_doctor(sub) -> None:
    p = sub.add_parser("doctor", help="what this host can do: engine, compose, tc/qdiscs, iptables, perf, go")
    _docker_host_arg(p)


def _docker_host_arg(p) -> None:
    p.add_argument("--docker-host", default=None, metavar="URL",
                   help="the Docker engine: unix:///var/run/docker.sock or tcp://HOST:PORT "
                        "[HARNESS_DOCKER_HOST; else the scenario's docker:, DOCKER_HOST, DOCKER_CONTEXT]")


def _use_engine(args) -> None:
    from harness import docker_engine as engine
    engine.activate(engine.choose(args.docker_host))


def cmd_doctor(args, console: Console) -> int:
    from harness.host import doctor

    _use_engine(args)
    rows = doctor.collect()
    doctor.render(rows, console)
    return 0


def add_report(sub) -> None:
    p = sub.add_parser("report", help="rebuild summary.json, report.html and junit.xml of a run")
    p.add_argument("run_dir")


def cmd_report(args, console: Console) -> int:
    from harness.report.writer import write_all

    run_dir = _run_dir(args.run_dir)
    summary = write_all(run_dir)
    console.print(f"wrote {escape(str(run_dir / 'report.html'))}, summary.json, junit.xml")
    failed = (summary.get("expect") or {}).get("failed") or 0
    return 1 if failed else 0


def add_compare(sub) -> None:
    p = sub.add_parser("compare", help="what changed between two runs (profiles, load)")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--out", default=None, help="output folder (default: <run_b>/compare-<run_a>)")


def cmd_compare(args, console: Console) -> int:
    from harness.cli_progress import print_compare
    from harness.report.compare import compare_runs

    a, b = _run_dir(args.run_a), _run_dir(args.run_b)
    out = Path(args.out) if args.out else b / f"compare-{a.name}"
    result = compare_runs(a, b, out)
    print_compare(console, result)
    console.print(f"wrote {escape(str(out))} (compare.html, compare.json)")
    return 0


def add_flame(sub) -> None:
    p = sub.add_parser("flame", help="write a flame graph of a run's profile or a pprof file (docs/flame.md)")
    p.add_argument("target", metavar="RUN_OR_PROFILE", help="run directory, run id, or a pprof file")
    p.add_argument("--phase", default=None, help="phase (default: the fault phase, else the first)")
    p.add_argument("--service", default=None, help="service (default: every service's profile merged)")
    p.add_argument("--profile", default="cpu", help="profile kind: cpu, allocs, heap, block, mutex, ... (default cpu)")
    p.add_argument("--sample-type", default=None, help="e.g. cpu, alloc_space (default: the profile's own)")
    p.add_argument("--diff-base", default=None, metavar="PHASE_OR_PROFILE",
                   help="differential graph against this phase of the run or this profile file")
    p.add_argument("--format", required=True, choices=("folded", "speedscope", "json", "svg", "html"),
                   help="folded stacks, speedscope JSON, the tree as JSON, a static SVG, the interactive page")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help='output file ("-" = standard output)')
    p.add_argument("--runs-dir", default=os.environ.get("HARNESS_RUNS_DIR", "runs"),
                   help="runs folder for a run id [HARNESS_RUNS_DIR] (default: ./runs)")


def cmd_flame(args, console: Console) -> int:
    from harness.report.flame_export import render, select, write

    sel = select(args.target, runs_dir=Path(args.runs_dir), phase=args.phase, service=args.service,
                 kind=args.profile, diff_base=args.diff_base)
    where = write(render(sel, args.format, args.sample_type), args.output)
    if args.output != "-":
        console.print(f"wrote {escape(where)} ({args.format}, {escape(sel.label)})")
    return 0


def add_traffic(sub) -> None:
    p = sub.add_parser("traffic", help="what a production traffic file holds (access log, JSON lines, HAR)")
    p.add_argument("file", help="nginx/Apache combined log, JSON lines or HAR (plain or .gz)")
    p.add_argument("--format", default="auto", choices=("auto", "combined", "jsonl", "har"))
    p.add_argument("--top", type=int, default=12, help="endpoints listed (default 12)")
    p.add_argument("--scenario", action="store_true", help="print a load: section replaying the file")


def cmd_traffic(args, console: Console) -> int:
    from harness.cli_progress import print_traffic
    from harness.traffic.summary import scenario_snippet, summarize

    summary = summarize(Path(args.file), args.format)
    if args.scenario:
        console.print(escape(scenario_snippet(summary, args.file)), highlight=False)
    else:
        print_traffic(console, summary, top=max(1, args.top))
    return 0


def add_worker(sub) -> None:
    p = sub.add_parser("worker", help="join a run's load from this machine (load.remote_workers; docs/scaling.md)")
    p.add_argument("--master", required=True, metavar="HOST:PORT", help="the address the run printed")
    p.add_argument("--token", help="the run's token (better: $HARNESS_LOAD_TOKEN, kept out of `ps`)")


def cmd_worker(args, console: Console) -> int:
    """Becomes the load worker process: Locust patches the process it runs in (gevent), so it
    gets a fresh interpreter of its own."""
    env = dict(os.environ, **({"HARNESS_LOAD_TOKEN": args.token} if args.token else {}))
    if not env.get("HARNESS_LOAD_TOKEN"):
        raise HarnessError("no token to join the run with", where="harness worker",
                           hint="set HARNESS_LOAD_TOKEN to the token `harness run` printed")
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "harness.load.worker", "--master", args.master], env)
    return 0                      # not reached


def _run_dir(arg: str) -> Path:
    p = Path(arg)
    if not (p / "manifest.json").is_file():
        raise HarnessError("not a run directory (no manifest.json)", where=str(p),
                           hint="`harness runs` lists the run directories")
    return p


# name -> (add the subcommand's parser, run it); in the order `harness --help` lists them
COMMANDS = {
    "run": (add_run, cmd_run),
    "validate": (add_validate, cmd_validate),
    "schema": (add_schema, cmd_schema),
    "clean": (add_clean, cmd_clean),
    "runs": (add_runs, cmd_runs),
    "doctor": (add_doctor, cmd_doctor),
    "report": (add_report, cmd_report),
    "compare": (add_compare, cmd_compare),
    "flame": (add_flame, cmd_flame),
    "traffic": (add_traffic, cmd_traffic),
    "worker": (add_worker, cmd_worker),
}


DESCRIPTION = """Reproduce a Go service's production incident on this machine: a scenario file
brings up its docker-compose environment with limits, drives load, injects faults on a
timeline, captures profiles, traces and perf samples on one clock, tears everything down and
writes a run directory with a verdict and a report.

Start with `harness run scenarios/demo.yaml`; `harness doctor` says what this host can do."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=int(os.environ.get("HARNESS_VERBOSE", "0")),
                        help="more log output [HARNESS_VERBOSE]")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add, _cmd in COMMANDS.values():
        add(sub)
    return parser


def _sigterm(signum, frame):
    raise Interrupted("interrupted by SIGTERM")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    # a pipe or a CI log has no width: rich would assume 80 columns and cut the tables' cells
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
    console = Console(stderr=False, soft_wrap=True, width=width, emoji=False)   # "x.yaml:100:3" is no 💯
    err = Console(stderr=True, soft_wrap=True, emoji=False)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        return COMMANDS[args.command][1](args, console)
    except HarnessError as e:
        err.print(f"[red]error:[/] {escape(e.render())}", highlight=False)
        return e.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as e:  # a bug in the harness: say so plainly; the traceback is in -v output
        if args.verbose:
            traceback.print_exc()
        err.print(f"[red]internal error:[/] {escape(repr(e))}\n  Hint: run again with -v for the traceback and "
                  "report it", highlight=False)
        return 3


if __name__ == "__main__":
    sys.exit(main())
