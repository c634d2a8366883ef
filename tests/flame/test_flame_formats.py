"""The export formats open in the tools they claim: folded stacks in flamegraph.pl's grammar (and
back), speedscope JSON against speedscope's own schema and in the real speedscope app."""
from __future__ import annotations

import fcntl
import functools
import http.server
import json
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import jsonschema
import pytest

from rundir.pprof import load_profile
from rundir.pprof.flame import build_flame
from rundir.pprof.flame_formats import folded_from_tree, folded_text, parse_folded, speedscope
from tests.browser import Browser
from tests.flame.test_flame_tree import cases

# flamegraph.pl and difffolded.pl read a line as /^(.*)\s+(\d+(?:\.\d*)?)$/ and split the stack on ';'
FLAMEGRAPH_PL_LINE = re.compile(r"^(.*)\s+(\d+(?:\.\d*)?)$")
SPEEDSCOPE = "speedscope@1.25"
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "flame"


def test_folded_stacks_follow_the_grammar_and_survive_a_round_trip(profiles):
    lines = 0
    for path, prof, i in cases(profiles):
        text = folded_text(prof, i)
        total = 0
        for line in text.splitlines():
            m = FLAMEGRAPH_PL_LINE.match(line)
            assert m, f"{path} [{i}]: flamegraph.pl would ignore {line!r}"
            assert all(f.strip() for f in m.group(1).split(";")), f"an empty frame in {line!r}"
            total += int(m.group(2))
            lines += 1
        assert total == prof.total(i)
        assert text.splitlines() == sorted(text.splitlines()) and text.endswith("\n")
        exact = {"min_fraction": 0, "max_nodes": None}
        assert folded_from_tree(build_flame(parse_folded(text), **exact)) == text, "folded -> tree -> folded"
        assert folded_from_tree(build_flame(prof, i, **exact)) == text, "the tree and the folded stacks agree"
    assert lines > 50


def test_a_folded_line_that_is_not_a_stack_is_refused_with_its_line_number():
    with pytest.raises(ValueError, match=r"<folded>:2: not a folded stack"):
        parse_folded("a;b 3\na;;b 4\n")
    prof = parse_folded("a;b 3\n\na;b 4\nc 1\n")
    assert folded_text(prof) == "a;b 7\nc 1\n"


@pytest.fixture(scope="session")
def speedscope_app() -> Path:
    """speedscope's built app (dist/release of the npm package), installed once per machine."""
    npm = shutil.which("npm")
    assert npm, "npm is needed to install the speedscope app (scripts/test.sh installs node for the extension)"
    root = Path(tempfile.gettempdir()) / "harness-tests-speedscope-1.25"
    root.mkdir(exist_ok=True)
    release = root / "node_modules" / "speedscope" / "dist" / "release"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (release / "index.html").is_file():
            subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(root), SPEEDSCOPE],
                           check=True, capture_output=True, timeout=600)
    return release


def test_speedscope_json_matches_speedscopes_own_schema(profiles, speedscope_app):
    schema = json.loads((speedscope_app / "file-format-schema.json").read_text())
    for kind, active in (("cpu", "cpu"), ("allocs", "alloc_space")):
        prof = load_profile(profiles.base / f"{kind}.pb.gz")
        data = json.loads(json.dumps(speedscope(prof, active, name=kind)))
        jsonschema.validate(data, schema)
        assert [p["name"] for p in data["profiles"]] == [f"{kind} {t}" for t, _u in prof.sample_types]
        assert data["profiles"][data["activeProfileIndex"]]["name"] == f"{kind} {active}"
        chosen = data["profiles"][data["activeProfileIndex"]]
        assert sum(chosen["weights"]) == prof.total(prof.index_of(active)) == chosen["endValue"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_the_speedscope_app_opens_the_file_and_shows_the_hot_function(profiles, speedscope_app, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(speedscope_app, site)
    prof = load_profile(profiles.base / "cpu.pb.gz")
    (site / "flame.speedscope.json").write_text(json.dumps(speedscope(prof, "cpu", name="flame-cpu")))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with Browser() as b:
            b.goto(f"{base}/index.html#profileURL={base}/flame.speedscope.json&view=sandwich")
            assert b.wait("document.title.includes('flame-cpu') && document.title") == "flame-cpu - speedscope"
            # the sandwich view lists functions with their self and total time in a table (DOM text)
            text = b.wait("document.body.innerText.includes('main.outer') && document.body.innerText")
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            b.screenshot(ARTEFACTS / "speedscope-sandwich.png")
    finally:
        server.shutdown()
        thread.join(timeout=10)
    # rows: total, self, name; sorted by self: the hot function (crc64's loop, ~99% self) first
    rows = re.findall(r"^(\S+) \(([^)]*)\)\n\t(\S+) \(([^)]*)\)\n\t(.+)$", text, re.MULTILINE)
    assert rows and rows[0][4] == "hash/crc64.update", rows[:3]
    assert {"main.outer", "main.middle", "main.leaf", "main.recurse"} <= {r[4] for r in rows}
