"""End to end: the real server process, driven over stdio, on real profiles."""
from __future__ import annotations

import shutil

from lsprotocol import types

from tests.lsp.lspfixtures import RUN_ID, marker_line
from tests.lsp.lsphelpers import command, hints, line_of, open_doc, ready, share_of


async def test_inlay_hints_top_line_is_the_cpu_hot_line(client, workspace):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    got = await hints(client, uri)
    assert got, "no inlay hints"
    top = max(got, key=lambda h: share_of(h.label))
    assert top.position.line + 1 == marker_line("cpu")
    text = (workspace / "goprog" / "main.go").read_text().splitlines()
    for h in got:   # at the end of the line: never shifts code
        assert h.position.character == len(text[h.position.line])
        assert h.padding_left


async def test_code_lens_on_hot_functions(client, workspace):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    await ready(client)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    src = (workspace / "goprog" / "main.go").read_text().splitlines()
    titles = {src[lens.range.start.line].strip(): lens.command.title for lens in lenses}
    burn = next(t for line, t in titles.items() if line.startswith("func burn("))
    assert "samples" in burn and "cpu" in burn and "%" in burn
    assert not any(line.startswith("func smallAllocs(") for line in titles)   # no CPU cost there


async def test_hover_shows_types_callers_callees_and_phases(client, workspace):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    await ready(client)

    async def hover(line1: int) -> str:
        res = await client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line1 - 1, 3)))
        return res.contents.value if res else ""

    hot = await hover(marker_line("cpu"))
    assert "| cpu |" in hot and "| samples |" in hot
    assert "top callers of main.step" in hot and "main.burn" in hot
    assert "per phase" in hot and "- baseline:" in hot and "- fault:" in hot
    src = (workspace / "goprog" / "main.go").read_text().splitlines()
    call = next(i for i, t in enumerate(src, 1) if t.strip() == "h = step(h, i)")
    assert "main.step" in (await hover(call)).split("top callees from this line:")[1]
    assert await hover(2) == ""     # a comment line has no cost


async def test_diagnostics_rank_the_top_lines(client, workspace):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    await ready(client)
    diags = client.diagnostics[uri]
    assert 0 < len(diags) <= 10
    assert all(d.severity in (types.DiagnosticSeverity.Hint, types.DiagnosticSeverity.Information)
               for d in diags)
    top = diags[0]
    assert top.range.start.line + 1 == marker_line("cpu") and "hot line" in top.message


async def test_heat_notification(client, workspace):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    await ready(client)
    heat = [h for h in client.heat if h.uri == uri][-1]
    assert heat.sampleType == "cpu" and heat.unit == "nanoseconds"
    lines = {ln.line + 1: ln for ln in heat.lines}
    assert lines[marker_line("cpu")].heat == 1.0
    assert all(0 < ln.heat <= 1 and not ln.stale for ln in heat.lines)


async def test_toggle_clears_and_restores(client, workspace):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    assert await hints(client, uri)
    status = await command(client, "harness.toggle", {"enabled": False})
    assert status["enabled"] is False
    assert await hints(client, uri) == []
    assert [h for h in client.heat if h.uri == uri][-1].lines == []
    assert not client.diagnostics[uri]
    assert "inlayHint" in client.refreshes
    status = await command(client, "harness.toggle")
    assert status["enabled"] is True and await hints(client, uri)


