"""Text from the user (scenario, phase, service, request and fault names; event details) in HTML.

`escape` escapes markup and shows the characters that reorder text instead of obeying them:
a right-to-left override in a request name once appeared raw in report.html, where it reverses
everything after it on the line (display spoofing: "gpj.exe" shown for "exe.jpg"). Each becomes a
visible marker, e.g. <U+202E>. `bdi` also isolates the text's direction in <bdi>, so a name in
Arabic or Hebrew does not reorder the words around it.
"""
from __future__ import annotations

import html
import re

# bidi embeddings, overrides, isolates and marks; C0/C1 controls except tab and newline
_HIDDEN = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _visible(m: re.Match) -> str:
    return f"<U+{ord(m.group()):04X}>"


def escape(text, quote: bool = True) -> str:
    return html.escape(_HIDDEN.sub(_visible, str(text)), quote=quote)


def bdi(text) -> str:
    """A user-given name: escaped, direction isolated."""
    return f"<bdi>{escape(text)}</bdi>"
