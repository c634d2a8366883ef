"""`harness traffic FILE`: what a production traffic file holds, and a load section replaying it."""
from __future__ import annotations

import subprocess
import sys

import yaml

from tests.load.helpers import parse
from tests.load.test_replay_live import burst_log


def harness(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=120, env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"})


def test_traffic_summary_names_rate_endpoints_and_bad_lines(tmp_path):
    log = tmp_path / "access.log"
    burst_log(log, lines=3000)
    with open(log, "a") as f:
        f.write("a line no server writes\n")
    out = harness("traffic", str(log))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "3,000 requests over" in text and "(combined)" in text
    assert "GET /items/{id}" in text and "100%" in text
    spark = next(line for line in text.splitlines() if line.strip().startswith("rate"))
    assert spark.count("█") >= 2 and "▃" in spark           # the bursts (3x a second) stand out
    assert "1 line(s) not understood" in text and f"{log}:3001: not a combined-log line" in text


def test_traffic_scenario_section_is_a_valid_load(tmp_path):
    log = tmp_path / "access.log"
    burst_log(log, lines=50)
    out = harness("traffic", str(log), "--scenario")
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout)
    assert doc["load"]["model"] == "replay" and doc["load"]["replay"]["file"] == str(log)
    spec = parse(out.stdout, scenario_dir=tmp_path)
    assert spec.model == "replay" and spec.replay.format == "combined"


def test_traffic_on_a_binary_or_empty_file_is_a_clear_error(tmp_path):
    binary = tmp_path / "core"
    binary.write_bytes(bytes(range(256)) * 10)
    out = harness("traffic", str(binary))
    assert out.returncode == 2 and "a binary file, not a traffic log" in out.stderr and "Traceback" not in out.stderr
    empty = tmp_path / "empty.log"
    empty.write_text("")
    out = harness("traffic", str(empty))
    assert out.returncode == 2 and "no request could be read" in out.stderr
