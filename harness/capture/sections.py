"""The `captures:` section with the sections capture kinds parse themselves: a kind with a `key`
(harness/capture/kind.py) owns `captures.<key>`: its parser and its JSON-Schema fragment. The
scenario (harness/scenario) reads captures through here."""
from __future__ import annotations

from harness.capture import spec
from harness.capture.kinds import KINDS
from harness.parse.context import ParseContext
from harness.parse.node import Node

OWNED = {k.key: k for k in KINDS if k.key}
CAPTURES_SCHEMA = {**spec.CAPTURES_SCHEMA,
                   "properties": {**spec.CAPTURES_SCHEMA["properties"], **{key: k.schema for key, k in OWNED.items()}}}


def parse_captures(node: Node | None, ctx: ParseContext) -> spec.CaptureSpec:
    return spec.parse_captures(node, ctx, OWNED)
