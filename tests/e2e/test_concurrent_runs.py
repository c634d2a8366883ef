"""Three runs of one long-named scenario started in the same second, each with its own runs
folder: each gets its own run id, compose project, ports and containers, none exits 2 or 3,
none sees another's containers in its events or logs, and each exits by its own expectations.

Before run ids were reserved, two runs started in the same second shared one compose project
(one exited 2 with the fault proxy's port taken, the other saw 88% errors), and a 62-character
name lost the timestamp to Compose's 60-character cut."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.demo_scenario import scenario, slow_store

REPO = Path(__file__).resolve().parents[2]
NAME = "concurrent-runs-of-one-scenario-with-a-name-long-enough-to-cut"   # 62 characters
# a passing, a passing and a failing expectation: each run is judged on its own file
EXPECT = {"a": "expect:\n  - phase: baseline\n    error_rate: 5%\n",
          "b": "expect:\n  - phase: baseline\n    error_rate: 5%\n",
          "c": "expect:\n  - phase: baseline\n    latency: {p50: 0.001ms}\n"}
HEX_ID = re.compile(r"\b[0-9a-f]{12,64}\b")


def test_three_runs_started_together_stay_apart(tmp_path):
    procs = {}
    for key, expect in EXPECT.items():
        folder = tmp_path / key
        folder.mkdir()
        sc = scenario(folder, name=NAME, phases=slow_store(5, 5), rate=20, expect=expect,
                      captures="  pprof: [cpu]")
        procs[key] = (folder / "runs", sc)
    started = {}
    for key, (runs, sc) in procs.items():      # all three inside one second
        started[key] = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(sc), "--runs-dir",
                                         str(runs), "--json", "--quiet"], cwd=REPO, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    outs = {}
    for key, p in started.items():
        out, err = p.communicate(timeout=max(60.0, 600 - (time.monotonic() - t0)))
        outs[key] = (p.returncode, out, err)
    for key, (code, out, err) in outs.items():
        assert code == (1 if key == "c" else 0), f"run {key} exited {code}: {err[-3000:]}{out[-2000:]}"
    manifests = {}
    for key, (runs, _sc) in procs.items():
        (run_dir,) = [d for d in runs.iterdir() if d.is_dir()]
        manifests[key] = (run_dir, json.loads((run_dir / "manifest.json").read_text()))
    ids = {m["run_id"] for _d, m in manifests.values()}
    projects = {m["compose_project"] for _d, m in manifests.values()}
    assert len(ids) == 3 and len(projects) == 3, (ids, projects)
    assert all(len(p) <= 60 for p in projects)
    containers = {key: {s["container"] for s in m["services"].values()} for key, (_d, m) in manifests.items()}
    ports = [port for _d, m in manifests.values() for s in m["services"].values()
             for port in s["published"].values()]
    assert len(ports) == len(set(ports)), ports
    everyone = set().union(*containers.values())
    assert len(everyone) == 3 * len(containers["a"])
    for key, (run_dir, m) in manifests.items():
        others = {c[:12] for c in everyone - containers[key]}
        mine = json.dumps(m["events"]) + "".join(p.read_text(errors="replace")
                                                 for p in (run_dir / "logs").glob("*.log"))
        seen = {h[:12] for h in HEX_ID.findall(mine)}
        assert not seen & others, f"run {key} names another run's containers: {seen & others}"
        assert m["result"]["exit_code"] == (1 if key == "c" else 0)
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["expect"]["failed"] == (1 if key == "c" else 0), summary["expect"]
