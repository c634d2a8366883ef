"""One test per class of crash the scenario fuzz (test_fuzz.py) and its follow-up probes found:
each input used to end in an internal error (exit 3), a traceback, a hang, or an error without
a line; now each is a ScenarioError at the file:line:col of the value at fault."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ScenarioError
from harness.scenario import load_scenario

COMPOSE = "services:\n  api:\n    build: .\n  store:\n    build: .\n"

GOOD = """\
name: t
compose: compose.yml
services:
  api:
    limits: {memory: 64m, cpus: 0.5}
    ports: [8080]
load:
  target: {service: api, port: 8080}
  rate: 10
  requests:
    - {name: root, method: POST, path: /, body: {a: 1}}
phases:
  - name: a
    duration: 5s
    faults:
      - {kind: delay, target: api, latency: 10ms}
expect:
  - {phase: a, throughput: 1}
"""


@pytest.fixture()
def scenario(tmp_path: Path):
    (tmp_path / "compose.yml").write_text(COMPOSE)

    def _write(text: str | bytes) -> Path:
        p = tmp_path / "s.yaml"
        p.write_bytes(text if isinstance(text, bytes) else textwrap.dedent(text).encode())
        return p

    return _write


def first_line(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value.render().splitlines()[0]


def test_the_base_scenario_is_valid(scenario):
    load_scenario(scenario(GOOD))


# A character the YAML reader refuses (ReaderError escaped: exit 3).
@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x7f", "\ufffe"])
def test_a_character_yaml_refuses_is_placed(scenario, char):
    path = scenario(GOOD.replace("rate: 10", f"rate: 1{char}0"))
    assert first_line(path) == f"{path}:9:10: the scenario holds a character YAML does not allow"


# Nesting deep enough to exhaust the YAML parser's recursion: the error had no line.
@pytest.mark.parametrize("value", ["[" * 3000 + "]" * 3000, "{a: " * 3000 + "1" + "}" * 3000])
def test_nesting_too_deep_for_the_parser_has_a_line(scenario, value):
    path = scenario(GOOD.replace("rate: 10", f"rate: {value}"))
    assert first_line(path).startswith(f"{path}:9:")
    assert first_line(path).endswith("the scenario is nested more than 64 levels deep")


# Text its YAML tag cannot hold: ValueError/KeyError from the constructor (exit 3).
@pytest.mark.parametrize("raw,message", [
    ("!!int abc", "cannot read the value as an integer: invalid literal for int() with base 10: 'abc'"),
    ("!!float x", "cannot read the value as a number: could not convert string to float: 'x'"),
    ("!!bool maybe", "cannot read the value as true/false"),
    ("2001-13-45", "cannot read the value as a date: month must be in 1..12"),
    ("9" * 5000, ("cannot read the value as an integer: Exceeds the limit (4300 digits) for integer "
                  "string conversion: value has 5000 digits")),
])
def test_a_value_its_tag_cannot_hold(scenario, raw, message):
    path = scenario(GOOD.replace("rate: 10", f"rate: {raw}"))
    assert first_line(path) == f"{path}:9:9: {message}"


# Numbers beyond the float range (OverflowError: exit 3) and numeric text that overflows
# (int(inf): exit 3; a duration of inf seconds: accepted).
@pytest.mark.parametrize("old,new,message", [
    ("cpus: 0.5", "cpus: " + "9" * 400, "5:33: services.api.limits.cpus: must be at most 1024"),
    ("rate: 10", "rate: -" + "9" * 400, "9:9: load.rate: must be at least 0"),
    ("throughput: 1", "throughput: " + "9" * 400, "18:28: expect[0].throughput: the number is too large"),
    ("memory: 64m", "memory: " + "9" * 400 + "t", "5:22: services.api.limits.memory: must be at most"),
    ("memory: 64m", "memory: " + "9" * 5000 + "t", "5:22: services.api.limits.memory: must be at most"),
    ("duration: 5s", "duration: " + "9" * 400, "14:15: phases[0].duration: must be at most 86400s"),
    ("throughput: 1", "latency: {p99: " + "9" * 400 + "s}",
     "18:31: expect[0].latency.p99: the duration is too long"),
    ("kind: delay, target: api, latency: 10ms", "kind: rate, target: api, rate: " + "9" * 400 + "mbit",
     "16:41: phases[0].faults[0].rate: rate must be between 8kbit and 100gbit"),
])
def test_numbers_too_large_are_range_errors(scenario, old, new, message):
    path = scenario(GOOD.replace(old, new))
    assert first_line(path).startswith(f"{path}:{message}")


# Paths the system cannot look up: ValueError (NUL), RuntimeError (~user), OSError (too long).
@pytest.mark.parametrize("old,new,message", [
    ("compose: compose.yml", 'compose: "compose\\0.yml"', "2:10: compose: a path cannot hold a NUL character"),
    ("compose: compose.yml", "compose: ~no_such_user_x/c.yml", "2:10: compose: cannot expand '~': no such user"),
    ("compose: compose.yml", "compose: " + "a" * 5000, "2:10: compose: cannot use this path: File name too long"),
    ("name: t", 'name: t\nruns_dir: "runs\\0"', "2:11: runs_dir: a path cannot hold a NUL character"),
    ("name: t", "name: t\nprepare: [{cmd: [go], cwd: ~no_such_user_x}]",
     "2:28: prepare[0].cwd: cannot expand '~': no such user"),
    ("ports: [8080]", "ports: [8080]\n    source: " + "b/" * 3000,
     "7:13: services.api.source: cannot use this path: File name too long"),
])
def test_paths_the_system_cannot_look_up(scenario, old, new, message):
    path = scenario(GOOD.replace(old, new, 1))
    assert first_line(path) == f"{path}:{message}"


def test_a_scenario_path_too_long(tmp_path):
    long = tmp_path / ("a" * 5000)
    with pytest.raises(ScenarioError) as info:
        load_scenario(long)
    assert info.value.what == "cannot read the scenario file: File name too long"


# A URL urlsplit refuses (ValueError), a cpuset of 5000 digits (ValueError in int()).
@pytest.mark.parametrize("old,new,message", [
    ("target: {service: api, port: 8080}", "url: 'http://[::1'", "8:8: load.url: not a URL: Invalid IPv6 URL"),
    ("cpus: 0.5", "cpuset: '0-" + "9" * 5000 + "'",
     "5:35: services.api.limits.cpuset: expected CPU numbers like 0, 0-1 or 0,2"),
])
def test_text_the_standard_library_refuses(scenario, old, new, message):
    path = scenario(GOOD.replace(old, new))
    assert first_line(path) == f"{path}:{message}"


# A request body that JSON cannot hold (TypeError/ValueError in json.dumps: exit 3).
@pytest.mark.parametrize("body,seen", [
    ("{when: 2001-01-01}", "Object of type date is not JSON serializable"),
    ("[!!binary aGVsbG8=]", "Object of type bytes is not JSON serializable"),
    ("[.nan]", "Out of range float values are not JSON compliant"),
])
def test_a_body_json_cannot_hold(scenario, body, seen):
    path = scenario(GOOD.replace("body: {a: 1}", f"body: {body}"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.render().splitlines()[:2] == [
        f"{path}:11:49: load.requests[0].body: the body cannot be sent as JSON", f"  seen: {seen}"]


# A list or mapping as a key: an alias bomb there was turned into text (a hang).
def test_a_key_that_is_a_list_is_refused_before_it_expands(scenario):
    bomb = "[&a [x, x, x, x, x, x, x, x, x], " + ", ".join(
        f"&{n} [" + ", ".join([f"*{p}"] * 9) + "]" for p, n in zip("abcdefgh", "bcdefghi")) + "]"
    path = scenario(GOOD + f"? {bomb}\n: 1\n")
    assert first_line(path) == f"{path}:19:3: a key must be a name, not a list or a mapping"


# Rich markup in an error's text ("[/]") raised MarkupError in the CLI (a traceback, exit 1).
@pytest.mark.parametrize("name", ["'[/]'", "'[bold]x'", "'[/red]'"])
def test_markup_in_an_error_is_printed_as_text(scenario, capsys, name):
    path = scenario(GOOD.replace("name: t", f"name: {name}"))
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr()
    assert f"{path}:1:7: name: expected lowercase letters" in out.out
    assert name.strip("'") in out.out and "Traceback" not in out.out + out.err
