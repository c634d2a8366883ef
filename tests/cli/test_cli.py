"""CLI behaviour that needs no Docker: settings resolution, runs listing, errors."""
from __future__ import annotations

import json
from pathlib import Path

from harness.cli import main, resolve_runs_dir
from harness.env.reserve import project_name, run_id
from harness.scenario import load_scenario
from tests.scenario.test_scenario_errors import COMPOSE, GOOD


def _scenario(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "compose.yml").write_text(COMPOSE)
    p = tmp_path / "s.yaml"
    p.write_text(GOOD + extra)
    return p


def test_runs_dir_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_RUNS_DIR", raising=False)
    sc = load_scenario(_scenario(tmp_path))
    path, source = resolve_runs_dir(None, sc)
    assert path == tmp_path / "runs" and source.startswith("default")
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "env"))
    path, source = resolve_runs_dir(None, sc)
    assert path == tmp_path / "env" and source.startswith("environment")
    sc2 = load_scenario(_scenario(tmp_path, "runs_dir: fromscenario\n"))
    path, source = resolve_runs_dir(None, sc2)
    assert path == tmp_path / "fromscenario" and source.startswith("scenario")
    path, source = resolve_runs_dir(str(tmp_path / "cli"), sc2)
    assert path == tmp_path / "cli" and source.startswith("command line")


def test_run_ids_and_project_names():
    rid = run_id("demo", 1795000000.0, "a1b2c3")
    assert rid == "demo-20261118T110640Z-a1b2c3"
    assert project_name(rid) == "hdemo20261118t110640za1b2c3"
    long = run_id("x" * 100, 1795000000.0, "a1b2c3")
    assert project_name(long).startswith("hxxx") and len(project_name(long)) == 60
    assert project_name(long).endswith("20261118t110640za1b2c3")    # the stamp and suffix are whole


def test_runs_lists_runs_and_broken_manifests(tmp_path, capsys):
    good = tmp_path / "a-1"
    good.mkdir()
    (good / "manifest.json").write_text(json.dumps({
        "run_id": "a-1", "scenario": {"name": "a"}, "clock": {"wall_t0_iso": "2026-01-01T00:00:00Z"},
        "result": {"status": "completed"}, "phases": [{"name": "baseline"}, {"name": "fault"}]}))
    bad = tmp_path / "b-2"
    bad.mkdir()
    (bad / "manifest.json").write_text("{not json")
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["run_id"] == "a-1" and rows[0]["phases"] == ["baseline", "fault"]
    assert rows[1]["status"].startswith("broken manifest")


def test_report_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    code = main(["report", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "not a run directory (no manifest.json)" in err and "Traceback" not in err


def test_run_with_a_bad_scenario_exits_2_with_position(tmp_path, capsys):
    p = _scenario(tmp_path)
    p.write_text(p.read_text().replace("rate: 10", "rate: lots"))
    code = main(["run", str(p), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{p}:10:9: load.rate" in err.replace("\n", " ")


def test_an_error_on_line_100_says_line_100(tmp_path, capsys):
    """rich reads ":100:" as an emoji code: the position of an error on line 100 came out as
    "x.yaml💯9" (found by the scenario fuzz test once a bundled scenario grew past 100 lines)."""
    p = _scenario(tmp_path)
    text = p.read_text()
    p.write_text("#\n" * (100 - text[:text.index("rate: 10")].count("\n") - 1) + text.replace("rate: 10", "rate: lots"))
    for argv in (["validate", str(p)], ["run", str(p), "--quiet"]):
        code = main(argv)
        out = capsys.readouterr()
        assert code == 2 and f"{p}:100:" in (out.out + out.err).replace("\n", " "), out
        assert "\U0001f4af" not in out.out + out.err


def test_a_lone_surrogate_in_a_scenario_is_shown_escaped(tmp_path, capsys):
    """YAML's "\\ud800" decodes to a lone surrogate, which UTF-8 cannot encode: the error shows it
    escaped (found by the scenario fuzz test on a fault kind) instead of failing to print."""
    p = _scenario(tmp_path, 'phases:\n  - name: a\n    duration: 5s\n    faults:\n      - {kind: "\\ud800", target: api}\n')
    code = main(["validate", str(p)])
    out = capsys.readouterr()
    assert code == 2, out
    assert "unknown fault kind '\\ud800'" in out.out and "internal error" not in out.err + out.out, out


def test_help_speaks_to_users(capsys):
    """`harness --help` opens with what the tool does and where to start, then every command."""
    import pytest
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert "Reproduce a Go service's production incident" in out and "harness run scenarios/demo.yaml" in out
    assert "add_<name>" not in out and "cmd_<name>" not in out
    assert all(f"    {name} " in out for name in ("run", "validate", "doctor", "report", "compare", "flame"))
