"""`harness clean` undoes what a process that belongs to no run left on the host: the doctor's
uprobe check, SIGKILLed while its probe was placed (real perf probe, real kernel)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.capture.perf import inlines_tool
from harness.capture.uprobes import probes as uprobes
from harness.cli import main
from rundir.gosource import go_binary

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import sys, time
from harness.host.doctor import check_probe
with check_probe(sys.argv[1], sys.argv[2]):
    print("placed", flush=True)
    time.sleep(600)
"""


@pytest.mark.skipif(shutil.which("perf") is None or uprobes.tracefs() is None or os.geteuid() != 0,
                    reason="needs perf, tracefs and root")
def test_clean_removes_the_probe_of_a_killed_doctor(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path))
    tool = inlines_tool(go_binary())
    group = f"{uprobes.PREFIX}doctor{os.getpid()}t"
    child = subprocess.Popen([sys.executable, "-c", CHILD, tool, group], cwd=REPO, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "HARNESS_STATE_DIR": str(tmp_path)})
    try:
        assert child.stdout.readline().strip() == "placed"
        assert uprobes.listed(group), "the probe was not placed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert uprobes.listed(group), "the probe went with the process: nothing to test"
        assert main(["clean", "--dry-run"]) == 0
        assert f"would undo what process {child.pid} left open" in capsys.readouterr().out
        assert main(["clean"]) == 0
        out = capsys.readouterr().out
        assert f"undid what process {child.pid} left open: doctor-uprobe reverted" in out, out
        assert not uprobes.listed(group)
        assert not list(tmp_path.glob("harness-journal-*"))
        assert main(["clean"]) == 0 and "nothing to clean" in capsys.readouterr().out
    finally:
        child.kill()
        uprobes.remove_group(group)
