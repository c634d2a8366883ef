"""expect: verdict, rises and within, parsed with positions and judged against synthetic summaries."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.judge.expect import EXPECT_SCHEMA, METRICS, RULE_KEYS, VERDICT_KINDS, evaluate, parse_expect
from harness.judge.verdict import CAUSE_ORDER
from harness.parse.context import ParseContext
from harness.parse.node import load_yaml

CTX = ParseContext(file="s.yaml", scenario_dir=Path("."), services=("api", "db"),
                   phase_names=("baseline", "fault"), allow_external_targets=False)


def parse(text):
    return parse_expect(load_yaml(text, "s.yaml").get("expect"), CTX)


def judge(expect_text, summary):
    return evaluate(parse(expect_text), summary)


def phase(name, *, p99=17.1, p50=5.0, rps=100.0, error_rate=0.0, containers=None, runtime=None):
    return {"name": name, "start_s": 0.0, "end_s": 10.0,
            "load": {"p50_ms": p50, "p95_ms": p99 / 2, "p99_ms": p99, "max_ms": p99 * 2, "rps": rps,
                     "error_rate": error_rate},
            "containers": containers or {}, "runtime": runtime or {}}


def summary(base, fault, verdict=None):
    out = {"baseline_phase": "baseline", "phases": [base, fault]}
    if verdict is not None:
        out["verdict"] = {"version": 1, "phases": verdict}
    return out


def finding(kind, file=None, line=None, profile=None, service="api"):
    ev = {"service": service}
    if file:
        ev["line"] = {"profile": profile, "file": file, "line": line, "function": "main.wait", "text": None}
    return {"kind": kind, "message": f"{kind} ...", "evidence": ev}


def waiting_at(line, file="/src/app/main.go"):
    return [{"phase": "fault", "baseline": "baseline",
             "headline": f"api waiting at main.go:{line} (block profile)",
             "findings": [finding("waiting", file, line, "block"), finding("symptom", service=None)]}]


# -- parsing --------------------------------------------------------------------------------------

def test_parse_the_three_keys():
    rule, = parse("""expect:
  - phase: fault
    service: api
    verdict: {kind: waiting, line: main.go:57, profile: block}
    rises: {p99: 5x, gc_per_s: ×3, cpu: 2, goroutines: 1.5X}
    within: {p50: "2x", memory: 1.5}
