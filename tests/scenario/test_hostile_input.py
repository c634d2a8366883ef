"""Scenario inputs that used to hang or crash the harness end in a clear error (exit 2): an
alias bomb, deep nesting, a device or a pipe as the file, a file too large, bytes that are not
UTF-8; a runs folder that cannot hold runs; a run whose harness was killed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ScenarioError
from harness.scenario.model import MAX_SCENARIO_BYTES, load_scenario

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "demo.yaml"


def first_line(excinfo) -> str:
    return excinfo.value.render().splitlines()[0]


def test_an_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['name: x', 'description: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)                        # 9^9 values if expanded: it must stop long before
    assert "expands to more than 100,000 values" in first_line(info)


def test_deep_nesting_is_refused(tmp_path):
    f = tmp_path / "deep.yaml"
    f.write_text("name: x\nload: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    assert "nested more than 64 levels deep" in first_line(info)


def test_bytes_that_are_not_utf8_are_placed_by_line_and_column(tmp_path):
    f = tmp_path / "latin1.yaml"
    f.write_bytes(b"name: x\ndescription: caf\xe9\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    assert first_line(info) == f"{f}:2:17: the scenario file is not UTF-8 text"


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_special_files_are_not_read(tmp_path, kind):
    path = tmp_path / "pipe.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)                     # reading either would block or never end
    assert "got a special file" in first_line(info)


def test_a_file_too_large_is_refused(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("name: x\n# " + "x" * MAX_SCENARIO_BYTES + "\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    assert "larger than 1 MiB" in first_line(info)


@pytest.mark.parametrize("runs_dir", ["/proc", "/sys/fs", "file"])
def test_a_runs_folder_that_cannot_hold_runs_is_a_clear_error(tmp_path, capsys, runs_dir):
    if runs_dir == "file":
        runs_dir = str(tmp_path / "plain-file")
        Path(runs_dir).write_text("x")
    code = main(["run", str(DEMO), "--runs-dir", runs_dir, "--quiet"])
    err = capsys.readouterr()
    assert code == 2, err
    assert f"error: {runs_dir}: cannot create the run directory" in err.out + err.err
    assert "Traceback" not in err.out + err.err


def test_a_run_whose_harness_is_gone_is_listed_as_killed(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name, pid in (("gone-1", dead.pid), ("alive-1", os.getpid())):
        (tmp_path / name).mkdir()
        import psutil
        started = psutil.Process(pid).create_time() if pid == os.getpid() else 1.0
        (tmp_path / name / "manifest.json").write_text(json.dumps({
            "run_id": name, "result": {"status": "running"},
            "owner": {"pid": pid, "host": os.uname().nodename, "started": started}}))
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    rows = {r["run_id"]: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert rows == {"alive-1": "running", "gone-1": "killed"}
