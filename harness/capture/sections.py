"""The `captures:` section with the sections capture kinds parse themselves: a kind with a `key`
(harness/capture/kind.py) owns `captures.<key>`: its parser and its JSON-Schema fragment. The
scenario (harness/scenario) reads captures through here.

The kinds are imported only when a scenario's captures name a key the built-in fields do not
have (an owned section, or a typo the error lists the known keys for): importing every capture
kind costs about half a second, which `harness validate` of a plain scenario must not pay."""
from __future__ import annotations

from harness.capture import spec
from harness.parse.context import ParseContext
from harness.parse.node import Node


def owned() -> dict:
    """key -> the capture kind that owns `captures.<key>`."""
    from harness.capture.kinds import KINDS
    return {k.key: k for k in KINDS if k.key}


def captures_schema() -> dict:
    return {**spec.CAPTURES_SCHEMA,
            "properties": {**spec.CAPTURES_SCHEMA["properties"], **{key: k.schema for key, k in owned().items()}}}


def parse_captures(node: Node | None, ctx: ParseContext) -> spec.CaptureSpec:
    plain = node is None or not node.is_map() or set(node.as_map()) <= set(spec.TOP_KEYS)
    return spec.parse_captures(node, ctx, None if plain else owned())
