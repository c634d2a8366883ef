"""The verdict on real runs of incident shapes of the shop fixture (tests/e2e/incidents/shapes.py):
the incident phase's first finding names the right kind of cause and the planted line, in the
right profile; the incident-free run says "no significant change" and nothing else; the pool
shape gives the same first finding in two runs in a row; the top of its report is screenshotted.
Pool exhaustion, garbage, a squeezed quota and a leak are run against a real Redis by the
incident library (test_incident_library.py); here run the shapes it has not: burning CPU and
the incident-free run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import screenshot_file
from tests.e2e.incidents.shapes import SHAPES, Shape, culprit_line, scenario
from tests.env.conftest import REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ARTEFACTS = REPO / "test-artifacts" / "verdict"


def run_shape(tmp_path: Path, shape: Shape, name: str | None = None) -> tuple[Path, dict]:
    sc = scenario(tmp_path, shape, name)
    res = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(sc), "--runs-dir", str(tmp_path / "runs"),
                          "--json"], capture_output=True, text=True, timeout=600, cwd=REPO,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    run_dir = Path(json.loads(res.stdout)["run_dir"])
    return run_dir, json.loads((run_dir / "summary.json").read_text())


def incident(summary: dict, phase: str = "incident") -> list[dict]:
    return next(p for p in summary["verdict"]["phases"] if p["phase"] == phase)["findings"]


def explain(findings: list[dict]) -> str:
    return "\n".join(f"{f['kind']}: {f['message']}" for f in findings)


def assert_names_the_culprit(shape: Shape, findings: list[dict]) -> None:
    first = findings[0]
    assert first["kind"] == shape.kind, explain(findings)
    if shape.culprit is None:
        return
    line = first["evidence"]["line"]
    assert line, explain(findings)
    assert (line["profile"], Path(line["file"]).name, line["line"]) == \
        (shape.profile, "main.go", culprit_line(shape.culprit)), explain(findings)
    assert f"culprit:{shape.culprit}" in (line.get("text") or ""), line      # the source text is shown


@pytest.mark.parametrize("name", ["cpu", "clean"])
def test_the_first_finding_names_the_cause_and_the_planted_line(tmp_path, name):
    shape = SHAPES[name]
    _run_dir, summary = run_shape(tmp_path, shape)
    findings = incident(summary)
    print(f"{name}:\n{explain(findings)}")
    assert_names_the_culprit(shape, findings)
    if name == "clean":
        assert all([f["kind"] for f in p["findings"]] == ["no-change"] for p in summary["verdict"]["phases"]), \
            summary["verdict"]


def test_the_pool_verdict_holds_across_runs(tmp_path):
    """Two runs of the pool shape in a row give the same first finding."""
    shape = SHAPES["pool"]
    for i in range(2):
        run_dir, summary = run_shape(tmp_path, shape, name=f"incident-pool-{i}")
        assert_names_the_culprit(shape, incident(summary))
        if i == 0:
            screenshot(run_dir)


def screenshot(run_dir: Path) -> None:
    """The top of the pool run's report (the verdict opens it), for people to look at."""
    screenshot_file(run_dir / "report.html", ARTEFACTS / "pool-report-top.png", "1200,900")
