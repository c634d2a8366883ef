"""captures: parsing, defaults and errors with positions."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.capture.spec import CAPTURES_SCHEMA, DEFAULT_PPROF, CaptureSpec, parse_captures
from harness.errors import ScenarioError
from harness.parse.context import ParseContext
from harness.parse.node import load_yaml

CTX = ParseContext(file="s.yaml", scenario_dir=Path("."), services=("api", "store"),
                   phase_names=("baseline", "fault"), allow_external_targets=False)


def parse(text: str):
    root = load_yaml(text, "s.yaml")
    return parse_captures(root.get("captures"), CTX)


def test_no_section_gives_the_default():
    spec = parse("name: x\n")
    assert spec == CaptureSpec()
    assert spec.pprof == DEFAULT_PPROF and spec.stats_interval == 1.0 and spec.trace is None


def test_full_section():
    spec = parse("""captures:
  pprof: [cpu, block, mutex]
  services: [api]
  cpu_margin: 500ms
  rates: {url: /debug/harness/rates, block: 1000}
  trace: {phases: [fault], seconds: 3}
  perf: {frequency: 499}
  stats_interval: 2s
""")
    assert spec.pprof == ("cpu", "block", "mutex") and spec.services == ("api",)
    assert spec.cpu_margin == 0.5 and spec.rates.block == 1000 and spec.rates.mutex == 10
    assert spec.trace.phases == ("fault",) and spec.trace.seconds == 3
    assert spec.perf.phases == ("baseline", "fault") and spec.perf.frequency == 499
    assert spec.wants_service("api") and not spec.wants_service("store")


@pytest.mark.parametrize("text, message, line", [
    ("captures:\n  pprof: [cpu, heapp]\n", "expected one of", 2),
    ("captures:\n  trace: {phases: [faults]}\n", "unknown phase 'faults'", 2),
    ("captures:\n  services: [db]\n", "unknown service 'db'", 2),
    ("captures:\n  perf: {frequency: 0}\n", "must be at least 1", 2),
    ("captures:\n  rates: {url: debug/rates}\n", "expected a path", 2),
    ("captures:\n  tracee: true\n", "unknown key 'tracee'", 2),
], ids=["kind", "phase", "service", "frequency", "rates-url", "key"])
def test_errors_name_the_place(text, message, line):
    with pytest.raises(ScenarioError) as e:
        parse(text)
    assert message in e.value.render() and f"s.yaml:{line}:" in e.value.render()


def test_schema_lists_the_kinds():
    assert CAPTURES_SCHEMA["properties"]["pprof"]["items"]["enum"][0] == "cpu"


def test_functions_section():
    spec = parse("""captures:
  functions:
    functions: [main.handler, "example.com/x/store.(*Store).Get", main.handler]
    services: [api]
    phases: [fault]
    raw: {phase: fault, seconds: 1500ms}
""")
    f = spec.functions
    assert f.functions == ("main.handler", "example.com/x/store.(*Store).Get")    # duplicates dropped
    assert f.services == ("api",) and f.phases == ("fault",)
    assert (f.raw_phase, f.raw_seconds) == ("fault", 1.5) and f.where.startswith("s.yaml:3:")
    assert parse("captures: {functions: {functions: main.x}}\n").functions.raw_phase is None


@pytest.mark.parametrize("body,where,message", [
    ("{functions: {}}", "1:23", "missing required key 'functions'"),
    ("{functions: {functions: ['main.a b']}}", "1:36", "expected a Go function's full name"),
    ("{functions: {functions: [main.a], services: [apx]}}", "1:56", "unknown service 'apx'"),
    ("{functions: {functions: [main.a], raw: {phase: faul}}}", "1:58", "did you mean 'fault'"),
    ("{functions: {functions: [main.a], fnctions: 1}}", "1:45", "did you mean 'functions'"),
])
def test_functions_errors(body, where, message):
    with pytest.raises(ScenarioError) as e:
        parse(f"captures: {body}\n")
    text = e.value.render()
    assert f"s.yaml:{where}" in text and message in text, text
