"""The incident library (scenarios/redis-*.yaml, compose/incidents): every scenario runs green
with the command in its header against a real Redis, its expectations hold, and its first
finding is the one its `expect:` names, at the planted `// culprit:` line. Then each one,
deliberately broken (the culprit line moved, or the fault removed), fails its expectations:
the assertions can fail.

The runs are serial: on a 2-core machine, two runs side by side take CPU from each other's
service, which is what several scenarios measure."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.env.conftest import REPO

SCENARIOS = REPO / "scenarios"
INCIDENTS = REPO / "compose" / "incidents"
LIBRARY = sorted(p.stem for p in SCENARIOS.glob("redis-*.yaml"))
# how each scenario is broken on purpose, and the expectation that must then fail
BROKEN = {
    "redis-pool-exhaustion": ("move", "first finding is waiting at pool.go"),
    "redis-n-plus-one": ("unfault", "p50 rises"),
    "redis-gc-storm": ("unfault", "first finding is garbage"),
    "redis-goroutine-leak": ("unfault", "first finding is leak"),
    "redis-lock-contention": ("move", "first finding is waiting at token.go"),
    "redis-cpu-throttling": ("unfault", "first finding is squeezed"),
    "redis-oom": ("unfault", "first finding is crash"),
}


def test_the_library_is_complete():
    assert set(BROKEN) | {"redis-n-plus-one-fixed"} == set(LIBRARY), LIBRARY


def run(scenario: Path, runs_dir: Path) -> tuple[int, dict, str]:
    res = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(scenario), "--runs-dir", str(runs_dir),
                          "--json"], capture_output=True, text=True, timeout=900, cwd=REPO, check=False,
                         stdin=subprocess.DEVNULL)
    out = res.stdout[-4000:] + res.stderr[-4000:]
    assert res.returncode in (0, 1), out                  # 1: expectations failed; anything else is not ours
    run_dir = Path(json.loads(res.stdout)["run_dir"])
    return res.returncode, json.loads((run_dir / "summary.json").read_text()), out


def expectations(name: str) -> list[dict]:
    return yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text()).get("expect") or []


def culprits() -> dict[tuple[str, int], str]:
    """(file, line) -> marker of every `// culprit:<marker>` line of the api service."""
    out = {}
    for path in sorted((INCIDENTS / "api").glob("*.go")):
        for i, text in enumerate(path.read_text().splitlines(), 1):
            m = re.search(r"// culprit:(\w+)\s*$", text)
            if m:
                out[(path.name, i)] = m.group(1)
    return out


def expected_lines(name: str) -> list[str]:
    rules = expectations(name)
    lines = [r["verdict"]["line"] for r in rules if (r.get("verdict") or {}).get("line")]
    return lines + [t["line"] for r in rules for t in r.get("top") or [] if t.get("line")]


@pytest.mark.parametrize("name", LIBRARY)
def test_expected_lines_are_culprit_lines(name):
    """Every file:line an expectation names carries a `// culprit:` marker (no docker needed)."""
    marks = culprits()
    for ref in expected_lines(name):
        file, _, line = ref.rpartition(":")
        assert (file, int(line)) in marks, f"{name}: {ref} is not a culprit line; culprits: {marks}"


def explain(summary: dict) -> str:
    lines = [f"{p['phase']}: " + "; ".join(f"{f['kind']}: {f['message']}" for f in p["findings"])
             for p in summary["verdict"]["phases"]]
    lines += [c["message"] for c in summary["expect"]["checks"] if not c["passed"]]
    return "\n".join(lines)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("name", LIBRARY)
def test_the_scenario_runs_green(tmp_path, name):
    code, summary, out = run(SCENARIOS / f"{name}.yaml", tmp_path / "runs")
    print(f"{name}:\n{explain(summary)}")
    assert code == 0, explain(summary) + "\n" + out
    exp = summary["expect"]
    assert exp["passed"] and exp["failed"] == 0 and exp["total"] >= 2, exp
    for rule in expectations(name):
        want = rule.get("verdict")
        if not want:
            continue
        phase = next(p for p in summary["verdict"]["phases"] if p["phase"] == rule["phase"])
        first = phase["findings"][0]
        assert first["kind"] == want["kind"], explain(summary)
        if want.get("line"):
            line = first["evidence"]["line"]
            assert f"{Path(line['file']).name}:{line['line']}" == want["line"], explain(summary)
            assert "culprit:" in (line.get("text") or ""), line      # the source line is shown
        if "sched_p99" in (rule.get("rises") or {}):             # the squeeze quotes the traces' figure
            ev = first["evidence"]
            assert ev["sched_p99_ms_after"] > ev["sched_p99_ms_before"], ev
            assert "goroutines waited longer to run (runnable → running" in first["message"], explain(summary)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_variant_fails_its_expectations(tmp_path, name):
    """A copy of the scenario and of compose/incidents, with the culprit line moved one line down
    (a blank line above it) or the incident's faults removed, its phases half as long: the run
    exits 1 and the named expectation is among the failed ones."""
    how, failing = BROKEN[name]
    scenario = broken_copy(tmp_path, name, how)
    code, summary, out = run(scenario, tmp_path / "runs")
    failed = [c for c in summary["expect"]["checks"] if not c["passed"]]
    print(f"{name} ({how}):\n" + "\n".join(c["message"] for c in failed))
    assert code == 1, out
    assert any(c["name"].startswith(failing) for c in failed), [c["name"] for c in failed]


def broken_copy(tmp_path: Path, name: str, how: str) -> Path:
    """scenarios/<name>.yaml and compose/incidents copied side by side under tmp_path (the scenario's
    relative paths still hold), then broken."""
    shutil.copytree(INCIDENTS, tmp_path / "compose" / "incidents",
                    ignore=shutil.ignore_patterns("rootfs", "rootfs.tmp"))     # the prepare step makes it
    (tmp_path / "scenarios").mkdir()
    scenario = tmp_path / "scenarios" / f"{name}.yaml"
    text = (SCENARIOS / f"{name}.yaml").read_text()
    if how == "unfault":
        doc = yaml.safe_load(text)
        for phase in doc["phases"]:
            phase.pop("faults", None)
        text = yaml.safe_dump(doc, sort_keys=False)
    else:
        file, _, line = next(r["verdict"]["line"] for r in expectations(name) if r.get("verdict")).rpartition(":")
        src = tmp_path / "compose" / "incidents" / "api" / file
        lines = src.read_text().splitlines(keepends=True)
        src.write_text("".join(lines[: int(line) - 1] + ["\n"] + lines[int(line) - 1:]))
    # Half the phases' length: a broken variant fails on the expectation it breaks however long it
    # runs (the moved line is never the culprit's; without its fault the incident never comes), and
    # CI keeps the minutes for the runs that must pass
    text = re.sub(r"duration: (\d+)s", lambda m: f"duration: {max(4, int(m[1]) // 2)}s", text)
    scenario.write_text(text)
    return scenario
