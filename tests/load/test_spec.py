"""The load: section parser: valid forms, and errors that name file:line:col, what was seen, a hint."""
from __future__ import annotations

import os

import pytest

from harness.errors import ScenarioError
from harness.load.spec import LOAD_SCHEMA, LoadSpec, RateSegment, is_loopback_host

from .helpers import parse

BASE = """
load:
  url: http://127.0.0.1:8080
  requests: [{path: /work}]
"""


def test_minimal_open_model_defaults():
    spec = parse(BASE.replace("  requests", "  rate: 200\n  requests"))
    assert spec.model == "open" and spec.latency_basis == "intended"
    assert spec.rate_for("main") == RateSegment(200, 200)
    assert spec.max_inflight == 500 and spec.overflow == "delay" and spec.timeout == 10.0
    # the name is the statistics' label beside the method: the path, not "GET /work" (which the
    # report showed as "GET GET /work")
    assert spec.requests[0].name == "/work" and spec.requests[0].method == "GET"


def test_full_open_model_with_phase_rates_and_target_service():
    spec = parse("""
load:
  target: {service: api, port: 8080}
  rate: {baseline: 100, fault: {from: 100, to: 400}}
  max_inflight: 50
  overflow: drop
  timeout: 500ms
  raw_log: true
  processes: 2
  requests:
    - {name: work, method: post, path: /work, weight: 3, headers: {X-A: 1}, body: {k: v}}
    - {path: /alloc}
""", phases=("baseline", "fault"))
    assert (spec.target_service, spec.target_port, spec.url) == ("api", 8080, None)
    assert spec.rate_for("baseline") == RateSegment(100, 100)
    assert spec.rate_for("fault") == RateSegment(100, 400)
    assert spec.overflow == "drop" and spec.timeout == 0.5 and spec.processes == 2 and spec.raw_log
    work = spec.requests[0]
    assert (work.method, work.weight, work.headers, work.body) == ("POST", 3.0, (("X-A", "1"),), '{"k": "v"}')


def test_closed_model():
    spec = parse(BASE.replace("  requests", "  model: closed\n  users: 7\n  think_time: 100ms\n  requests"))
    assert (spec.model, spec.users, spec.think_time, spec.latency_basis) == ("closed", 7, 0.1, "actual")


def test_whole_window_ramp_and_default_rate():
    ramp = parse(BASE.replace("  requests", "  rate: {from: 10, to: 100}\n  requests"), phases=("a", "b"))
    assert ramp.whole_ramp == RateSegment(10, 100)
    dflt = parse(BASE.replace("  requests", "  rate: {a: 5, default: 50}\n  requests"), phases=("a", "b", "c"))
    assert dflt.rate_for("a").start == 5 and dflt.rate_for("c").start == 50


def test_spec_survives_the_trip_to_the_worker():
    spec = parse("""
load:
  url: http://localhost:9000/
  rate: {a: 5, b: {from: 1, to: 2}}
  requests: [{path: /x, headers: {H: v}}]
""", phases=("a", "b"))
    assert LoadSpec.from_json(spec.to_json()) == spec
    assert spec.url == "http://localhost:9000"


def _error(text: str, **kw) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse(text, **kw)
    return info.value


def test_unknown_key_has_position_and_did_you_mean():
    err = _error(BASE.replace("  requests", "  rat: 200\n  requests"))
    assert err.where == "scenario.yaml:4:3"
    assert "unknown key 'rat'" in err.what and err.hint == "did you mean 'rate'?"


@pytest.mark.parametrize("url", ["http://10.1.2.3:80", "http://example.com", "https://8.8.8.8"])
def test_non_loopback_url_is_refused_at_parse_time(url):
    err = _error(f"load:\n  url: {url}\n  rate: 1\n  requests: [{{path: /}}]\n")
    assert err.where == "scenario.yaml:2:8"
    assert "loopback" in err.what and "allow_external_targets: true" in err.hint
    assert parse(f"load:\n  url: {url}\n  rate: 1\n  requests: [{{path: /}}]\n", allow_external=True).url


