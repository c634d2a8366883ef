"""Writing a run's report: summary.json (data), then report.html and junit.xml rendered from it.

    from harness.report.writer import write_all
    summary = write_all("runs/demo-20261122T113000Z")   # summary["expect"]["failed"] > 0 -> exit non-zero
"""
from __future__ import annotations

import json
from pathlib import Path

from harness import outfile
from harness.errors import HarnessError
from harness.judge import expect as expect_mod
from harness.parse.context import ParseContext
from harness.parse.node import load_yaml
from harness.report import html, junit, summary
from harness.report.rundata import RunData, load_run


def read_expect(run: RunData) -> expect_mod.ExpectSpec:
    """The scenario's expect section, parsed again from the scenario copy in the run directory."""
    path = run.path / "scenario.yaml"
    if not path.is_file():
        return expect_mod.ExpectSpec()
    root = load_yaml(path.read_text(), str(path))
    node = root.get("expect") if root.is_map() else None
    if node is None:
        return expect_mod.ExpectSpec()
    services = tuple(run.manifest.get("services", {}))
    ctx = ParseContext(file=str(path), scenario_dir=path.parent, services=services,
                       phase_names=tuple(p["name"] for p in run.manifest.get("phases", [])),
                       allow_external_targets=False)
    return expect_mod.parse_expect(node, ctx)


def build_summary(run_dir: str | Path, spec: expect_mod.ExpectSpec | None = None,
                  manifest: dict | None = None) -> tuple[dict, RunData]:
    """The summary (data) of a run with its expectations judged. The engine passes the spec it
    parsed and the manifest it is about to write; `harness report` reads both from the run."""
    run = load_run(run_dir, manifest)
    data = summary.build(run)
    if spec is None:
        try:
            spec = read_expect(run)
        except HarnessError as e:
            data["problems"].append(f"expect section: {e.render()}")
            spec = expect_mod.ExpectSpec()
    data["expect"] = expect_mod.evaluate(spec, data)
    return data, run


def write_all(run_dir: str | Path, spec: expect_mod.ExpectSpec | None = None) -> dict:
    """Write summary.json, report.html and junit.xml into the run directory; return the summary."""
    data, run = build_summary(run_dir, spec)
    render_all(run_dir, data, run)
    return data


def render_all(run_dir: str | Path, data: dict, run: RunData) -> None:
    """summary.json, report.html and junit.xml from one summary."""
    out = Path(run_dir)
    _write(out / "summary.json", json.dumps(data, indent=1, default=str))
    _write(out / "report.html", html.render(data, run))
    _write(out / "junit.xml", junit.render(data))


def _write(path: Path, text: str) -> None:
    outfile.write(path, text, what=path.name)


__all__ = ["build_summary", "render_all", "write_all"]