""").rules
    assert (rule.verdict.kind, rule.verdict.line, rule.verdict.profile) == ("waiting", "main.go:57", "block")
    assert [(r.metric, r.factor) for r in rule.rises] == [
        ("p99", 5), ("gc_per_s", 3), ("cpu", 2), ("goroutines", 1.5)]
    assert [(r.metric, r.factor) for r in rule.within] == [("p50", 2), ("memory", 1.5)]
    assert rule.rises[0].where == "s.yaml:5:18"      # each factor knows its place


@pytest.mark.parametrize("text, where, message", [
    ("expect:\n  - rises: {p99: 0x}\n", "s.yaml:2:18", "greater than 0"),
    ("expect:\n  - rises: {p99: -2}\n", "s.yaml:2:18", "greater than 0"),
    ("expect:\n  - within: {cpu: fivex}\n", "s.yaml:2:19", "expected a factor like 5x"),
    ("expect:\n  - within: {cpu: 5xx}\n", "s.yaml:2:19", "expected a factor like 5x"),
    ("expect:\n  - within: {cpu: true}\n", "s.yaml:2:19", "expected a factor like 5x"),
    ("expect:\n  - rises: 5x\n", "s.yaml:2:12", "expected a mapping"),
    ("expect:\n  - verdict: {line: main.go:57}\n", "s.yaml:2:14", "missing required key 'kind'"),
    ("expect:\n  - verdict: {kind: waiting, line: main.go}\n", "s.yaml:2:36", "expected file:line"),
    ("expect:\n  - verdict: {kind: waiting, profile: blok}\n", "s.yaml:2:39", "did you mean 'block'?"),
    ("expect:\n  - verdict: {kind: burn}\n", "s.yaml:2:21", "expected one of crash"),
    ("expect:\n  - verdict: {kind: leak, service: apx}\n", "s.yaml:2:36", "did you mean 'api'?"),
    ("expect:\n  - rises: {}\n", "s.yaml:2:5", "checks nothing"),
])
def test_errors_with_file_line(text, where, message):
    with pytest.raises(ScenarioError) as e:
        parse(text)
    assert message in e.value.render() and e.value.render().startswith(where), e.value.render()


def test_unknown_metric_lists_the_valid_ones_and_a_close_one():
    with pytest.raises(ScenarioError) as e:
        parse("expect:\n  - rises: {gc_per_sec: 3x}\n")
    text = e.value.render()
    assert "s.yaml:2:13" in text and "unknown key 'gc_per_sec'" in text
    assert "did you mean 'gc_per_s'?" in text and all(m in text for m in METRICS)


def test_keys_schema_and_hint_agree():
    props = EXPECT_SCHEMA["items"]["properties"]
    assert set(props) == set(RULE_KEYS)
    assert set(props["rises"]["properties"]) == set(METRICS) == set(props["within"]["properties"])
    assert props["verdict"]["required"] == ["kind"]
    assert set(CAUSE_ORDER) <= set(VERDICT_KINDS)     # every kind the verdict makes can be expected
    with pytest.raises(ScenarioError) as e:
        parse("expect:\n  - phase: fault\n")
    assert "verdict, rises, within, function_latency, calls or matches_production" in e.value.render()


# -- verdict --------------------------------------------------------------------------------------

def test_verdict_first_finding_matches():
    exp = judge("expect:\n  - phase: fault\n    verdict: {kind: waiting, line: main.go:57, profile: block, "
                "service: api}\n", summary(phase("baseline"), phase("fault"), waiting_at(57)))
    check, = exp["checks"]
    assert exp["passed"] and check["where"] == "s.yaml:3:14"
    assert check["message"] == "first finding = waiting in api at /src/app/main.go:57 (block profile)"


def test_verdict_line_mismatch_says_what_the_first_finding_was():
    exp = judge("expect:\n  - phase: fault\n    verdict: {kind: waiting, line: main.go:57, profile: block}\n",
                summary(phase("baseline"), phase("fault"), waiting_at(61)))
    check, = exp["checks"]
    assert not exp["passed"] and exp["failed"] == 1
    assert check["message"].startswith("first finding = waiting at /src/app/main.go:61 (block profile), "
                                       "expected waiting at main.go:57 (block)")
    assert "headline: api waiting at main.go:61 (block profile)" in check["message"]


@pytest.mark.parametrize("rule, ok", [
    ("{kind: waiting}", True),
    ("{kind: burning}", False),
    ("{kind: waiting, profile: mutex}", False),
    ("{kind: waiting, service: db}", False),
    ("{kind: waiting, line: app/main.go:57}", True),      # a longer suffix of the path
    ("{kind: waiting, line: pp/main.go:57}", False),      # not a path component
])
def test_verdict_each_field_narrows(rule, ok):
    exp = judge(f"expect:\n  - phase: fault\n    verdict: {rule}\n",
                summary(phase("baseline"), phase("fault"), waiting_at(57)))
    assert exp["passed"] is ok, exp["checks"][0]["message"]


def test_verdict_without_a_line_in_the_evidence():
    verdict = [{"phase": "fault", "headline": "p99 ×24; nothing captured explains it",
                "findings": [{"kind": "symptom", "message": "the symptom", "evidence": {"line": None}}]}]
    s = summary(phase("baseline"), phase("fault"), verdict)
    assert judge("expect:\n  - phase: fault\n    verdict: {kind: symptom}\n", s)["passed"]
    check, = judge("expect:\n  - phase: fault\n    verdict: {kind: waiting, line: main.go:57}\n", s)["checks"]
    assert check["message"].startswith("first finding = symptom, expected waiting at main.go:57;")
    assert "nothing captured explains it" in check["message"]


def test_verdict_for_the_baseline_phase_or_no_verdict_fails_clearly():
    s = summary(phase("baseline"), phase("fault"), waiting_at(57))
    exp = judge("expect:\n  - phase: baseline\n    verdict: {kind: no-change}\n", s)
    assert not exp["passed"]
    assert exp["checks"][0]["message"] == "no verdict for phase baseline: the baseline is not judged"
    exp = judge("expect:\n  - phase: fault\n    verdict: {kind: waiting}\n",
                summary(phase("baseline"), phase("fault")))
    assert not exp["passed"] and "no verdict for phase fault" in exp["checks"][0]["message"]


# -- rises and within -----------------------------------------------------------------------------

def test_rises_passes_and_fails_in_human_units():
    s = summary(phase("baseline", p99=17.1), phase("fault", p99=412.0))
    check, = judge("expect:\n  - phase: fault\n    rises: {p99: 5x}\n", s)["checks"]
    assert check["passed"] and check["message"] == "p99 = 412 ms, ×24.1 the baseline's 17.1 ms (at least ×5)"
    check, = judge("expect:\n  - phase: fault\n    rises: {p99: 30x}\n", s)["checks"]
    assert not check["passed"]
    assert check["message"] == "p99 = 412 ms, ×24.1 the baseline's 17.1 ms (at least ×30), short by 101 ms"


def test_within_passes_and_fails():
    api = {"cpu_pct_mean": 42.0, "mem_peak": 100 << 20}
    s = summary(phase("baseline", containers={"api": {"cpu_pct_mean": 40.0, "mem_peak": 50 << 20}}),
                phase("fault", containers={"api": api}))
    exp = judge("expect:\n  - phase: fault\n    within: {cpu: 1.5x, p50: 2x}\n", s)
    assert exp["passed"], exp["checks"]
    assert exp["checks"][0]["message"] == \
        "cpu of api = 0.42 cores, ×1.05 the baseline's 0.4 cores (at most ×1.5)"
    check, = judge("expect:\n  - phase: fault\n    within: {memory: 1.5}\n", s)["checks"]
    assert not check["passed"]
    assert check["message"] == \
        "memory of api = 100 MiB, ×2 the baseline's 50 MiB (at most ×1.5), over by 25 MiB"


def test_within_checks_every_service():
    s = summary(phase("baseline", containers={"api": {"restarts": 1}, "db": {"restarts": 1}}),
                phase("fault", containers={"api": {"restarts": 1}, "db": {"restarts": 3}}))
    exp = judge("expect:\n  - phase: fault\n    within: {restarts: 2x}\n", s)
    assert [(c["name"], c["passed"]) for c in exp["checks"]] == [
        ("restarts of api within ×2 the baseline", True), ("restarts of db within ×2 the baseline", False)]


def test_rises_any_service_and_a_named_one():
    s = summary(phase("baseline", runtime={"api": {"gc_per_s": 2.0}, "db": {"gc_per_s": 4.0}}),
                phase("fault", runtime={"api": {"gc_per_s": 12.3}, "db": {"gc_per_s": 4.1}}))
    check, = judge("expect:\n  - phase: fault\n    rises: {gc_per_s: 3x}\n", s)["checks"]
    assert check["passed"] and check["name"].endswith("(any service)")
    assert check["message"].startswith(
        "gc_per_s of api = 12.3 GC/s, ×6.15 the baseline's 2 GC/s (at least ×3)")
    check, = judge("expect:\n  - phase: fault\n    service: db\n    rises: {gc_per_s: 3x}\n", s)["checks"]
    assert not check["passed"] and "gc_per_s of db = 4.1 GC/s" in check["message"]
    assert "short by" in check["message"]
    check, = judge("expect:\n  - phase: fault\n    rises: {gc_per_s: 10x}\n", s)["checks"]
    assert not check["passed"] and check["message"].startswith("no service rises: gc_per_s of api")


def test_baseline_of_zero():
    s = summary(phase("baseline", containers={"api": {"oom_kills": 0}}, error_rate=0.0),
                phase("fault", containers={"api": {"oom_kills": 1}}, error_rate=0.0))
    check, = judge("expect:\n  - phase: fault\n    rises: {oom_kills: 2x}\n", s)["checks"]
    assert check["passed"] and check["message"] == "oom_kills of api = 1, the baseline's 0 (at least ×2)"
    check, = judge("expect:\n  - phase: fault\n    rises: {error_rate: 2x}\n", s)["checks"]
    assert not check["passed"] and check["message"].endswith(", not above it")   # 0 is not a rise
    check, = judge("expect:\n  - phase: fault\n    within: {oom_kills: 5x}\n", s)["checks"]
    assert not check["passed"]
    assert check["message"] == "oom_kills of api = 1, the baseline's 0 (at most ×5: must stay 0), over by 1"
    assert judge("expect:\n  - phase: fault\n    within: {error_rate: 5x}\n", s)["passed"]


def test_no_baseline_measurement():
    s = summary(phase("baseline"), phase("fault", runtime={"api": {"goroutines": {"max": 900}}}))
    check, = judge("expect:\n  - phase: fault\n    within: {goroutines: 2x}\n", s)["checks"]
    assert not check["passed"]
    assert check["message"] == "goroutines of api = 900: no baseline measurement (phase baseline)"
    check, = judge("expect:\n  - phase: fault\n    rises: {gc_pause: 2x}\n", s)["checks"]
    assert not check["passed"] and "gc_pause of api: no measurement in phase fault" in check["message"]


def test_throttled_from_periods_or_time():
    base = phase("baseline", containers={"api": {"throttled_ms": 100.0}})        # 1% of 10 s
    fault = phase("fault", containers={"api": {"periods": 100, "throttled_periods": 40}})
    check, = judge("expect:\n  - phase: fault\n    rises: {throttled: 10x}\n", summary(base, fault))["checks"]
    assert check["passed"]
    assert check["message"] == "throttled of api = 40%, ×40 the baseline's 1% (at least ×10)"


def test_the_baseline_cannot_be_compared_with_itself():
    """Named explicitly, the baseline fails clearly; a rule for every phase judges the others only."""
    exp = judge("expect:\n  - phase: [baseline, fault]\n    within: {p99: 2x}\n",
                summary(phase("baseline"), phase("fault")))
    base, fault = exp["checks"]
    assert not base["passed"]
    assert base["message"] == "p99 in phase baseline: the baseline cannot be compared with itself"
    assert fault["passed"] and base["where"] == "s.yaml:3:19"
    every = judge("expect:\n  - within: {p99: 2x}\n    verdict: {kind: waiting}\n",
                  summary(phase("baseline"), phase("fault"), verdict=waiting_at(57)))
    assert [c["phase"] for c in every["checks"]] == ["fault", "fault"] and every["passed"], every