@pytest.mark.parametrize("text, where, fragment", [
    ("load:\n  rate: 1\n  requests: [{path: /}]\n", "scenario.yaml:2:3", "exactly one of 'target' and 'url'"),
    ("load:\n  url: http://127.0.0.1:1\n  requests: [{path: /}]\n", "scenario.yaml:2:3", "needs 'rate'"),
    ("load:\n  url: http://127.0.0.1:1\n  rate: -1\n  requests: [{path: /}]\n", "scenario.yaml:3:9", "at least 0"),
    ("load:\n  url: ftp://127.0.0.1\n  rate: 1\n  requests: [{path: /}]\n", "scenario.yaml:2:8", "http://"),
    ("load:\n  url: http://127.0.0.1:1\n  rate: 1\n  requests: [{path: work}]\n", "scenario.yaml:4:21",
     "must start with '/'"),
    ("load:\n  url: http://127.0.0.1:1\n  rate: 1\n  requests: []\n", "scenario.yaml:4:13", "empty"),
    ("load:\n  url: http://127.0.0.1:1\n  rate: 1\n  users: 3\n  requests: [{path: /}]\n",
     "scenario.yaml:4:10", "only applies to the closed model"),
    ("load:\n  url: http://127.0.0.1:1\n  model: closed\n  rate: 3\n  requests: [{path: /}]\n",
     "scenario.yaml:4:9", "only applies to the open model"),
    ("load:\n  target: {service: apx, port: 80}\n  rate: 1\n  requests: [{path: /}]\n", "scenario.yaml:2:21",
     "unknown service 'apx'"),
    ("load:\n  url: http://127.0.0.1:1\n  rate: 1\n  requests: [{path: /, method: FETCH}]\n",
     "scenario.yaml:4:32", "unknown HTTP method"),
    ("load:\n  url: http://127.0.0.1:1\n  rate: 1\n  requests: [{path: /a, name: x}, {path: /b, name: x}]\n",
     "scenario.yaml:4:14", "two GET requests are named 'x'"),
    ("load:\n  url: http://127.0.0.1:1\n  rate: 1\n  requests: [{path: /a}, {path: /a}]\n",
     "scenario.yaml:4:14", "two GET requests are named '/a'"),
    ("load:\n  url: http://127.0.0.1:1\n  rate: 1\n  workers: many\n  requests: [{path: /}]\n",
     "scenario.yaml:4:12", "expected an integer or auto"),
    ("load:\n  url: http://127.0.0.1:1\n  rate: 1\n  workers: 0\n  requests: [{path: /}]\n",
     "scenario.yaml:4:12", "at least 1"),
    ("load:\n  url: http://127.0.0.1:1\n  rate: 1\n  workers: 2\n  processes: 2\n  requests: [{path: /}]\n",
     "scenario.yaml:2:3", "give one of 'workers' and 'processes'"),
])
def test_errors_name_the_place(text, where, fragment):
    err = _error(text)
    assert err.where == where, err.render()
    assert fragment in err.what, err.render()


def test_same_path_with_two_methods_keeps_two_statistics():
    spec = parse(BASE.replace("  requests: [{path: /work}]", "  rate: 1\n  requests: [{path: /work}, {path: /work, method: POST}]"))
    assert [(r.method, r.name) for r in spec.requests] == [("GET", "/work"), ("POST", "/work")]


def test_per_phase_rate_must_cover_every_phase():
    err = _error(BASE.replace("  requests", "  rate: {baseline: 10}\n  requests"), phases=("baseline", "fault"))
    assert "no rate for phase(s) fault" in err.what and "default" in err.hint


def test_per_phase_rate_with_unknown_phase_suggests_one():
    err = _error(BASE.replace("  requests", "  rate: {fualt: 10, default: 1}\n  requests"),
                 phases=("baseline", "fault"))
    assert err.hint == "did you mean 'fault'?"


def test_locustfile_only_in_closed_model(tmp_path):
    (tmp_path / "lf.py").write_text("")
    text = "load:\n  url: http://127.0.0.1:1\n  model: MODEL\n  locustfile: lf.py\n"
    err = _error(text.replace("MODEL", "open").replace("  locustfile", "  rate: 1\n  locustfile"),
                 scenario_dir=tmp_path)
    assert "closed model only" in err.what and err.where == "scenario.yaml:5:15"
    spec = parse(text.replace("MODEL", "closed"), scenario_dir=tmp_path)
    assert spec.locustfile == str(tmp_path / "lf.py")
    missing = _error(text.replace("MODEL", "closed").replace("lf.py", "nope.py"), scenario_dir=tmp_path)
    assert "file not found" in missing.what


def test_schema_describes_every_key():
    from harness.load.spec import _TOP_KEYS
    assert set(LOAD_SCHEMA["properties"]) == set(_TOP_KEYS)


@pytest.mark.parametrize("host, ok", [("127.0.0.1", True), ("127.9.9.9", True), ("localhost", True),
                                      ("::1", True), ("[::1]", True), ("10.0.0.1", False), ("api", False)])
def test_loopback_hosts(host, ok):
    assert is_loopback_host(host) is ok


@pytest.mark.parametrize("header,message", [
    ('{X-Trace: "a\\r\\nInjected: 1"}', "load.requests[0].headers.X-Trace: a header value may not hold a line break"),
    ('{"X Trace": a}', "load.requests[0].headers.X Trace: not a valid HTTP header name"),
], ids=["crlf-value", "space-in-name"])
def test_header_names_and_values_are_checked(header, message):
    """A CR/LF in a header made every request raise in the worker; it is refused up front."""
    text = f"load:\n  url: http://127.0.0.1:1\n  rate: 1\n  requests:\n    - {{path: /, headers: {header}}}\n"
    with pytest.raises(ScenarioError) as info:
        parse(text)
    assert message in info.value.render().splitlines()[0]


# -- model: replay -------------------------------------------------------------------------------

LOG_LINE = '10.0.0.1 - - [07/Dec/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "x"\n'


