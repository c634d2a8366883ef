"""`harness flame` on a run directory of real profiles and on a plain pprof file."""
from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main
from rundir.contract import write_manifest
from rundir.pprof import load_profile
from rundir.pprof.flame import walk
from rundir.pprof.flame_formats import folded_text, speedscope
from tests.browser import Browser
from tests.flame.conftest import MODULE

RUN_ID = "flame-20261201T040000Z"
SVG = "{http://www.w3.org/2000/svg}"


def make_run(runs: Path, profiles) -> Path:
    """Two phases (baseline, fault), two services (api; worker with the same profiles)."""
    run_dir, artifacts = runs / RUN_ID, []
    for phase, src in (("baseline", profiles.base), ("fault", profiles.fault)):
        for service in ("api", "worker"):
            for kind in ("cpu", "allocs"):
                rel = f"profiles/{phase}/{service}/{kind}.pb.gz"
                (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src / f"{kind}.pb.gz", run_dir / rel)
                artifacts.append({"kind": kind, "service": service, "phase": phase, "path": rel})
    services = {s: {"container": "x", "source_root": "/nowhere/flame", "module": MODULE} for s in ("api", "worker")}
    write_manifest(run_dir, {
        "schema_version": 1, "run_id": RUN_ID, "scenario": {"name": "flame", "path": "", "resolved": {}},
        "clock": {"wall_t0": 1795000000.0, "wall_t0_iso": "2026-12-01T04:00:00.000Z", "mono_t0": 1.0},
        "phases": [{"name": "baseline", "start_s": 0.0, "end_s": 2.0, "faults": []},
                   {"name": "fault", "start_s": 2.0, "end_s": 4.0, "faults": ["f1"]}],
        "baseline_phase": "baseline", "services": services, "artifacts": artifacts, "events": [],
        "result": {"status": "completed", "reason": None, "exit_code": 0, "end_s": 4.0}})
    return run_dir


@pytest.fixture
def run_dir(tmp_path, profiles) -> Path:
    return make_run(tmp_path / "runs", profiles)


def name(g) -> str:
    """The function an SVG frame (<g><title>function (file:line)...) draws."""
    return g.find(f"{SVG}title").text.split("\n")[0].split(" (")[0]


def flame(*args) -> int:
    return main(["flame", *map(str, args)])


def test_a_run_defaults_to_the_fault_phase_cpu_and_every_service_merged(run_dir, profiles, tmp_path):
    out = tmp_path / "f.json"
    assert flame(run_dir, "--format", "json", "-o", out) == 0
    tree = json.loads(out.read_text())
    one = load_profile(profiles.fault / "cpu.pb.gz")
    assert (tree["sample_type"], tree["total"]) == ("cpu", 2 * one.total(one.index_of("cpu")))
    nodes = dict(walk(tree))
    assert any(p[-1:] == ("main.extra",) for p in nodes), "the fault phase's profile"
    own = {n["n"]: n["o"] for _p, n in walk(tree) if n["n"] in ("main.outer", "runtime.main", "hash/crc64.Update")}
    assert own == {"main.outer": 1, "runtime.main": 0, "hash/crc64.Update": 0}, "own code: the manifest's module"
    assert flame(RUN_ID, "--runs-dir", run_dir.parent, "--service", "api", "--format", "json", "-o", out) == 0
    assert json.loads(out.read_text())["total"] == one.total(one.index_of("cpu"))


def test_the_diff_against_a_phase_and_the_files_each_format_writes(run_dir, profiles, tmp_path):
    out = tmp_path / "out"
    assert flame(run_dir, "--diff-base", "baseline", "--service", "api", "--format", "json", "-o", out) == 0
    tree = json.loads(out.read_text())
    base = load_profile(profiles.base / "cpu.pb.gz")
    assert tree["base_total"] == base.total(base.index_of("cpu"))
    extra = next(n for p, n in walk(tree) if p[-1:] == ("main.extra",))
    assert extra["bv"] == 0 < extra["v"]
    assert flame(run_dir, "--diff-base", "baseline", "--format", "svg", "-o", out) == 0
    svg = ET.parse(out).getroot()
    fills = {name(g): g.find(f"{SVG}rect").get("fill") for g in svg.iter(f"{SVG}g")}
    assert fills["main.extra"].startswith("hsl(0,") and fills["main.outer"].startswith("hsl(215,"), \
        "grown red, shrunk blue"
    assert flame(run_dir, "--phase", "baseline", "--profile", "allocs", "--sample-type", "alloc_space",
                 "--format", "folded", "-o", out) == 0
    allocs = [load_profile(run_dir / f"profiles/baseline/{s}/allocs.pb.gz") for s in ("api", "worker")]
    assert out.read_text() == folded_text(allocs, "alloc_space")
    assert flame(run_dir, "--phase", "baseline", "--service", "worker", "--format", "speedscope", "-o", out) == 0
    strip = lambda f: [(p["samples"], p["weights"]) for p in f["profiles"]]
    assert strip(json.loads(out.read_text())) == strip(speedscope(base, "cpu"))


