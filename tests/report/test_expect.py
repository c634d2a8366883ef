"""expect: parsing with positions."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.judge.expect import EXPECT_SCHEMA, ExpectSpec, parse_expect
from harness.parse.context import ParseContext
from harness.parse.node import load_yaml

CTX = ParseContext(file="s.yaml", scenario_dir=Path("."), services=("api",),
                   phase_names=("baseline", "fault"), allow_external_targets=False)


def parse(text):
    return parse_expect(load_yaml(text, "s.yaml").get("expect"), CTX)


def test_parse_rules():
    spec = parse("""expect:
  - latency: {p99: 200ms, p50: 0.02}
    error_rate: 0.5%
  - phase: [fault]
    memory_peak: 200m
    top: [{profile: mutex, line: main.go:45, n: 3, absent: true}]
""")
    first, second = spec.rules
    assert first.phases == ("baseline", "fault") and first.latency_ms == {"p99": 200.0, "p50": 20.0}
    assert first.error_rate == 0.005
    assert second.memory_peak == 200 << 20 and second.top[0].absent and second.top[0].n == 3
    assert parse("name: x\n") == ExpectSpec()


@pytest.mark.parametrize("text, message", [
    ("expect:\n  - phase: nope\n    no_oom_kill: true\n", "unknown phase 'nope'"),
    ("expect:\n  - phase: fault\n", "checks nothing"),
    ("expect:\n  - error_rate: 120%\n", "between 0 and 1"),
    ("expect:\n  - top: [{profile: cpu}]\n", "exactly one of 'function' or 'line'"),
    ("expect:\n  - top: [{profile: cpu, line: main.go}]\n", "file:line"),
    ("expect:\n  - latency: {p999: 1s}\n", "unknown key 'p999'"),
])
def test_errors(text, message):
    with pytest.raises(ScenarioError) as e:
        parse(text)
    assert message in e.value.render() and "s.yaml:" in e.value.render()


def test_schema():
    assert EXPECT_SCHEMA["items"]["properties"]["top"]["items"]["required"] == ["profile"]


def test_phases_that_did_not_run_are_not_judged_not_failed():
    """An interrupted run has no data for its later phases: their expectations are 'not judged'
    (junit: skipped), while a measured check still fails as it should."""
    from harness.judge.expect import evaluate
    from harness.report import junit

    spec = parse("expect:\n  - latency: {p99: 200ms}\n")
    summary = {"phases": [{"name": "baseline", "load": {"p99_ms": 350.0}}], "result": {"status": "interrupted"}}
    exp = evaluate(spec, summary)
    assert (exp["failed"], exp["skipped"], exp["total"], exp["passed"]) == (1, 1, 1, False)
    skipped = next(c for c in exp["checks"] if c.get("skipped"))
    assert skipped["phase"] == "fault" and "not judged" in skipped["message"]
    xml = junit.render({**summary, "expect": exp})
    assert xml.count("<skipped") == 1 and 'failures="2"' in xml   # the run itself + the measured p99