def _replay(tmp_path, body: str):
    return parse(f"""
load:
  url: http://127.0.0.1:8080
  model: replay
{body}""", scenario_dir=tmp_path)


def test_replay_model_parses_and_survives_the_trip_to_the_worker(tmp_path):
    (tmp_path / "prod.log").write_text(LOG_LINE)
    spec = _replay(tmp_path, """  max_inflight: 20
  replay:
    file: prod.log
    speed: 2
    window: {start: 1m, end: 90s}
    loop: true
    max_rate: 300
    keep_headers: [Authorization]
    templates: [{match: 'v[0-9]+', name: '{version}'}]""")
    r = spec.replay
    assert spec.latency_basis == "intended" and spec.max_inflight == 20
    assert (r.file, r.speed, r.window_start, r.window_end, r.loop, r.max_rate) == \
        (str(tmp_path / "prod.log"), 2.0, 60.0, 90.0, True, 300.0)
    assert r.keep_headers == ("Authorization",) and r.templates == (("v[0-9]+", "{version}"),)
    assert LoadSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("body,line,fragment", [
    ("  replay: {file: missing.log}", 5, "traffic file not found"),
    ("  replay: {file: bad.log}", 5, "no request in the first 2 lines"),
    ("  replay: {file: prod.log, window: {start: 10s, end: 5s}}", 5, "ends before it starts"),
    ("  rate: 10\n  replay: {file: prod.log}", 5, "sends the traffic file's requests"),
    ("  requests: [{path: /}]\n  replay: {file: prod.log}", 5, "sends the traffic file's requests"),
    ("  users: 3\n  replay: {file: prod.log}", 5, "only applies to the closed model"),
    ("  max_inflight: 3", 3, "needs 'replay'"),
    ("  replay: {file: prod.log, templates: [{match: '(', name: x}]}", 5, "not a regular expression"),
])
def test_replay_errors_name_the_place(tmp_path, body, line, fragment):
    (tmp_path / "prod.log").write_text(LOG_LINE)
    (tmp_path / "bad.log").write_text("junk\nmore junk\n")
    with pytest.raises(ScenarioError) as info:
        _replay(tmp_path, body)
    assert fragment in str(info.value) and f"scenario.yaml:{line}:" in str(info.value), str(info.value)


def test_replay_only_with_model_replay(tmp_path):
    (tmp_path / "prod.log").write_text(LOG_LINE)
    with pytest.raises(ScenarioError) as info:
        parse(BASE.replace("  requests", f"  rate: 1\n  replay: {{file: {tmp_path / 'prod.log'}}}\n  requests"))
    assert "only applies to model: replay" in str(info.value)


def test_workers_count_auto_and_the_older_name():
    base = BASE.replace("  requests", "  rate: 10\n  requests")
    assert parse(base).processes == 1
    assert parse(base.replace("  rate", "  workers: 3\n  rate")).processes == 3
    assert parse(base.replace("  rate", "  processes: 2\n  rate")).processes == 2
    assert parse(base.replace("  rate", "  workers: auto\n  rate")).processes == len(os.sched_getaffinity(0))


REMOTE = """
load:
  target: {service: api, port: 8080, publish: veth0}
  rate: 10
  requests: [{path: /work}]
  workers: 0
  remote_workers: 3
  master: {interface: veth0, join_timeout: 2m}
"""


def test_remote_workers_with_their_master_interface_and_the_published_target():
    spec = parse(REMOTE)
    assert (spec.processes, spec.remote_workers, spec.master_interface, spec.master_port, spec.join_timeout,
            spec.publish_interface) == (0, 3, "veth0", 5557, 120.0, "veth0")
    assert LoadSpec.from_json(spec.to_json()) == spec
    assert parse(REMOTE.replace("join_timeout: 2m", "port: 6000")).master_port == 6000
    plain = parse(BASE.replace("  requests", "  rate: 10\n  requests"))
    assert (plain.remote_workers, plain.master_interface, plain.master_port) == (0, None, 0)


@pytest.mark.parametrize("edit,what,hint", [
    (("master: {interface: veth0, join_timeout: 2m}", "master: {join_timeout: 2m}"),
     "remote workers cannot reach a load master on 127.0.0.1", "master: {interface: eth0}"),
    (("target: {service: api, port: 8080, publish: veth0}", "target: {service: api, port: 8080}"),
     "it is published on 127.0.0.1 only", "publish: eth0"),
    (("target: {service: api, port: 8080, publish: veth0}", "url: http://127.0.0.1:8080"),
     "cannot reach the target on this machine's loopback", "publish: eth0"),
    (("remote_workers: 3", "remote_workers: 0"), "no worker would send the load", "beside remote_workers"),
    (("interface: veth0,", "interface: 'eth 0',"), "not a network interface name", "ip -brief addr"),
])
def test_remote_worker_mistakes_are_clear_errors(edit, what, hint):
    e = _error(REMOTE.replace(*edit))
    assert what in e.what and hint in (e.hint or "") and "scenario.yaml:" in e.where