async def test_list_and_select_commands(client, workspace):
    runs = await command(client, "harness.listRuns")
    assert [r["id"] for r in runs] == ["hot-20261122T110000Z"]
    assert runs[0]["phases"] == ["baseline", "fault"] and runs[0]["status"] == "completed"
    profiles = await command(client, "harness.listProfiles")
    assert {(p["kind"], p["phase"]) for p in profiles} >= {("cpu", "fault"), ("block", "baseline")}
    status = await command(client, "harness.status")
    assert status["phase"] == "fault" and status["profile"] == "cpu" and status["sampleType"] == "cpu"

    uri = open_doc(client, workspace / "goprog" / "main.go")
    for profile, sample_type, marker in (("allocs", "alloc_space", "alloc"), ("block", "delay", "block")):
        status = await command(client, "harness.selectProfile", {"profile": profile, "sampleType": sample_type})
        assert status["sampleType"] == sample_type
        got = await hints(client, uri)
        assert line_of(max(got, key=lambda h: share_of(h.label))) == marker_line(marker)

    status = await command(client, "harness.selectProfile", {"profile": "cpu"})
    status = await command(client, "harness.selectPhase", {"phase": "baseline"})
    assert status["phase"] == "baseline"
    extra = marker_line("extra")
    assert extra not in {line_of(h) for h in await hints(client, uri)}   # extra() runs only in the fault
    status = await command(client, "harness.selectRun", {"run": "hot-20261122T110000Z"})
    assert status["run"] == "hot-20261122T110000Z" and status["phase"] == "fault"
    top = (await command(client, "harness.hotLines", {"limit": 3}))[0]
    assert top["uri"] == uri and top["line"] + 1 == marker_line("cpu") and top["function"] == "main.step"
    assert (await command(client, "harness.reload"))["run"] == "hot-20261122T110000Z"
    # every file of the fixture's profiles maps: its own module through go.mod, the standard
    # library through the Go toolchain (unit tests of the mapper cover files that do not)
    assert await command(client, "harness.unmappedFiles") == []
    assert client.status_log and client.status_log[-1].run == "hot-20261122T110000Z"


async def test_bad_command_arguments_are_reported(client):
    await ready(client)
    assert "no phase" in (await command(client, "harness.selectPhase", {"phase": "nope"}))["error"]
    assert "no run" in (await command(client, "harness.selectRun", {"run": "nope"}))["error"]
    assert "expected" in (await command(client, "harness.compare", {"what": 1}))["error"]
    assert (await command(client, "harness.status"))["phase"] == "fault"   # state unchanged
    assert any("no phase 'nope'" in m.message for m in client.messages)


async def test_compare_with_baseline_phase_shows_growth(client, workspace):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    await ready(client)
    status = await command(client, "harness.compare", {"baseline": "baseline"})
    assert status["compare"] == {"baseline": "baseline"}
    got = {line_of(h): h.label.split() for h in await hints(client, uri)}
    value, share = got[marker_line("extra")]
    assert value.startswith("+") and share.startswith("+")   # extra() only runs in the fault phase
    assert got[marker_line("cpu")][1].startswith("-")        # so the hot line's share shrinks
    status = await command(client, "harness.compare", {"off": True})
    assert status["compare"] is None
    assert not any(h.label.startswith("+") for h in await hints(client, uri))


async def test_compare_with_production_profiles(client, workspace):
    """A run's production/incident/<kind> profile (the scenario's production.profiles) as the compared
    side, and a pprof file by path: here production is the baseline phase's own profile, so the
    fault phase's extra() line grows against it as against the baseline."""
    run = workspace / "runs" / RUN_ID
    uri = open_doc(client, workspace / "goprog" / "main.go")
    await ready(client)
    status = await command(client, "harness.compare", {"production": True})
    assert any("no production 'cpu' profile" in m.message for m in client.messages), status
    (run / "production" / "incident").mkdir(parents=True)
    shutil.copy(run / "profiles" / "baseline" / "api" / "cpu.pb.gz", run / "production" / "incident" / "cpu.pb.gz")
    status = await command(client, "harness.compare", {"production": True})
    assert status["compare"] == {"production": True}
    got = {line_of(h): h.label.split() for h in await hints(client, uri)}
    assert got[marker_line("extra")][0].startswith("+") and got[marker_line("cpu")][1].startswith("-")
    status = await command(client, "harness.compare", {"profile": str(run / "profiles" / "baseline" / "api" / "cpu.pb.gz")})
    assert status["compare"]["profile"].endswith("cpu.pb.gz")
    assert {line_of(h): h.label.split() for h in await hints(client, uri)}[marker_line("extra")][0].startswith("+")
