"""End to end: path mapping, staleness, live pick-up of runs and bad input."""
from __future__ import annotations

import json
import shutil

from tests.lsp.lspfixtures import make_run, marker_line, rewrite_filenames
from tests.lsp.lsphelpers import change, command, hints, line_of, open_doc, ready, settings, share_of, until


async def test_trimpath_module_paths_map_through_go_mod(client, workspace):
    # The fixture binary is built with -trimpath: the profile names example.com/hot/main.go.
    uri = open_doc(client, workspace / "goprog" / "main.go")
    top = (await ready(client))[0]
    assert top["uri"] == uri and top["line"] + 1 == marker_line("cpu")
    assert "example.com/hot/main.go" not in await command(client, "harness.unmappedFiles")


async def test_container_paths_need_a_rule_and_are_listed_until_then(client, workspace, built):
    prof = workspace / "container-cpu.pb.gz"
    rewrite_filenames(built.fault / "cpu.pb.gz", prof, "example.com/hot/", "/src/")
    uri = open_doc(client, workspace / "goprog" / "main.go")
    status = await command(client, "harness.openProfile", {"path": str(prof)})
    assert status["profile"] == str(prof)
    # /src/main.go is ambiguous here (goprog/main.go and other/main.go): listed, not guessed.
    assert "/src/main.go" in await command(client, "harness.unmappedFiles")
    assert await hints(client, uri) == []
    assert any("/src/main.go" in m.message for m in client.log_messages)
    await settings(client, profile=str(prof), pathMappings=[{"from": "/src", "to": "${workspaceFolder}/goprog"}])
    got = await hints(client, uri)
    assert line_of(max(got, key=lambda h: share_of(h.label))) == marker_line("cpu")
    assert "/src/main.go" not in await command(client, "harness.unmappedFiles")


async def test_hints_follow_edits_and_changed_lines_are_stale(client, workspace):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    hot = marker_line("cpu")
    before = {line_of(h): h.label for h in await hints(client, uri)}
    assert hot in before
    change(client, uri, 2, 0, 0, "// one\n// two\n// three\n")          # three lines inserted on top
    after = {line_of(h): h.label for h in await hints(client, uri)}
    assert after == {line + 3: label for line, label in before.items()}
    src = (workspace / "goprog" / "main.go").read_text().splitlines()
    change(client, uri, 3, hot + 2, hot + 3, src[hot - 1].replace(" //", " + 0 //", 1) + "\n")   # the hot line edited
    edited = {line_of(h): h.label for h in await hints(client, uri)}
    assert edited[hot + 3].endswith("(stale)")
    assert not any(label.endswith("(stale)") for line, label in edited.items() if line != hot + 3)
    heat = [h for h in client.heat if h.uri == uri][-1]
    assert {ln.line + 1 for ln in heat.lines if ln.stale} == {hot + 3}
    await settings(client, staleMode="hide")
    hidden = {line_of(h) for h in await hints(client, uri)}
    assert hot + 3 not in hidden and hidden == set(edited) - {hot + 3}


async def test_a_block_that_changed_size_loses_its_hints(client, workspace):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    hot = marker_line("cpu")
    assert hot in {line_of(h) for h in await hints(client, uri)}
    change(client, uri, 2, hot - 1, hot, "\tx := h\n\treturn x/uint64(i|1) + 1\n")   # 1 line -> 2 lines
    after = await hints(client, uri)
    assert not any(line_of(h) in (hot, hot + 1) for h in after)


async def test_file_changed_since_the_run_is_marked_stale(client, workspace):
    # The manifest records the source hash at run time; change the file on disk, then reload.
    path = workspace / "goprog" / "main.go"
    path.write_text(path.read_text().replace("// Command hot", "// Command hot (edited)"))
    await command(client, "harness.reload")
    uri = open_doc(client, path)
    got = await hints(client, uri)
    assert got and all(h.label.endswith("(stale)") for h in got)


async def test_new_run_is_picked_up_and_compare_with_run(client, workspace, built):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    await ready(client)
    new_id = "hot-20261122T120000Z"
    make_run(workspace / "runs", built, workspace / "goprog", run_id=new_id, wall_t0=1795003600.0)
    await until(lambda: client.status_log and client.status_log[-1].run == new_id, "the new run")
    runs = await command(client, "harness.listRuns")
    assert [r["id"] for r in runs] == [new_id, "hot-20261122T110000Z"]
    assert await hints(client, uri)
    status = await command(client, "harness.compare", {"run": "hot-20261122T110000Z"})
    assert status["compare"] == {"run": "hot-20261122T110000Z"}
    # the same profiles in both runs: every change is zero, so nothing is above the threshold
    assert await hints(client, uri) == []


