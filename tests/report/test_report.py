"""summary.json, report.html, junit.xml and compare from synthetic run directories."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from harness.errors import HarnessError
from harness.report.compare import compare_runs
from harness.report.plots import FAULT_FILL
from harness.report.writer import write_all

from .synth import make_run

EXPECT = """expect:
  - phase: baseline
    latency: {p99: 50ms}
    error_rate: 1%
    throughput: 50
  - phase: fault
    latency: {p99: 50ms}
    no_oom_kill: true
    memory_peak: 1g
    top:
      - {profile: cpu, function: main.alloc, n: 1}
      - {profile: cpu, line: main.go:40, n: 2, absent: true}
"""


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path, expect=EXPECT)


def test_every_oom_kill_event_counts(tmp_path):
    """A crash loop: the restarted container's cgroup counter starts again at 0, so the stats show
    one kill; the OOM events of the phase count each of them."""
    run = make_run(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["events"] = [{"t_s": t, "kind": "oom-kill", "detail": "api: oom", "service": "api"}
                          for t in (6.0, 7.0, 8.5)] + [{"t_s": 2.0, "kind": "container-start", "service": "api"}]
    (run / "manifest.json").write_text(json.dumps(manifest))
    base, fault = write_all(run)["phases"]
    assert fault["containers"]["api"]["oom_kills"] == 3
    assert base["containers"]["api"]["oom_kills"] == 0


def test_summary_has_phases_load_containers_and_tops(run):
    s = write_all(run)
    assert json.loads((run / "summary.json").read_text())["schema_version"] == 1
    base, fault = s["phases"]
    assert base["load"]["rps"] == 100 and base["load"]["p99_ms"] == 12 and base["load"]["error_rate"] == 0
    assert fault["load"]["error_rate"] == 0.05
    assert fault["containers"]["api"]["throttled_ms"] == 1250 and fault["containers"]["api"]["oom_kills"] == 1
    assert fault["containers"]["api"]["mem_peak"] == 140 << 20
    cpu = base["profiles"]["api"]["cpu"]
    assert [(e["file"], e["line"], e["share"]) for e in cpu["lines"]] == [("main.go", 40, 0.8), ("main.go", 55, 0.2)]
    assert cpu["functions"][0] == {"function": "main.burn", "value": 800_000_000, "share": 0.8, "rate": 200_000_000.0}
    fault_cpu = fault["profiles"]["api"]["cpu"]
    assert fault_cpu["own_share"] == pytest.approx(1000 / 1300, abs=1e-5)     # the runtime line is not own


def test_what_changed_uses_shares(run):
    s = write_all(run)
    (change,) = s["changes"]
    assert (change["kind"], change["baseline"], change["phase"]) == ("cpu", "baseline", "fault")
    grew = change["lines"]["grew"][0]
    shrank = change["lines"]["shrank"][0]
    assert grew["key"] == "main.go:55" and grew["share_before"] == 0.2
    assert grew["share_after"] == pytest.approx(600 / 1300, abs=1e-5)
    assert shrank["key"] == "main.go:40" and shrank["delta"] == pytest.approx(400 / 1300 - 0.8, abs=1e-5)


def test_expectations_and_junit_name_the_failures(run):
    s = write_all(run)
    exp = s["expect"]
    failed = {(c["phase"], c["name"]) for c in exp["checks"] if not c["passed"]}
    assert failed == {("fault", "latency p99"), ("fault", "no OOM kill of api"),
                      ("fault", "main.go:40 not in top 2 of cpu")}
    assert exp["failed"] == 3 and exp["total"] == 8
    p99 = next(c for c in exp["checks"] if c["name"] == "latency p99" and c["phase"] == "fault")
    assert p99["message"] == "latency p99 = 120 ms (limit 50 ms), over by 70 ms"
    assert p99["where"].endswith("scenario.yaml:7:5")
    suite = ET.parse(run / "junit.xml").getroot()
    assert suite.get("failures") == "3" and suite.get("tests") == "9"
    fails = [tc.get("name") for tc in suite.iter("testcase") if tc.find("failure") is not None]
    assert "fault: latency p99" in fails and "fault: no OOM kill of api" in fails


def test_html_is_self_contained_with_shading_and_events(run):
    write_all(run)
    html = (run / "report.html").read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert html.count("<svg") == 6 and f'fill="{FAULT_FILL}"' in html and 'class="phase"' in html
    assert "oom-kill" in html and "What changed" in html and "3 of 8 expectation(s) failed" in html


def test_report_without_load_files_or_expect(tmp_path):
    run = make_run(tmp_path, with_load=False)
    s = write_all(run)
    assert s["expect"] == {"passed": True, "failed": 0, "skipped": 0, "total": 0, "checks": []}
    assert s["phases"][0]["load"]["requests"] == 0
    assert (run / "report.html").exists() and (run / "junit.xml").exists()


def test_broken_expect_section_is_reported_not_raised(tmp_path):
    run = make_run(tmp_path, expect="expect:\n  - phase: nope\n    no_oom_kill: true\n")
    s = write_all(run)
    assert any("unknown phase 'nope'" in p for p in s["problems"])


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(HarnessError, match="manifest.json is missing"):
        write_all(tmp_path)


def test_compare_two_runs(tmp_path):
    a = make_run(tmp_path, "a", fault_hot=100)
    b = make_run(tmp_path, "b", fault_hot=900)
    out = compare_runs(a, b, tmp_path / "cmp")
    fault = next(c for c in out["changes"] if c["phase"] == "fault")
    assert fault["lines"]["grew"][0]["key"] == "main.go:55"
    assert (tmp_path / "cmp" / "compare.html").read_text().count("main.go:55") >= 1
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["run_b"] == "b"
