"""User-given names in report.html cannot reorder the page, and report/compare write through
what they write to (no Docker)."""
from __future__ import annotations

import json
import os
import stat

import pytest

from harness.cli import main
from harness.report.markup import bdi, escape
from harness.report.writer import write_all

from .synth import make_run

RLO = "\u202e"


def test_bidi_controls_are_shown_not_obeyed():
    assert escape(f"exe.{RLO}gpj") == "exe.&lt;U+202E&gt;gpj"
    assert bdi("\u05e9\u05dc\u05d5\u05dd") == "<bdi>\u05e9\u05dc\u05d5\u05dd</bdi>"
    assert escape("a\x00b<") == "a&lt;U+0000&gt;b&lt;"


def test_report_html_has_no_raw_override_and_isolates_names(tmp_path):
    run = make_run(tmp_path)
    m = json.loads((run / "manifest.json").read_text())
    m["phases"][1]["name"] = f"fault{RLO}txt.exe"
    m["scenario"]["name"] = f"shop{RLO}lmth"
    for a in m["artifacts"]:
        if a["phase"] == "fault":
            a["phase"] = m["phases"][1]["name"]
    (run / "manifest.json").write_text(json.dumps(m))
    (run / "load" / "stats.json").write_text(json.dumps({"phases": {m["phases"][1]["name"]: {
        "requests": 10, "failures": 0, "achieved_rps": 2.0, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0,
        "max_ms": 4.0, "endpoints": [{"name": f"/pay{RLO}moc.evil", "method": "GET", "requests": 10,
                                      "failures": 0, "rps": 2.0, "p50_ms": 1.0}]}}}))
    write_all(run)
    page = (run / "report.html").read_text()
    assert RLO not in page
    assert "<bdi>fault&lt;U+202E&gt;txt.exe</bdi>" in page
    assert "<bdi>GET /pay&lt;U+202E&gt;moc.evil</bdi>" in page


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_report_files_that_are_devices_are_written_through(tmp_path):
    run = make_run(tmp_path)
    null = run / "report.html"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    assert main(["report", str(run)]) == 0
    assert stat.S_ISCHR(os.lstat(null).st_mode)


def test_compare_into_a_file_is_exit_2(tmp_path, capsys):
    a, b = make_run(tmp_path, "run-a"), make_run(tmp_path, "run-b", slow=2.0)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["compare", str(a), str(b), "--out", str(blocker)]) == 2
    assert "a file, not a folder" in capsys.readouterr().err
