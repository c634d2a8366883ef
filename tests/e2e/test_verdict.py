"""The verdict on real runs of incident shapes of the shop fixture (tests/e2e/incidents/shapes.py):
the incident phase's first finding names the right kind of cause and the planted line, in the
right profile; the incident-free run says "no significant change" and nothing else; the pool
shape gives the same first finding in two runs in a row, and the second, measured against the
first's profiles as production's, matches it in its incident phase only; the top of its report
is screenshotted.
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


def run_shape(tmp_path: Path, shape: Shape, name: str | None = None, more: str = "") -> tuple[Path, dict]:
    sc = scenario(tmp_path, shape, name, more)
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


def test_the_pool_verdict_holds_across_runs_and_the_second_matches_the_first(tmp_path):
    """Two runs of the pool shape in a row give the same first finding. The first run then stands
    for production: its incident's CPU and block profiles are what someone on call would have
    saved. The second run, with a fourth phase squeezing the app's CPU quota (the wrong fault),
    is measured against them (docs/production.md): its incident phase matches production's (a
    block score of at least 0.7), the fault-free baseline and the squeeze score at least 0.2 less,
    and the squeeze's missing lines name production's culprit, the pool's acquire line."""
    shape = SHAPES["pool"]
    run_dir, summary = run_shape(tmp_path, shape, name="incident-pool-0")
    assert_names_the_culprit(shape, incident(summary))
    screenshot(run_dir)
    taken = tmp_path / "oncall"
    taken.mkdir()
    for kind in ("cpu", "block"):
        (taken / f"{kind}.pb.gz").write_bytes((run_dir / "profiles" / "incident" / "app" / f"{kind}.pb.gz").read_bytes())
    more = ("  - {name: squeeze, duration: 8s, faults: [{kind: cpu, target: app, cpus: 0.2}]}\n"
            f"production:\n  phase: incident\n  profiles: {{cpu: {taken}/cpu.pb.gz, block: {taken}/block.pb.gz}}\n")
    run_dir, summary = run_shape(tmp_path, shape, name="incident-pool-1", more=more)
    assert_names_the_culprit(shape, incident(summary))
    fid = summary["fidelity"]["phases"]
    scores = {p: (fid[p]["profiles"]["block"].get("score"), fid[p]["score"]) for p in fid}
    print("block and phase scores against production:", scores)
    right = fid["incident"]["profiles"]["block"]["score"]
    assert right >= 0.7, scores
    for wrong in ("baseline", "squeeze"):
        assert (fid[wrong]["profiles"]["block"].get("score") or 0.0) <= right - 0.2, scores
        assert (fid[wrong]["score"] or 0.0) <= fid["incident"]["score"] - 0.2, scores
    missing = [m for m in fid["squeeze"]["profiles"]["block"]["missing"] if m["line"] == f"main.go:{culprit_line('pool')}"]
    assert missing and "culprit:pool" in (missing[0].get("text") or ""), fid["squeeze"]["profiles"]["block"]
    assert "reproduction vs production (incident, app)" in summary["verdict"]["fidelity"]
    html = (run_dir / "report.html").read_text()
    assert "Reproduction vs production" in html and "flame-production" in html


def screenshot(run_dir: Path) -> None:
    """The top of the pool run's report (the verdict opens it), for people to look at."""
    screenshot_file(run_dir / "report.html", ARTEFACTS / "pool-report-top.png", "1200,900")
