"""Where the profile's lines are in the editor's text (pure).

The profile was taken from the text snapshotted when the view was loaded (`session.Baseline`);
the editor may hold an edited version. A `Placement` maps the profile's lines onto one version of
a document and back, with the rules of lsp/stale.py: lines of unchanged blocks move with the
edit, lines of a block replaced by one of the same size keep their place and are stale, every
other line has no place (and with staleMode "hide" stale lines have none either). Inlay hints,
code lenses, hover, heat and diagnostics all ask the same Placement, which `Placements` builds
once per (document uri, version) and keeps until the next view is loaded.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from lsp.analysis import LineEntry
from lsp.session import Baseline
from lsp.stale import all_stale, line_map

# The highest line a position may name (LSP line numbers are 32-bit); a profile may claim any.
MAX_LINE = 2**31 - 2


@dataclass(frozen=True)
class Placed:
    line: int          # 0-based line in the current document
    entry: LineEntry
    stale: bool


class Placement:
    """The costs of one file (1-based profile lines) on one version of its document.

    `lines` is the document's current text, None when it is not open in the editor (the costs
    then stay on the profile's lines); without a baseline the text counts as the profiled one.
    """

    def __init__(self, entries: dict[int, LineEntry], baseline: Baseline | None, lines: list[str] | None,
                 hide_stale: bool) -> None:
        self.entries = entries
        self.baseline = baseline
        self.lines = lines
        self.hide_stale = hide_stale

    @cached_property
    def _forward(self) -> dict[int, tuple[int, bool]] | None:
        """0-based profile line -> (0-based document line, stale); None when the text is as profiled."""
        if self.baseline is None or self.lines is None:
            return None
        if self.baseline.lines is None:     # changed since the run, original text unknown
            return all_stale(len(self.lines))
        return line_map(self.baseline.lines, self.lines)

    @cached_property
    def _backward(self) -> dict[int, tuple[int, bool]]:
        return {new: (old, stale) for old, (new, stale) in (self._forward or {}).items()}

    def to_document(self, line: int) -> tuple[int, bool] | None:
        """(0-based document line, stale) of a 1-based profile line; None where it has no place."""
        old = line - 1
        if self._forward is None:
            new, stale = old, False
        elif old in self._forward:
            new, stale = self._forward[old]
        else:
            return None
        if stale and self.hide_stale:
            return None
        if not 0 <= new < self._length:
            return None
        return new, stale

    @cached_property
    def _length(self) -> int:
        """Lines a cost may sit on: the document's, else the profiled text's, else any valid line."""
        if self.lines is not None:
            return len(self.lines)
        if self.baseline is not None and self.baseline.lines is not None:
            return len(self.baseline.lines)
        return MAX_LINE + 1

    def to_profile(self, line: int) -> tuple[int, bool] | None:
        """(1-based profile line, stale) shown at a 0-based document line; None where none is."""
        if self._forward is None:
            return line + 1, False
        found = self._backward.get(line)
        if found is None or (found[1] and self.hide_stale):
            return None
        return found[0] + 1, found[1]

    @cached_property
    def placed(self) -> list[Placed]:
        """Every entry that has a place, by document line."""
        out = []
        for line, entry in self.entries.items():
            where = self.to_document(line)
            if where is not None:
                out.append(Placed(where[0], entry, where[1]))
        out.sort(key=lambda p: p.line)
        return out


class Placements:
    """The Placement of each (document uri, version) for the loaded view; emptied when a view is
    loaded, a document's entries dropped when it is closed."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, int | None], Placement] = {}

    def get(self, uri: str, version: int | None, build: Callable[[], Placement]) -> Placement:
        key = (uri, version)
        found = self._items.get(key)
        if found is None:
            found = self._items[key] = build()
        return found

    def forget(self, uri: str) -> None:
        self._items = {k: v for k, v in self._items.items() if k[0] != uri}

    def clear(self) -> None:
        self._items.clear()
