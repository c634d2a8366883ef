"""How the report presents a run: the verdict ("What happened") first, human units, endpoint
labels, the verdict in junit.xml -- from synthetic run directories and summaries (no Docker)."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from harness.report import junit, verdict_view
from harness.report.compare import compare_runs
from harness.report.html import endpoint_label
from harness.report.writer import build_summary, render_all, write_all

from .synth import add_profile, make_run

SRC = "/src/app"
VERDICT = {"version": 1, "thresholds": {"wait_factor": 3.0}, "phases": [
    {"phase": "fault", "baseline": "baseline",
     "headline": "api waited on a pool: p99 11 ms → 5.1 s while CPU fell",
     "findings": [
         {"kind": "waiting", "message": "waiting: 94.5% of blocking time at main.go:45",
          "evidence": {"service": "api", "profile": "block",
                       "line": {"file": "main.go", "line": 45, "function": "main.(*Pool).acquire",
                                "text": "p.sem <- struct{}{} // <acquire>", "share_before": 0.02,
                                "share_after": 0.945}}},
         {"kind": "symptom", "message": "the symptom: p99 11 ms → 5.1 s (×464)", "evidence": {}},
         {"kind": "faults", "message": "faults active: delay on backend (latency 100 ms)"}]},
    {"phase": "after", "baseline": "baseline", "headline": "no significant change against baseline",
     "findings": [{"kind": "no-change", "message": "no significant change against baseline: p99 11 ms → 12 ms"}]},
]}


def _with_verdict(tmp_path, verdict=VERDICT):
    run = make_run(tmp_path)
    data, rd = build_summary(run)
    data["verdict"] = verdict
    render_all(run, data, rd)
    return run, data


def test_report_opens_with_what_happened(tmp_path):
    run, _ = _with_verdict(tmp_path)
    html = (run / "report.html").read_text()
    body = html[html.index("<body>"):]
    # after the title/header, before the charts, the expectations and the tables
    assert body.index("What happened") < body.index("Over run time") < body.index("<h2>Phases")
    assert body.index("</h1>") < body.index("What happened")
    assert "api waited on a pool: p99 11 ms → 5.1 s while CPU fell" in html
    first = re.search(r"<li class='first'>(.*?)</li>", html, re.DOTALL).group(1)
    assert "94.5% of blocking time" in first and "waiting:" not in first       # the kind is the tag
    assert "<code>main.go:45</code>" in first and "main.(*Pool).acquire" in first
    assert "<pre>p.sem &lt;- struct{}{} // &lt;acquire&gt;</pre>" in first     # source text, escaped
    assert "share 2% → 94.5%" in first
    calm = re.search(r"<li class='calm'>(.*?)</li>", html, re.DOTALL).group(1)
    assert "no significant change" in calm
    assert "<p class='headline calm'>no significant change against baseline</p>" in html
    assert "@media print" in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_missing_or_partial_verdict_is_tolerated(tmp_path):
    assert verdict_view.html_section({}) == "" and verdict_view.text_lines(None) == []
    partial = {"verdict": {"phases": [
        {"phase": "fault"},                                            # no headline, no findings
        {"phase": "x", "findings": "oops"},                            # wrong type
        "not a phase",
        {"findings": [{"kind": "burning", "evidence": {"line": {"line": 3}}},   # a line without file
                      {"message": "only a message", "evidence": [1, 2]},
                      {"kind": "garbage", "message": "g", "evidence": {"line": {"file": "a.go"}}}]}]}}
    html = verdict_view.html_section(partial)
    assert html.count("class='vphase'") == 3 and "no findings" in html and "only a message" in html
    assert "<code>a.go:?</code>" in html
    text = verdict_view.text_lines(partial)
    assert text[0] == "fault: " and "  2. [finding] only a message" in text
    assert verdict_view.html_section({"verdict": {"version": 1}}) == ""
    assert verdict_view.html_section({"verdict": "broken"}) == ""
    run, _ = _with_verdict(tmp_path, verdict=None)
    assert "What happened" not in (run / "report.html").read_text()


def test_junit_carries_the_verdict_as_system_out(tmp_path):
    run, _ = _with_verdict(tmp_path)
    suite = ET.parse(run / "junit.xml").getroot()
    case = next(tc for tc in suite.iter("testcase") if tc.get("name") == "run completed")
    lines = case.find("system-out").text.strip().splitlines()
    assert lines[0] == "fault (vs baseline): api waited on a pool: p99 11 ms → 5.1 s while CPU fell"
    assert lines[1] == ("  1. [waiting] 94.5% of blocking time at main.go:45")      # names its line already
    assert lines[2] == "  2. [symptom] the symptom: p99 11 ms → 5.1 s (×464)"
    assert lines[5] == "  1. [no-change] no significant change against baseline: p99 11 ms → 12 ms"
    assert len(lines) == 6
    no_line = {"verdict": {"phases": [{"phase": "f", "findings": [
        {"kind": "burning", "message": "CPU grew", "evidence": {"line": VERDICT["phases"][0]["findings"][0]
                                                                ["evidence"]["line"]}}]}]}}
    assert verdict_view.text_lines(no_line)[1] == ("  1. [burning] CPU grew | main.go:45 (main.(*Pool).acquire) "
                                                   "2% → 94.5%: p.sem <- struct{}{} // <acquire>")
    assert "system-out" not in junit.render({"result": {"status": "completed"}})


def test_report_numbers_read_in_human_units(tmp_path):
    run = make_run(tmp_path)
    add_profile(run, "heap", "fault", {(f"{SRC}/main.go", 70, "main.cache"): 3 << 20},
                (("inuse_objects", "count"), ("inuse_space", "bytes")), window="snapshot")
    write_all(run)
    html = (run / "report.html").read_text()
    # scripts are not read as they are: the flame graphs' data and viewer, which formats its own
    # numbers (tests/report/test_flame_view.py checks its tooltip)
    text = re.sub(r"<svg.*?</svg>|<script.*?</script>", "", html, flags=re.DOTALL)
    assert "nanoseconds" not in text and not re.search(r"\d{1,3}(,\d{3}){2,}", text), "a raw total"
    assert "total 1 s (" in text and "800 ms" in text          # cpu total and a line's value
    assert "3 MiB" in text and "140 MiB" in text and "256 MiB" in text   # heap line, memory peak/limit
    assert "<td>5%</td>" in text and "<td>120 ms</td>" in text and "<td>100/s</td>" in text
    assert "+26.2 pts" in text                             # main.go:55: 20% → 46.2% of the fault CPU
    svg = html[html.index("<svg"):]
    assert "MiB</text>" in svg and " ms</text>" in svg      # chart axes carry human units


def test_endpoint_label_names_the_method_once(tmp_path):
    assert endpoint_label("GET", "/checkout") == "GET /checkout"
    assert endpoint_label("GET", "GET /checkout") == "GET /checkout"      # runs before the load fix
    assert endpoint_label("POST", "checkout") == "POST checkout" and endpoint_label(None, "/x") == "/x"
    run = make_run(tmp_path)
    (run / "load" / "stats.json").write_text(json.dumps({"phases": {"fault": {"requests": 500, "failures": 25,
        "endpoints": [{"name": "/checkout", "method": "GET", "requests": 400, "failures": 20, "p99_ms": 5100.0},
                      {"name": "POST /pay", "method": "POST", "requests": 100, "failures": 5}]}}}))
    write_all(run)
    html = (run / "report.html").read_text()
    assert "GET /checkout</bdi></td>" in html and "POST /pay</bdi></td>" in html
    assert "GET GET" not in html and "POST POST" not in html and "<td>5.1 s</td>" in html


def test_compare_html_reads_in_human_units(tmp_path):
    a = make_run(tmp_path, "a", fault_hot=100)
    b = make_run(tmp_path, "b", fault_hot=900, slow=40)
    compare_runs(a, b, tmp_path / "cmp")
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert "<td>120 ms</td><td>4.8 s</td><td>×40</td>" in html
    assert "+43.8 pts" in html and "25 ms/s → 225 ms/s" not in html    # per-line rates are the terminal's
    assert "rate 200 ms/s → 400 ms/s" in html           # CPU per second of the window, A → B


def test_scheduler_latency_is_drawn_by_percentile_per_phase(tmp_path):
    """A traced service's scheduler latency: one percentile chart per service, a line per phase,
    and p50/p99 beside the trace's table, in ms."""
    run = make_run(tmp_path)
    data, rd = build_summary(run)
    curve = lambda k: [[q, round(k * (1 + q / 10), 3)] for q in (0, 50, 90, 99, 99.9, 100)]
    for p, k in zip(data["phases"], (0.01, 2.0)):
        p["traces"] = {"api": {"start_s": p["start_s"], "end_s": p["end_s"], "gc": {}, "blocked_ms": {},
                               "sched_latency": {"count": 1200, "p50_ms": k * 6, "p99_ms": k * 10.9,
                                                 "max_ms": k * 11, "percentiles": curve(k)}}}
    render_all(run, data, rd)
    html = (run / "report.html").read_text()
    section = html[html.index("<h2>Scheduler latency</h2>"):]
    chart = section[:section.index("</svg>")]
    assert "api: scheduler latency (runnable → running) by percentile" in chart
    assert "of goroutine wake-ups at or below the latency" in chart
    assert all(f">{p['name']}<" in chart for p in data["phases"])          # the legend: one line per phase
    assert "scheduler latency (runnable → running, 1,200 wake-ups): p50 12 ms, p99 21.8 ms" in html
    del data["phases"][0]["traces"], data["phases"][1]["traces"]
    render_all(run, data, rd)
    assert "Scheduler latency" not in (run / "report.html").read_text()