def test_svg_draws_own_code_apart_and_says_the_numbers_in_tooltips(run_dir, tmp_path):
    out = tmp_path / "f.svg"
    assert flame(run_dir, "--service", "api", "--format", "svg", "-o", out) == 0
    svg = ET.parse(out).getroot()
    frames = {name(g): g for g in svg.iter(f"{SVG}g")}
    assert {"root", "main.outer", "main.leaf", "hash/crc64.update"} <= set(frames)
    warm = lambda g: int(g.find(f"{SVG}rect").get("fill").split("(")[1].split(",")[1].strip(" %")) > 50
    assert warm(frames["main.outer"]) and not warm(frames["runtime.main"]), "own code in colour, the rest grey"
    tip = frames["main.outer"].find(f"{SVG}title").text
    assert "main.go:" in tip and " s (" in tip and "%)" in tip, tip


def test_html_is_the_viewer_on_one_page(run_dir, tmp_path):
    out = tmp_path / "f.html"
    assert flame(run_dir, "--service", "api", "--diff-base", "baseline", "--format", "html", "-o", out) == 0
    text = out.read_text()
    assert "<script" in text and not re.search(r"<(script|link)[^>]*\b(src|href)=", text), "inline, no network"
    with Browser() as b:
        b.goto(out.as_uri())
        shown = b.wait("document.body.innerText.includes('main.extra') && document.body.innerText")
    assert "main.outer" in shown and "against baseline" in shown


def test_a_pprof_file_goes_to_standard_output(profiles, capsys):
    assert flame(profiles.base / "cpu.pb.gz", "--format", "folded", "-o", "-") == 0
    assert capsys.readouterr().out == folded_text(load_profile(profiles.base / "cpu.pb.gz"), "cpu")


@pytest.mark.parametrize("args,said,hint", [
    (["--phase", "nope"], "no phase 'nope'", "baseline, fault"),
    (["--profile", "block"], "no block profile in phase fault", "allocs, cpu"),
    (["--service", "db"], "no cpu profile of service 'db'", "api, worker"),
    (["--sample-type", "alloc_space"], "sample type 'alloc_space' not in profile", "samples, cpu"),
    (["--diff-base", "before"], "neither a phase of the run nor a profile file", "baseline, fault"),
    (["--diff-base", "baseline", "--format", "folded"], "folded holds one profile", "difffolded.pl"),
])
def test_a_wrong_choice_names_what_there_is(run_dir, tmp_path, capsys, args, said, hint):
    argv = [run_dir, "--format", "json", "-o", tmp_path / "x"] + args
    if "--format" in args:
        argv = [run_dir, "-o", tmp_path / "x"] + args
    assert flame(*argv) == 2
    err = capsys.readouterr().err
    assert said in err and hint in err, err
    assert not (tmp_path / "x").exists()


def test_a_target_that_is_neither_run_nor_profile(tmp_path, capsys):
    assert flame(tmp_path / "nothing", "--format", "svg", "-o", tmp_path / "x", "--runs-dir", tmp_path) == 2
    assert "not a run directory, a run id or a profile file" in capsys.readouterr().err
    (tmp_path / "junk.pb.gz").write_bytes(b"\x1f\x8bjunk")
    assert flame(tmp_path / "junk.pb.gz", "--format", "svg", "-o", tmp_path / "x") == 2
    assert "cannot read the profile" in capsys.readouterr().err


def test_the_command_line_offers_every_format_the_exporter_writes():
    from harness.cli import build_parser
    from harness.report.flame_export import FORMATS

    flame_parser = build_parser()._subparsers._group_actions[0].choices["flame"]
    formats = next(a.choices for a in flame_parser._actions if a.dest == "format")
    assert tuple(formats) == FORMATS
