"""Function probes' own teardown (harness/capture/uprobes/capture.py) leaves no recorder behind:
a Ctrl-C while a recorder starts stops it there, and remove() also stops the recorder its
group's pidfile names (as the ledger's undo does). Real processes stand in for perf record."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.capture.spec import FunctionsSpec
from harness.capture.uprobes import capture
from harness.runctx import Clock, RunContext

GROUP = "hxteardown0"
POPEN = subprocess.Popen          # the real one (the test below replaces the module's)


def _probes(tmp_path) -> capture.FunctionProbes:
    rc = RunContext.of("teardown", tmp_path, Clock.start(), {})
    return capture.FunctionProbes(rc, FunctionsSpec(functions=("main.f",)), [], lambda *a: None)


def _placed(tmp_path) -> capture.Placed:
    return capture.Placed("svc", GROUP, 1, Path("/bin/true"), "/bin/true", [], tmp_path / "svc.perf.pid")


def _stand_in(*args, **kw) -> subprocess.Popen:
    """A long-lived process in its own session whose command line names the group, like perf's."""
    return POPEN([sys.executable, "-c", "import time; time.sleep(60)", GROUP],
                            start_new_session=True, stdout=kw.get("stdout"), stderr=kw.get("stderr"))


def test_ctrl_c_while_a_recorder_starts_stops_it(tmp_path, monkeypatch):
    started = []

    def popen(*args, **kw):
        started.append(_stand_in(*args, **kw))
        return started[-1]

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(capture.subprocess, "Popen", popen)
    monkeypatch.setattr(capture, "_enable", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _probes(tmp_path)._start_recorder(_placed(tmp_path))
    assert started and started[0].poll() is not None, "the recorder outlived the Ctrl-C"
    assert not list((tmp_path / "functions").glob("*.ctl")) and not list((tmp_path / "functions").glob("*.ack"))


def test_remove_stops_the_recorder_the_pidfile_names(tmp_path, monkeypatch):
    import psutil
    monkeypatch.setattr(capture.uprobes, "remove_group", lambda group: [])
    orphan = _stand_in()
    try:
        p = _placed(tmp_path)
        p.pidfile.write_text(f"{orphan.pid} {psutil.Process(orphan.pid).create_time()}\n")
        probes = _probes(tmp_path)
        probes.placed = [p]
        probes.remove()
        deadline = time.monotonic() + 10
        while orphan.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert orphan.poll() is not None, "remove() left the group's recorder running"
        assert probes.ledger.latest()[f"uprobes-{p.service}"]["state"] == "reverted"
    finally:
        if orphan.poll() is None:
            orphan.kill()
