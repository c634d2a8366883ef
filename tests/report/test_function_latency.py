"""Function latency (uprobes) in the report, without Docker: summary.json's `functions` block, the
"Function latency" section of report.html with its percentile plots, the `function_latency` and
`calls` expectations, and damaged files (a problem, never a crash)."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from harness.errors import ScenarioError
from harness.judge.expect import EXPECT_SCHEMA, parse_expect
from harness.parse.context import ParseContext
from harness.parse.node import load_yaml
from harness.report.function_latency import PERCENTILES, percentiles
from harness.report.writer import write_all
from rundir.contract import FunctionsError, read_functions
from tests.report.functions_synth import add_functions, entry
from tests.report.synth import SRC, make_run

MAIN = f"{SRC}/main.go"
EXPECT = """expect:
  - phase: fault
    function_latency: {function: handler, p99: 50ms}
    calls:
      - {function: main.handler, min: 100}
      - {function: main.handler, max: 10}
  - phase: baseline
    function_latency: [{function: main.handler, p99: 50ms, p50: 10ms, service: api}]
  - phase: baseline
    calls: {function: main.nothere, min: 1}
"""


def functions_run(tmp_path: Path, expect: str = "", fault: bool = True) -> Path:
    """The synthetic run (baseline 0-5 s, fault 5-10 s) with main.handler 5 ms in the baseline and
    30 ms (p99 61.2 ms) in the fault phase, main.store 200 µs / 250 µs, main.rare never called."""
    run = make_run(tmp_path, expect=expect)
    add_functions(run, "baseline", [entry("main.handler", [5.0] * 990 + [9.0] * 10, 5.0, MAIN, 42),
                                    entry("main.store", [0.2] * 1000, 5.0, MAIN, 60),
                                    entry("main.rare", [], 5.0, MAIN, 70)])
    if fault:
        add_functions(run, "fault", [entry("main.handler", [30.0] * 900 + [61.2] * 100, 5.0, MAIN, 42),
                                     entry("main.store", [0.25] * 1000, 5.0, MAIN, 60),
                                     entry("main.rare", [], 5.0, MAIN, 70)])
    return run


def section_of(html: str) -> str:
    start = html.index("<h2>Function latency</h2>")
    end = html.find("<h2>", start + 10)
    return html[start:end if end > 0 else len(html)]


def test_summary_has_a_functions_block_per_phase(tmp_path):
    summary = write_all(functions_run(tmp_path))
    base, fault = summary["phases"]
    handler, store, rare = base["functions"]["api"]
    assert set(handler) == {"function", "file", "line", "calls", "calls_per_s", "unfinished", "latency_ms",
                            "incomplete"}
    assert handler["incomplete"] is None
    assert (handler["function"], handler["file"], handler["line"], handler["calls"]) == ("main.handler", MAIN, 42, 1000)
    assert handler["calls_per_s"] == 200 and handler["latency_ms"]["p99"] == pytest.approx(5.0, rel=1e-3)
    assert fault["functions"]["api"][0]["latency_ms"]["p99"] == pytest.approx(61.2, rel=1e-3)
    assert store["latency_ms"]["p50"] == pytest.approx(0.2, rel=1e-3)
    assert rare["calls"] == 0 and all(v is None for v in rare["latency_ms"].values())
    assert not summary["problems"]
    json.dumps(summary)     # plain data


def test_percentiles_of_known_durations():
    h = HdrHistogram(1, 600 * 10**9, 3)
    for ms, n in ((5.0, 900), (50.0, 100)):
        h.record_value(int(ms * 1e6), n)
    points = dict(percentiles(h.encode().decode()))
    assert list(points) == list(PERCENTILES) and PERCENTILES[0] == 0 and PERCENTILES[-1] == 99.99
    assert points[0] == pytest.approx(5.0, rel=1e-3) and points[50.0] == pytest.approx(5.0, rel=1e-3)
    assert points[90.0] == pytest.approx(5.0, rel=1e-3) and points[99.0] == pytest.approx(50.0, rel=1e-3)
    assert percentiles(HdrHistogram(1, 600 * 10**9, 3).encode().decode()) == []


@pytest.mark.parametrize("encoded, why", [
    ("not base64!", "not an encoded histogram"),
    (base64.b64encode(b"\x1c\x84\x93\x14\x00\x00\x00\x05hello").decode(), "not an encoded histogram"),
    (HdrHistogram(1, 2**60, 3).encode().decode(), "implausible histogram range"),
    (HdrHistogram(1, 10**9, 5).encode().decode(), "implausible histogram range"),
])
def test_damaged_or_implausible_histograms_are_refused(encoded, why):
    with pytest.raises(ValueError, match=why):
        percentiles(encoded)


def test_report_section_table_and_plots_in_human_units(tmp_path):
    run = functions_run(tmp_path)
    write_all(run)
    html = (run / "report.html").read_text()
    sec = section_of(html)
    rows = re.findall(r"<tr>(.*?)</tr>", sec)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows[1:]]
    # main.handler: the baseline first, then the fault phase with its p99 change
    assert "main.handler" in cells[0][0] and "main.go:42" in cells[0][0]
    assert cells[0][1:] == ["baseline", "1,000", "200/s", "5 ms", "5 ms", "5 ms", "9 ms", "9 ms",
                            "<span class='muted'>baseline</span>"]
    assert cells[1] == ["fault", "1,000", "200/s", "30 ms", "30 ms", "61.2 ms", "61.2 ms", "61.2 ms", "×12.2"]
    store = next(c for c in cells if "main.store" in c[0])
    assert store[4] == "200 µs"
    rare = next(c for c in cells if "main.rare" in c[0])
    assert rare[2] == "0" and "–" in rare[4]
    # one percentile plot per called function, one line per phase, log latency axis in ms / µs
    charts = re.findall(r"<svg.*?</svg>", sec, re.DOTALL)
    assert len(charts) == 2 and all("class=\"chart percentiles\"" in c for c in charts)
    handler = next(c for c in charts if "main.handler" in c)
    assert [t for t in re.findall(r"<polyline[^>]*><title>(.*?)</title>", handler)] == ["baseline", "fault"]
    ticks = re.findall(r'text-anchor="end" fill="#444">(.*?)</text>', handler)
    assert ticks[0] == "1 ms" and "10 ms" in ticks and "100 ms" in ticks and "99.99%" in handler
    assert "µs" in next(c for c in charts if "main.store" in c)
    # no raw nanoseconds anywhere in the section
    assert not re.search(r"\d ns\b|nanosecond|\d{7,}", re.sub(r"<svg.*?</svg>", "", sec, flags=re.DOTALL))
    assert not re.search(r">\s*[\d,.]+ ns<|\d{7,}\s*<", sec)


def test_no_section_without_function_artifacts(tmp_path):
    run = make_run(tmp_path)
    summary = write_all(run)
    assert "Function latency" not in (run / "report.html").read_text()
    assert all(p["functions"] == {} for p in summary["phases"])


def test_expectations_pass_and_fail_with_messages_and_where(tmp_path):
    summary = write_all(functions_run(tmp_path, EXPECT))
    checks = {(c["phase"], c["name"]): c for c in summary["expect"]["checks"]}
    p99 = checks[("fault", "main.handler p99")]
    assert not p99["passed"] and p99["message"] == "main.handler p99 = 61.2 ms (limit 50 ms), over by 11.2 ms"
    assert re.search(r"scenario\.yaml:4:\d+$", p99["where"])
    at_least, at_most = [c for c in summary["expect"]["checks"] if c["name"] == "main.handler calls"]
    assert at_least["passed"] and at_least["message"] == "main.handler calls = 1,000 (minimum 100)"
    assert not at_most["passed"] and at_most["message"] == "main.handler calls = 1,000 (maximum 10), over by 990"
    assert re.search(r"scenario\.yaml:6:\d+$", at_least["where"]) and re.search(r":7:\d+$", at_most["where"])
    assert checks[("baseline", "main.handler p99")]["passed"]
    assert checks[("baseline", "main.handler p50")]["message"] == "main.handler p50 = 5 ms (limit 10 ms)"
    missing = checks[("baseline", "main.nothere calls")]
    assert not missing["passed"] and missing["message"].startswith(
        "no function latency for main.nothere in phase baseline (probed: main.handler, main.rare, main.store)")
    assert summary["expect"]["failed"] == 3


def test_a_phase_without_function_latency_fails_and_says_why(tmp_path):
    expect = "expect:\n  - function_latency: {function: main.handler, p99: 1s}\n"
    summary = write_all(functions_run(tmp_path, expect, fault=False))
    by_phase = {c["phase"]: c for c in summary["expect"]["checks"]}
    assert by_phase["baseline"]["passed"]
    assert by_phase["fault"]["message"] == "no function latency for main.handler in phase fault (captures.functions?)"


def test_no_calls_fails_a_latency_bound(tmp_path):
    expect = "expect:\n  - phase: baseline\n    function_latency: {function: rare, p99: 1s}\n"
    check, = write_all(functions_run(tmp_path, expect))["expect"]["checks"]
    assert not check["passed"] and check["message"] == "main.rare p99: no calls in phase baseline"


CTX = ParseContext(file="s.yaml", scenario_dir=Path("."), services=("api",),
                   phase_names=("baseline", "fault"), allow_external_targets=False)


@pytest.mark.parametrize("text, message", [
    ("function_latency: {function: main.handler}", "function_latency bounds nothing"),
    ("function_latency: {p99: 5ms}", "missing required key 'function'"),
    ("function_latency: {function: f, p95: 5ms}", "unknown key 'p95'"),
    ("function_latency: {function: f, p99: fast}", "expected a duration"),
    ("calls: {function: f}", "calls bounds nothing"),
    ("calls: {function: f, min: 10, max: 5}", "must be at least min (10)"),
    ("calls: [{function: f, min: 1, service: web}]", "unknown service 'web'"),
])
def test_parse_errors(text, message):
    with pytest.raises(ScenarioError) as e:
        parse_expect(load_yaml(f"expect:\n  - {text}\n", "s.yaml").get("expect"), CTX)
    assert message in e.value.render() and "s.yaml:" in e.value.render()


def test_schema_takes_a_mapping_or_a_list():
    jsonschema = pytest.importorskip("jsonschema")
    for rule in ({"function_latency": {"function": "main.h", "p99": "50ms"}},
                 {"calls": [{"function": "main.h", "min": 1}, {"function": "x", "max": 9}]}):
        jsonschema.validate([rule], EXPECT_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"calls": {"function": "f", "min": -1}}], EXPECT_SCHEMA)


# -- damaged files: a problem in the summary, never a crash ----------------------------------------

def test_corrupt_file_is_a_problem_not_a_crash(tmp_path):
    run = functions_run(tmp_path, "expect:\n  - phase: fault\n    calls: {function: main.handler, min: 1}\n",
                        fault=False)
    add_functions(run, "fault", [], text='{"version": 1, "functions": [')
    summary = write_all(run)
    assert any("functions/fault/api.json" in p and "cannot read function latency" in p for p in summary["problems"])
    assert summary["phases"][1]["functions"] == {}
    check, = summary["expect"]["checks"]
    assert check["message"] == "no function latency for main.handler in phase fault (captures.functions?)"
    html = (run / "report.html").read_text()
    assert "Function latency" in html and "cannot read function latency" in html


def test_damaged_parts_are_left_out_and_named(tmp_path):
    run = functions_run(tmp_path, fault=False)
    good = entry("main.handler", [30.0] * 10, 5.0, MAIN, 42)
    add_functions(run, "fault", [dict(good, histogram="AAAA"), {"function": 5}, dict(good, function="main.x",
                                                                                       calls="many")])
    summary = write_all(run)
    fault = summary["phases"][1]["functions"]["api"]
    assert [f["function"] for f in fault] == ["main.handler"]
    problems = "\n".join(summary["problems"])
    assert "functions[1]: expected an object with the string 'function'" in problems
    assert "functions[2].calls: expected a number, got a string 'many'" in problems
    assert "histogram left out: not an encoded histogram" in problems
    charts = re.findall(r"<svg.*?</svg>", section_of((run / "report.html").read_text()), re.DOTALL)
    handler = next(c for c in charts if "main.handler" in c)
    assert re.findall(r"<polyline[^>]*><title>(.*?)</title>", handler) == ["baseline"]   # no fault line


def test_read_functions_refuses_what_is_not_a_function_latency_file(tmp_path):
    path = tmp_path / "f.json"
    for text, why in (('{"version": 2, "functions": []}', "version 2 is not read here"),
                      ('[1, 2]', "expected a function latency object"),
                      ('{"version": 1, "functions": {}}', "'functions': expected a list"),
                      ("{" * 100_000, "cannot read function latency")):
        path.write_text(text)
        with pytest.raises(FunctionsError, match=re.escape(why)):
            read_functions(path)
    path.write_text(json.dumps({"version": 1, "functions": [entry("main.h", [1.0], 1.0, MAIN, 1)]}))
    with pytest.raises(FunctionsError, match="larger than"):
        read_functions(path, limit=100)
    with pytest.raises(FunctionsError, match="not a regular file"):
        read_functions(tmp_path)