def test_what_changed_leaves_out_tables_with_no_rows():
    from harness.report.html import change_block

    row = {"key": "main.go:7", "function": "main.f", "share_before": 0.1, "share_after": 0.5, "delta": 0.4}
    base = {"kind": "cpu", "service": "api", "baseline": "baseline", "phase": "fault", "sample_type": "cpu",
            "unit": "nanoseconds", "total_before": 1e9, "total_after": 2e9}
    only_lines = change_block({**base, "lines": {"grew": [row], "shrank": []}, "functions": {"grew": [], "shrank": []}})
    assert "own line" in only_lines and "own function" not in only_lines
    still = change_block({**base, "lines": {"grew": [], "shrank": []}, "functions": {"grew": [], "shrank": []}})
    assert "<table" not in still and "no own line or function changed its share" in still


def test_the_time_axis_starts_where_the_load_starts():
    """20 s of set-up before a 30 s load is one narrow labelled band, not two fifths of the axis;
    a run whose phases start at once has no band."""
    import re as _re

    from harness.report import plots

    phases = [{"name": "baseline", "start_s": 20.0, "end_s": 35.0}, {"name": "fault", "start_s": 35.0, "end_s": 50.0}]
    svg = plots.timeseries("Latency", [{"label": "p50", "points": [(t, 1.0) for t in range(0, 50)]}], t_end=50.0,
                           phases=phases, faults=[], events=[])
    band = _re.search(r'<rect class="setup" x="([\d.]+)" y="\d+" width="([\d.]+)"', svg)
    assert band and float(band.group(2)) == plots.SETUP_W
    assert ">set-up</text>" in svg and ">20 s</text>" in svg
    first = _re.search(r'<rect class="phase" x="([\d.]+)" y="\d+" width="([\d.]+)"', svg)
    assert float(first.group(1)) == plots.L + plots.SETUP_W          # the baseline starts right after the band
    width = plots.W - plots.L - plots.R - plots.SETUP_W
    assert abs(float(first.group(2)) - width / 2) < 1                 # 15 s of 30 s: half of the rest
    ticks = [float(t) for t in _re.findall(r'>([\d.]+)s</text>', svg)]
    assert ticks and min(ticks) >= 20                                 # the axis is labelled from the load on
    quick = plots.timeseries("Latency", [], t_end=50.0, faults=[], events=[],
                             phases=[{"name": "baseline", "start_s": 0.5, "end_s": 50.0}])
    assert 'class="setup"' not in quick
