"""harness.flameGraph on the real server (stdio) and real profiles: the tree of the current
selection, its frames' files mapped into the workspace, the diff when comparing."""
from __future__ import annotations

from rundir.pprof.flame import walk
from tests.lsp.lspfixtures import marker_line
from tests.lsp.lsphelpers import command, ready


def frames(tree: dict, name: str) -> list[dict]:
    return [node for _path, node in walk(tree) if node["n"] == name]


async def test_the_tree_of_the_selection_with_files_mapped_to_the_workspace(client, workspace):
    await ready(client)
    got = await command(client, "harness.flameGraph")
    (graph,) = got["graphs"]
    tree = graph["tree"]
    assert graph["dims"] == {"service": "api", "profile": "cpu", "phase": "fault", "compare": "this phase",
                             "sample": "cpu"}
    assert tree["sample_type"] == got["sampleType"] == "cpu" and tree["base_total"] is None
    assert tree["root"]["v"] == tree["total"] > 0
    hot = max(frames(tree, "main.step"), key=lambda n: n["v"])
    # the frame of the hot function sits on the hot line, in the workspace's copy of the source
    assert (hot["p"], hot["l"], hot["o"]) == (str((workspace / "goprog" / "main.go").resolve()), marker_line("cpu"), 1)
    assert hot["v"] >= 0.5 * tree["total"], hot
    runtime = [n for _p, n in walk(tree) if n["n"].startswith("runtime.")]
    assert runtime and not any(n["o"] for n in runtime)
    assert "run hot-20261122T110000Z phase fault" in got["message"]


async def test_comparing_gives_the_differential_tree(client, workspace):
    await ready(client)
    await command(client, "harness.compare", {"baseline": "baseline"})
    (graph,) = (await command(client, "harness.flameGraph"))["graphs"]
    tree = graph["tree"]
    assert graph["dims"]["compare"] == "\u0394 against baseline" and tree["base_total"] > 0
    extra = max(frames(tree, "main.extra"), key=lambda n: n["v"])
    assert extra["v"] > 0 and extra["bv"] == 0          # extra() only runs in the fault phase: grew
    step = max(frames(tree, "main.step"), key=lambda n: n["v"])
    assert step["bv"] > 0
    await command(client, "harness.compare", {"off": True})
    assert (await command(client, "harness.flameGraph"))["graphs"][0]["tree"]["base_total"] is None


async def test_max_nodes_bounds_the_tree(client):
    await ready(client)
    (graph,) = (await command(client, "harness.flameGraph", {"maxNodes": 2}))["graphs"]
    root = graph["tree"]["root"]
    (other,) = root["c"]
    assert other["m"] > 0 and other["v"] == root["v"] - root["s"]
    assert "maxNodes" in (await command(client, "harness.flameGraph", {"maxNodes": 0}))["error"]
