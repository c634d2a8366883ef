"""The hover's "Function latency" part (uprobes, docs/lsp.md "What it shows"), from the real server
process (pytest-lsp) on a synthetic run: no Go build, no Docker. The function latency files name
the container's paths (/src/app/main.go); the run's pathMappings rule maps them, as for profiles."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lsp.lsphelpers import hover, open_doc, ready, settings
from tests.report.functions_synth import add_functions, entry
from tests.report.synth import cpu_profile

SOURCE = """package main

import "time"

func handler() {
	time.Sleep(5 * time.Millisecond)
}

func store() {
}

func main() {
	handler()
	store()
}
"""
HANDLER, SLEEP, STORE = 5, 6, 9       # 1-based lines of SOURCE
CONTAINER = "/src/app"
WAITING = ("waiting: api waited on the network at main.go:6 in main.handler: 12 ms → 1.2 s of waiting "
           "per second (runtime trace)")
MAPPINGS = [{"from": CONTAINER, "to": "${workspaceFolder}/app"}]


def write_run(run: Path) -> None:
    """Two phases with CPU profiles (costs on handler's first and second line) and function latency:
    main.handler in both phases, main.store in the baseline only."""
    main = f"{CONTAINER}/main.go"
    artifacts = []
    for phase in ("baseline", "fault"):
        rel = f"profiles/{phase}/api/cpu.pb.gz"
        (run / rel).parent.mkdir(parents=True)
        (run / rel).write_bytes(cpu_profile({(main, HANDLER, "main.handler"): 100_000_000,
                                             (main, SLEEP, "main.handler"): 300_000_000}))
        artifacts.append({"kind": "cpu", "service": "api", "phase": phase, "path": rel, "start_s": 0.0, "end_s": 5.0})
    manifest = {"schema_version": 1, "run_id": "fl-1", "scenario": {"name": "fl"},
                "clock": {"wall_t0": 1795000000.0, "wall_t0_iso": "2026-11-22T11:00:00.000Z", "mono_t0": 1.0},
                "phases": [{"name": "baseline", "start_s": 0.0, "end_s": 5.0, "faults": []},
                           {"name": "fault", "start_s": 5.0, "end_s": 10.0, "faults": ["f1"]}],
                "baseline_phase": "baseline",
                "services": {"api": {"source_root": CONTAINER, "module": "example.com/app", "limits": {}}},
                "artifacts": artifacts, "faults": [], "events": [],
                "result": {"status": "completed", "exit_code": 0, "end_s": 10.0}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    add_functions(run, "baseline", [entry("main.handler", [5.0] * 1000, 5.0, main, HANDLER),
                                    entry("main.store", [0.2] * 500, 5.0, main, STORE)])
    add_functions(run, "fault", [entry("main.handler", [30.0] * 900 + [61.2] * 100, 5.0, main, HANDLER)])
    line = {"profile": "trace", "file": "main.go", "path": main, "line": SLEEP, "function": "main.handler",
            "wait": "network", "waiting_before": 0.012, "waiting_after": 1.2}
    (run / "summary.json").write_text(json.dumps({"verdict": {"version": 1, "phases": [{
        "phase": "fault", "baseline": "baseline", "headline": "api waiting at main.go:6",
        "findings": [{"kind": "waiting", "message": WAITING, "evidence": {"service": "api", "line": line}},
                     {"kind": "symptom", "message": "the symptom: p99 12 ms → 112 ms", "evidence": {}}]}]}}))


@pytest.fixture
def workspace(tmp_path) -> Path:
    ws = tmp_path / "ws"
    (ws / "app").mkdir(parents=True)
    (ws / "app" / "main.go").write_text(SOURCE)
    run = ws / "runs" / "fl-1"
    run.mkdir(parents=True)
    write_run(run)
    return ws


@pytest.fixture
def init_options() -> dict:
    return {"pollInterval": 0.2, "threshold": 0.01, "pathMappings": MAPPINGS}


async def text_at(client, uri: str, line: int) -> str:
    found = await hover(client, uri, line)
    return found.contents.value if found is not None else ""


async def test_hover_on_a_probed_function_shows_its_latency(client, workspace):
    uri = open_doc(client, workspace / "app" / "main.go")
    await ready(client)
    text = await text_at(client, uri, HANDLER)        # the fault phase (the default), the baseline beside it
    profile, latency = text.split("\n\n---\n\n")
    assert "**main.handler**" in profile and "| sample type |" in profile
    assert latency.startswith("**Function latency** · main.handler (api)")
    assert "| fault | 30ms | 61.2ms | 200/s |" in latency and "| baseline | 5ms | 5ms | 200/s |" in latency
    assert "ns" not in latency.replace("uprobes", "")
    sleep = await text_at(client, uri, SLEEP)          # a costly line that is no function's first line
    assert "**main.handler**" in sleep and "Function latency" not in sleep
    store = await text_at(client, uri, STORE)          # probed in the baseline only, no profile cost
    assert store.startswith("**Function latency** · main.store (api)") and "\n\n---\n\n" not in store
    assert "| fault | not measured | | |" in store and "| baseline | 200µs | 200µs | 100/s |" in store
    assert await text_at(client, uri, 3) == ""        # neither


async def test_hover_follows_the_selected_phase(client, workspace):
    uri = open_doc(client, workspace / "app" / "main.go")
    await ready(client)
    await settings(client, phase="baseline", threshold=0.01, pathMappings=MAPPINGS)
    await ready(client)
    latency = (await text_at(client, uri, HANDLER)).split("\n\n---\n\n")[-1]
    assert "| baseline | 5ms | 5ms | 200/s |" in latency and "fault" not in latency


async def test_hover_on_a_line_the_verdict_names_shows_the_finding(client, workspace):
    """The run's verdict (summary.json) names SLEEP as the line that waits in the fault phase: its
    hover opens with the finding, as the report words it; the baseline has no verdict."""
    uri = open_doc(client, workspace / "app" / "main.go")
    await ready(client)
    text = await text_at(client, uri, SLEEP)
    finding, profile = text.split("\n\n---\n\n")
    assert finding == f"**What happened** · fault vs baseline *(the cause)*\n\n{WAITING}"
    assert "**main.handler**" in profile
    assert "What happened" not in await text_at(client, uri, HANDLER)
    await settings(client, phase="baseline", threshold=0.01, pathMappings=MAPPINGS)
    await ready(client)
    assert "What happened" not in await text_at(client, uri, SLEEP)

