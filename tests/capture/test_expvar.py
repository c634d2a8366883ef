"""The expvar capture kind (harness/capture/kinds/expvar.py) against a real Go service that
publishes its own counters with the standard expvar package: the scenario section parsed with
file:line errors, every sample a line on the run clock with its phase, counters that grow with
the requests sent, nested maps flattened, memstats left out."""
from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from harness.capture.kinds.expvar import flatten
from harness.capture.manager import CaptureManager
from harness.capture.sections import captures_schema, parse_captures
from harness.errors import ScenarioError
from harness.parse.context import ParseContext
from harness.parse.node import load_yaml
from harness.runctx import Clock, PhaseWindow, RunContext
from tests.images import build_go_image

from .conftest import LABELS, start_service

CTX = ParseContext(file="s.yaml", scenario_dir=Path("."), services=("api",), phase_names=("main",),
                   allow_external_targets=False)
MAIN_GO = """package main

import (
	"expvar"
	"net/http"
	_ "net/http/pprof"
)

var served = expvar.NewInt("served")
var byPath = expvar.NewMap("by_path")

func main() {
	expvar.NewString("build").Set("test")
	go http.ListenAndServe(":6060", nil)
	app := http.NewServeMux()
	app.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		byPath.Add(r.URL.Path, 1)
		w.Write([]byte("ok"))
	})
	http.ListenAndServe(":8080", app)
}
"""


def parse(text: str):
    return parse_captures(load_yaml(text, "s.yaml").get("captures"), CTX)


def test_the_section():
    assert parse("captures:\n  expvar: true\n").own["expvar"] == {"interval": 1.0, "path": "/debug/vars"}
    assert parse("captures:\n  expvar: {interval: 250ms}\n").own["expvar"]["interval"] == 0.25
    assert "expvar" not in parse("captures:\n  pprof: [cpu]\n").own
    assert not parse("captures:\n  expvar: false\n").own["expvar"]
    with pytest.raises(ScenarioError) as e:
        parse("captures:\n  expvar: {interval: 10ms}\n")
    assert "s.yaml:2" in e.value.render()
    with pytest.raises(ScenarioError, match="path"):
        parse("captures:\n  expvar: {path: debug/vars}\n")
    assert "expvar" in captures_schema()["properties"]


def test_flatten_keeps_numbers_only():
    page = {"cmdline": ["/app"], "memstats": {"Alloc": 1}, "served": 3, "up": True, "build": "x",
            "by_path": {"/work": 2, "/other": {"deep": 1}}, "ratio": 0.5}
    assert flatten(page) == {"served": 3, "by_path./work": 2, "ratio": 0.5}


@pytest.mark.docker
def test_counters_over_a_real_service(docker_client, tmp_path_factory, tmp_path):
    src = tmp_path_factory.mktemp("expvarapp")
    (src / "go.mod").write_text("module example.com/expvarapp\n\ngo 1.21\n")
    (src / "main.go").write_text(MAIN_GO)
    tag = build_go_image(docker_client, src, "harness-test-expvar", LABELS)
    svc = start_service(docker_client, tag)
    try:
        rc = RunContext.of("expvar", tmp_path, Clock.start(), {"api": svc})
        spec = parse("captures:\n  pprof: []\n  runtime: false\n  stats_interval: 0\n  expvar: {interval: 100ms}\n")
        manager = CaptureManager(spec, rc)
        assert [type(c).__name__ for c in manager.captures] == ["Containers", "Expvar"]
        manager.start()
        phase = PhaseWindow("main", rc.clock.now(), rc.clock.now() + 60)
        manager.phase_start(phase)
        for _ in range(30):
            urllib.request.urlopen(f"http://127.0.0.1:{svc.published[8080]}/work", timeout=5).read()
        out = tmp_path / "expvar" / "api.jsonl"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                json.loads(ln)["vars"].get("served") == 30 for ln in (out.read_text().splitlines()
                                                                      if out.exists() else [])):
            time.sleep(0.1)
        manager.phase_end(phase)
        manager.stop()
    finally:
        docker_client.containers.get(svc.container_id).remove(force=True)
        docker_client.images.remove(tag, force=True)      # built from a temporary folder: never reused
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    served = [r["vars"]["served"] for r in rows if r["phase"] == "main"]
    assert served and served[-1] == 30 and served == sorted(served), served
    assert rows[-1]["vars"]["by_path./work"] == 30 and "memstats.Alloc" not in rows[-1]["vars"]
    assert all(b["t_s"] > a["t_s"] for a, b in zip(rows, rows[1:]))
    (art,) = [a for a in rc.artifacts.all() if a["kind"] == "expvar"]
    assert art["service"] == "api" and art["samples"] == len(rows)
