"""Malformed scenarios: each mistake gets an exact message and the YAML position."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario import load_scenario

COMPOSE = """\
services:
  api:
    build: .
  store:
    build: .
"""

GOOD = """\
name: t
compose: compose.yml
services:
  api:
    limits: {memory: 64m, cpus: 0.5}
    ports: [8080]
load:
  target: {service: api, port: 8080}
  model: open
  rate: 10
  requests:
    - {name: root, method: GET, path: /}
"""


@pytest.fixture()
def write(tmp_path: Path):
    (tmp_path / "compose.yml").write_text(COMPOSE)

    def _write(text: str) -> Path:
        p = tmp_path / "s.yaml"
        p.write_text(textwrap.dedent(text))
        return p

    return _write


def error_of(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as ei:
        load_scenario(path)
    return ei.value


def test_good_scenario_parses(write):
    sc = load_scenario(write(GOOD))
    assert sc.name == "t"
    assert sc.services["api"].limits.memory == 64 << 20
    assert sc.services["api"].limits.cpus == 0.5
    assert [p.name for p in sc.phases] == ["main"]
    assert sc.duration == 30.0
    assert sc.compose.services == ("api", "store")


# (id, text, (line, col), first line of the message after "file:line:col: ", a line that must appear)
CASES = [
    ("name-wrong-type", GOOD.replace("name: t", "name: 12"), (1, 7),
     "name: expected a string", "seen: an integer 12"),
    ("name-bad-chars", GOOD.replace("name: t", "name: My App"), (1, 7),
     "name: expected lowercase letters, digits, '-', '_' or '.', at most 63", "seen: 'My App'"),
    ("unknown-top-key", GOOD + "lod: {}\n", (13, 1),
     "lod: unknown key 'lod'", "Hint: did you mean 'load'?"),
    ("missing-load", GOOD.split("load:")[0], (1, 1),
     "missing required key 'load'", "Hint: add 'load:' to the top level"),
    ("missing-compose-file", GOOD.replace("compose: compose.yml", "compose: nope.yml"), (2, 10),
     "compose: compose file not found", "Hint: paths are relative to the scenario file's folder"),
    ("unknown-service", GOOD.replace("  api:\n    limits", "  apii:\n    limits"), (4, 3),
     "services.apii: unknown service 'apii'", "Hint: did you mean 'api'?"),
    ("bad-duration", GOOD + "duration: 10 sec\n", (13, 11),
     "duration: expected a duration like 500ms, 30s, 2m or 1m30s", "seen: '10 sec'"),
    ("bad-size", GOOD.replace("memory: 64m", "memory: 64 megs"), (5, 22),
     "services.api.limits.memory: expected a size like 64m, 256MiB or 1g", "seen: '64 megs'"),
    ("size-too-small", GOOD.replace("memory: 64m", "memory: 1k"), (5, 22),
     "services.api.limits.memory: must be at least 6.29146e+06 bytes", "seen: '1k'"),
    ("unknown-limit-key", GOOD.replace("memory: 64m", "memroy: 64m"), (5, 14),
     "services.api.limits.memroy: unknown key 'memroy'", "Hint: did you mean 'memory'?"),
    ("cpus-wrong-type", GOOD.replace("cpus: 0.5", "cpus: half"), (5, 33),
     "services.api.limits.cpus: expected a number", "seen: a string 'half'"),
    ("cpus-too-small", GOOD.replace("cpus: 0.5", "cpus: 0"), (5, 33),
     "services.api.limits.cpus: must be at least 0.01", "seen: 0"),
    ("bad-cpuset", GOOD.replace("cpus: 0.5", "cpuset: 0-a"), (5, 35),
     "services.api.limits.cpuset: expected CPU numbers like 0, 0-1 or 0,2", "seen: '0-a'"),
    ("swap-below-memory", GOOD.replace("cpus: 0.5", "memory_swap: 32m"), (5, 40),
     "limits.memory_swap: must be at least limits.memory (it is memory plus swap)",
     "seen: 33554432 < 67108864 bytes"),
    ("port-out-of-range", GOOD.replace("ports: [8080]", "ports: [80800]"), (6, 13),
     "services.api.ports[0]: must be at most 65535", "seen: 80800"),
    ("ready-path", GOOD.replace("ports: [8080]", "ports: [8080]\n    ready: {http: healthz}"), (7, 19),
     "services.api.ready.http: expected a URL path starting with '/'", "seen: 'healthz'"),
    ("pprof-true-without-port", GOOD.replace("ports: [8080]", "pprof: true"), (6, 12),
     "services.api.pprof: 'true' needs a port in 'ports:'", "Hint: write pprof: {port: 6060}"),
    ("duplicate-key", GOOD + "name: again\n", (13, 1),
     "duplicate key 'name'", "seen: first defined at line 1"),
    ("invalid-yaml", GOOD.replace("model: open", "model: [open"), (10, 7),
     "not valid YAML: expected ',' or ']', but got ':'", "Hint: check indentation and quoting"),
    ("phases-and-duration", GOOD + "duration: 10s\nphases:\n  - {name: a, duration: 5s}\n", (13, 11),
     "duration: give either 'duration' or 'phases', not both", "the run lasts until the end"),
    ("duplicate-phase", GOOD + "phases:\n  - {name: a, duration: 5s}\n  - {name: a, duration: 5s}\n",
     (15, 12), "phases[1].name: duplicate phase name 'a'", "seen: first used at line 14"),
    ("phase-overlap", GOOD + "phases:\n  - {name: a, duration: 5s}\n  - {name: b, start: 2s, duration: 5s}\n",
     (15, 22), "phases[1].start: phase starts before the previous one ends",
     "seen: start 2s, previous phase ends at 5s"),
    ("phase-missing-duration", GOOD + "phases:\n  - {name: a}\n", (14, 5),
     "phases[0]: missing required key 'duration'", "Hint: add 'duration:' to phases[0]"),
    ("prepare-empty-cmd", GOOD + "prepare:\n  - cmd: []\n", (14, 10),
     "prepare[0].cmd: expected a non-empty argument list", "Hint: write the command as a list"),
    ("load-model-typo", GOOD.replace("model: open", "model: opne"), (9, 10),
     "load.model: expected one of open, closed, replay", "Hint: did you mean 'open'?"),
    ("load-non-loopback", GOOD.replace("target: {service: api, port: 8080}", "url: http://10.1.2.3:8080"),
     (8, 8), "load.url: load may only target loopback addresses or the environment's own services",
     "allow_external_targets: true"),
    ("load-unknown-service", GOOD.replace("target: {service: api,", "target: {service: web,"), (8, 21),
     "load.target.service: unknown service 'web'", "seen: services in the compose file: api, store"),
    ("empty-file", "", (1, 1), "the scenario file is empty", "Hint: start with 'name:' and 'compose:'"),
]


@pytest.mark.parametrize("text,pos,message,detail", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_scenario(write, text, pos, message, detail):
    path = write(text)
    err = error_of(path)
    rendered = err.render()
    first = rendered.splitlines()[0]
    assert first == f"{path}:{pos[0]}:{pos[1]}: {message}", rendered
    assert detail in rendered, rendered
    assert "Traceback" not in rendered


def test_missing_scenario_file(tmp_path):
    err = error_of(tmp_path / "absent.yaml")
    assert err.render().splitlines()[0] == f"{tmp_path / 'absent.yaml'}: scenario file not found"


def test_cli_validate_reports_error_without_traceback(write, capsys):
    from harness.cli import main

    path = write(GOOD.replace("model: open", "model: opne"))
    code = main(["validate", str(path)])
    out = capsys.readouterr().out
    assert code == 2
    assert f"{path}:9:10: load.model: expected one of open, closed" in out.replace("\n", " ") or \
        "load.model: expected one of open, closed" in out
    assert "Traceback" not in out


def test_schema_is_json_and_covers_sections(capsys):
    import json

    from harness.cli import main

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    for key in ("name", "compose", "services", "load", "phases", "captures", "expect"):
        assert key in schema["properties"]
    assert schema["additionalProperties"] is False
