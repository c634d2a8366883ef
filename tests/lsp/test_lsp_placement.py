"""Profile lines <-> document lines (lsp.placement), on small texts."""
from __future__ import annotations

from lsp.analysis import LineEntry
from lsp.placement import Placement, Placements
from lsp.session import Baseline

PROFILED = ["package main", "", "func f() {", "\tx := 1", "\ty := 2", "}"]


def entry(line: int) -> LineEntry:
    return LineEntry(line, "main.f", 10, 0.5, 10, 10, 10, "10 50%", "main.go")


ENTRIES = {4: entry(4), 5: entry(5)}


def test_an_unedited_or_unopened_document_keeps_the_profile_lines():
    for p in (Placement(ENTRIES, Baseline(PROFILED), PROFILED, False),
              Placement(ENTRIES, Baseline(PROFILED), None, False),
              Placement(ENTRIES, None, PROFILED, False)):
        assert [(x.line, x.stale) for x in p.placed] == [(3, False), (4, False)]
        assert p.to_document(4) == (3, False) and p.to_profile(3) == (4, False)


def test_lines_move_with_an_insertion_and_map_back():
    current = ["// new", "// new"] + PROFILED
    p = Placement(ENTRIES, Baseline(PROFILED), current, False)
    assert [x.line for x in p.placed] == [5, 6]
    assert p.to_document(3) == (4, False) and p.to_profile(4) == (3, False)
    assert p.to_profile(0) is None     # an inserted line has no profile line


def test_an_edited_line_is_stale_and_hidden_on_request():
    current = PROFILED[:3] + ["\tx := 1 + 0"] + PROFILED[4:]
    marked = Placement(ENTRIES, Baseline(PROFILED), current, False)
    assert [(x.line, x.stale) for x in marked.placed] == [(3, True), (4, False)]
    assert marked.to_profile(3) == (4, True)
    hidden = Placement(ENTRIES, Baseline(PROFILED), current, True)
    assert [x.line for x in hidden.placed] == [4]
    assert hidden.to_document(4) is None and hidden.to_profile(3) is None


def test_a_block_that_changed_size_has_no_place():
    current = PROFILED[:3] + ["\ta := 1", "\tb := 1", "\tx := a + b"] + PROFILED[4:]
    p = Placement(ENTRIES, Baseline(PROFILED), current, False)
    assert p.to_document(4) is None and [x.line for x in p.placed] == [6]


def test_a_file_changed_since_the_run_is_stale_everywhere_and_lines_stay_in_the_text():
    p = Placement({**ENTRIES, 40: entry(40)}, Baseline(None), PROFILED, False)
    assert [(x.line, x.stale) for x in p.placed] == [(3, True), (4, True)]   # line 40 is past the end
    assert p.to_profile(0) == (1, True)


def test_placements_are_built_once_per_document_version():
    cache, built = Placements(), []

    def build():
        built.append(1)
        return Placement(ENTRIES, None, PROFILED, False)

    first = cache.get("file:///a.go", 1, build)
    assert cache.get("file:///a.go", 1, build) is first and len(built) == 1
    assert cache.get("file:///a.go", 2, build) is not first
    cache.get("file:///b.go", 1, build)
    cache.forget("file:///a.go")
    cache.get("file:///a.go", 2, build)
    cache.get("file:///b.go", 1, build)
    assert len(built) == 4
    cache.clear()
    cache.get("file:///b.go", 1, build)
    assert len(built) == 5
