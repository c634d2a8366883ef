"""The large-profile path of the analysis (own column first, the rest in the background)."""
from __future__ import annotations

import gzip

import lsp.analysis as analysis_mod
from lsp.analysis import Source, build_analysis, line_detail, warm_edges
from lsp.pathmap import PathMapper
from rundir.pprof import load_profile
from rundir.pprof.proto import Profile as ProfileMessage
from tests.lsp.lspfixtures import marker_line


def test_large_profile_path_shows_the_same_own_values(built, workspace, monkeypatch):
    mapper = PathMapper.build([workspace])
    full = build_analysis([Source(load_profile(built.fault / "cpu.pb.gz"), mapper)], "cpu", "own")
    monkeypatch.setattr(analysis_mod, "SYNC_EDGES_LIMIT", 0)   # every profile counts as large
    src = Source(load_profile(built.fault / "cpu.pb.gz"), mapper)
    quick = build_analysis([src], "cpu", "own")
    path = (workspace / "goprog" / "main.go").resolve()
    assert {k: e.value for k, e in quick.lines[path].items()} == {k: e.value for k, e in full.lines[path].items()}
    hot = marker_line("cpu")
    before = line_detail(quick, path, hot)
    assert not before.edges_ready and before.callers == []
    warm_edges(quick)
    after = line_detail(quick, path, hot)
    assert after.edges_ready and after.callers[0][0] == "main.burn"
    assert {t for t, *_ in after.per_type} == {"samples", "cpu"}


def test_a_profile_without_samples_says_so(built, workspace):
    # A real CPU profile of an idle service: the samples are gone, the rest is kept.
    msg = ProfileMessage()
    msg.ParseFromString(gzip.decompress((built.fault / "cpu.pb.gz").read_bytes()))
    del msg.sample[:]
    idle = load_profile(msg.SerializeToString())
    mapper = PathMapper.build([workspace])
    a = build_analysis([Source(idle, mapper, name="api cpu partitioned", kind="cpu")], "cpu", "own")
    assert a.total == 0 and not a.lines
    assert any("api cpu partitioned: no cpu recorded" in n for n in a.notes), a.notes
    busy = build_analysis([Source(load_profile(built.fault / "cpu.pb.gz"), mapper, name="api cpu")], "cpu", "own")
    assert not any("recorded" in n for n in busy.notes)
