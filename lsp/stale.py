"""Keeping costs on the right line after edits (pure).

`line_map` compares the text the profile was taken from with the text in the
editor. Lines in unchanged blocks move with the edit; a line inside a block
replaced by a block of the same size keeps its position but is stale; lines
whose position is ambiguous (deleted, or in a block that changed size) are not
shown at all, so a cost never lands on a line it does not belong to.
"""
from __future__ import annotations

import hashlib
from difflib import SequenceMatcher


def sha256_text(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def line_map(old: list[str], new: list[str]) -> dict[int, tuple[int, bool]]:
    """old 0-based line -> (new 0-based line, stale)."""
    if old == new:
        return {i: (i, False) for i in range(len(old))}
    out: dict[int, tuple[int, bool]] = {}
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                out[i1 + k] = (j1 + k, False)
        elif tag == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                out[i1 + k] = (j1 + k, True)
    return out


def all_stale(count: int) -> dict[int, tuple[int, bool]]:
    """The file changed since the run and its original text is unknown: every line is stale."""
    return {i: (i, True) for i in range(count)}