async def test_truncated_profile_in_a_run_is_reported_once(client, workspace):
    await ready(client)
    cpu = workspace / "runs" / "hot-20261122T110000Z" / "profiles" / "fault" / "api" / "cpu.pb.gz"
    cpu.write_bytes(cpu.read_bytes()[:100])
    for _ in range(2):
        status = await command(client, "harness.reload")
    assert "truncated or corrupt gzip" in status["message"]
    told = [m for m in client.messages if "truncated" in m.message]
    assert len(told) == 1
    await command(client, "harness.selectPhase", {"phase": "baseline"})
    assert (await ready(client))[0]["line"] + 1 == marker_line("cpu")   # still serving


async def test_missing_profile_is_reported(client, workspace):
    await ready(client)
    (workspace / "runs" / "hot-20261122T110000Z" / "profiles" / "fault" / "api" / "block.pb.gz").unlink()
    status = await command(client, "harness.selectProfile", {"profile": "block"})
    assert "missing profile" in status["message"]
    assert any("missing profile" in m.message for m in client.messages)


async def test_corrupt_and_non_pprof_files(client, workspace, built):
    await ready(client)
    text = workspace / "notes.pprof"
    text.write_text("this is not a profile\n")
    corrupt = workspace / "corrupt.pb.gz"
    data = bytearray((built.fault / "cpu.pb.gz").read_bytes())
    import gzip
    raw = bytearray(gzip.decompress(bytes(data)))
    raw[0:6] = b"\xff" * 6
    corrupt.write_bytes(gzip.compress(bytes(raw)))
    for path in (text, corrupt):
        status = await command(client, "harness.openProfile", {"path": str(path)})
        assert "not a pprof profile" in status["message"]
    assert sum("not a pprof profile" in m.message for m in client.messages) == 2
    assert (await command(client, "harness.selectProfile", {"profile": "cpu"}))["run"] is not None


async def test_broken_manifest_is_reported_and_skipped(client, workspace):
    await ready(client)
    broken = workspace / "runs" / "hot-20261122T130000Z"
    shutil.copytree(workspace / "runs" / "hot-20261122T110000Z", broken)
    (broken / "manifest.json").write_text('{"schema_version": 1, "run_id": ')
    await command(client, "harness.reload")
    runs = await command(client, "harness.listRuns")
    assert {r["id"]: r["status"] for r in runs}["hot-20261122T130000Z"] == "broken"
    assert (await command(client, "harness.status"))["run"] == "hot-20261122T110000Z"
    assert any("broken JSON" in m.message for m in client.messages)
    await command(client, "harness.reload")
    assert sum("broken JSON" in m.message for m in client.messages) == 1
    good = json.loads((workspace / "runs" / "hot-20261122T110000Z" / "manifest.json").read_text())
    assert good["run_id"] == "hot-20261122T110000Z"


async def test_invalid_settings_are_reported_and_defaulted(client, workspace):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    await ready(client)
    status = await settings(client, threshold="high", mode="everything", diagnosticsTopN=2)
    assert status["sampleType"] == "cpu"
    told = " ".join(m.message for m in client.messages)
    assert "harness.threshold" in told and "harness.mode" in told and "own, flat, cum" in told
    assert await hints(client, uri)
    assert len(client.diagnostics[uri]) == 2


async def test_perf_and_trace_derived_profiles_load_like_any_other(client, workspace, built):
    await ready(client)
    run_dir = workspace / "runs" / "hot-20261122T110000Z"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for kind, rel, src in (("perf", "perf/fault/api/perf.pb.gz", "cpu"),
                           ("trace-sync", "trace/fault/api/sync.pb.gz", "block")):
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(built.fault / f"{src}.pb.gz", run_dir / rel)
        manifest["artifacts"].append({"kind": kind, "service": "api", "phase": "fault", "path": rel})
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    await command(client, "harness.reload")
    kinds = {p["kind"] for p in await command(client, "harness.listProfiles")}
    assert {"perf", "trace-sync"} <= kinds
    uri = open_doc(client, workspace / "goprog" / "main.go")
    for kind, marker in (("perf", "cpu"), ("trace-sync", "block")):
        status = await command(client, "harness.selectProfile", {"profile": kind})
        assert status["profile"] == kind
        got = await hints(client, uri)
        assert line_of(max(got, key=lambda h: share_of(h.label))) == marker_line(marker)
