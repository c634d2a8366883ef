"""The `harness.*` commands as plain functions: a stand-in server, no subprocess, no profiles."""
from __future__ import annotations

from pathlib import Path

import pytest

from lsp import commands
from lsp.commands import COMMANDS, named
from lsp.server import build_server
from lsp.session import Selection, View
from lsp.settings import Settings
from rundir.contract import RunInfo

RUN = RunInfo(id="r1", path=Path("/nowhere/runs/r1"), phases=("baseline", "fault"))


class FakeServer:
    """What the commands use of HarnessServer (lsp.commands.Host), recording what they do."""

    def __init__(self, run: RunInfo | None = RUN):
        self.settings = Settings(runsDir="/nowhere/runs")
        self.sel = Selection()
        self.roots = (Path("/nowhere"),)
        self.runs = [run] if run else []
        self.view = View(run=run)
        self.told: list[str] = []
        self.reloads: list[tuple[bool, bool]] = []
        self.refreshes = 0

    async def wait_ready(self) -> None:
        pass

    async def reload(self, rescan: bool = True, rewalk: bool = False) -> None:
        self.reloads.append((rescan, rewalk))

    def tell(self, message: str) -> None:
        self.told.append(message)

    def status(self) -> dict:
        return {"phase": self.sel.phase, "enabled": self.sel.enabled, "compare": self.sel.compare}

    def refresh(self) -> None:
        self.refreshes += 1

    def ranked(self, limit, threshold=0.0):
        return []


def test_the_table_has_every_command_of_the_protocol():
    assert set(COMMANDS) == {
        "harness.listRuns", "harness.listProfiles", "harness.status", "harness.unmappedFiles",
        "harness.hotLines", "harness.selectRun", "harness.selectProfile", "harness.openProfile",
        "harness.selectPhase", "harness.compare", "harness.toggle", "harness.reload", "harness.flameGraph"}
    assert set(COMMANDS) <= set(build_server().protocol.fm.commands)


def test_named_arguments_are_the_first_object():
    assert named(({"limit": 3},)) == {"limit": 3}
    assert named([{"limit": 3}, "more"]) == {"limit": 3}
    assert named(()) is None and named(None) is None and named(("x",)) is None


@pytest.mark.parametrize("name,args,says", [
    ("harness.hotLines", {"limit": 0}, "limit must be a positive integer"),
    ("harness.hotLines", {"limit": True}, "limit must be a positive integer"),
    ("harness.hotLines", {"limit": "5"}, "limit must be a positive integer"),
    ("harness.selectRun", {"run": 3}, "run must be a run id"),
    ("harness.selectRun", {"run": "nope"}, "no run 'nope' (runs: r1)"),
    ("harness.selectProfile", {"profile": ""}, "profile must be a kind or a path"),
    ("harness.selectProfile", {"profile": "heap", "sampleType": 1}, "sampleType must be a string"),
    ("harness.openProfile", None, "path must be a file path, got None"),
    ("harness.selectPhase", {"phase": "nope"}, "run r1 has no phase 'nope' (phases: baseline, fault)"),
    ("harness.compare", None, "expected {\"baseline\""),
    ("harness.compare", {"off": False}, "expected {\"baseline\""),
    ("harness.compare", {"baseline": "nope"}, "no phase 'nope' (baseline, fault)"),
    ("harness.compare", {"run": "nope"}, "no run 'nope'"),
    ("harness.toggle", {"enabled": "yes"}, "enabled must be true or false"),
    ("harness.flameGraph", {"maxNodes": 1}, "maxNodes must be an integer from 2 to 50000"),
    ("harness.flameGraph", {"maxNodes": "9"}, "maxNodes must be an integer from 2 to 50000"),
])
async def test_bad_arguments_return_an_error_and_change_nothing(name, args, says):
    ls = FakeServer()
    before = Selection(**vars(ls.sel))
    got = await COMMANDS[name](ls, args)
    assert says in got["error"]
    assert ls.told == [got["error"]]
    assert ls.sel == before and ls.reloads == [] and ls.refreshes == 0


async def test_phase_and_compare_need_a_run():
    ls = FakeServer(run=None)
    assert "no run is selected" in (await commands.select_phase(ls, {"phase": "fault"}))["error"]
    assert "no run selected" in (await commands.compare(ls, {"baseline": "baseline"}))["error"]
    assert await commands.list_profiles(ls, None) == []


async def test_good_arguments_change_the_selection_and_reload():
    ls = FakeServer()
    assert (await commands.select_phase(ls, {"phase": "baseline"}))["phase"] == "baseline"
    assert (await commands.compare(ls, {"baseline": "baseline"}))["compare"] == {"baseline": "baseline"}
    assert (await commands.compare(ls, {"off": True}))["compare"] is None
    await commands.select_profile(ls, {"profile": "heap", "sampleType": "alloc_space"})
    assert (ls.sel.profile, ls.sel.sample_type) == ("heap", "alloc_space")
    await commands.open_profile(ls, {"path": "cpu.pb.gz"})
    assert (ls.sel.profile, ls.sel.sample_type) == ("cpu.pb.gz", None)
    await commands.select_run(ls, {"run": None})
    assert ls.sel.run is None
    assert ls.reloads == [(False, False)] * 5 + [(True, False)]


async def test_toggle_refreshes_without_reloading():
    ls = FakeServer()
    assert (await commands.toggle(ls, None))["enabled"] is False
    assert (await commands.toggle(ls, {"enabled": True}))["enabled"] is True
    assert ls.refreshes == 2 and ls.reloads == []


async def test_reload_reads_the_workspace_again():
    ls = FakeServer()
    await commands.reload(ls, None)
    assert ls.reloads == [(True, True)]


async def test_flame_graph_without_a_profile_says_why():
    ls = FakeServer()
    ls.view.problems.append("run r1 has no 'cpu' profile for phase 'fault'")
    assert await commands.flame_graph(ls, None) == {"graphs": [], "message": ls.view.problems[0]}
