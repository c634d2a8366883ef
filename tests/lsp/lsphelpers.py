"""Helpers for driving the server from the tests (a thin layer over the pytest-lsp client)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types


def open_doc(client, path: Path) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="go", version=1, text=path.read_text())))
    return uri


async def hints(client, uri: str, lines: int = 1000) -> list[types.InlayHint]:
    rng = types.Range(types.Position(0, 0), types.Position(lines, 0))
    return await client.text_document_inlay_hint_async(
        types.InlayHintParams(text_document=types.TextDocumentIdentifier(uri=uri), range=rng)) or []


async def command(client, name: str, arg: dict | None = None):
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=[arg] if arg is not None else None))


def share_of(label: str) -> float:
    return float(label.split()[1].rstrip("%"))


async def ready(client) -> list:
    """A command that waits for the server's current load; returns the hot lines."""
    return await command(client, "harness.hotLines", {"limit": 50})


def line_of(h: types.InlayHint) -> int:
    return h.position.line + 1


def change(client, uri: str, version: int, start: int, end: int, text: str) -> None:
    """Replace lines [start, end) (0-based) with text."""
    rng = types.Range(types.Position(start, 0), types.Position(end, 0))
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=rng, text=text)]))


async def settings(client, **values) -> dict:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"harness": {"pollInterval": 0.2, **values}}))
    return await command(client, "harness.status")


async def until(predicate, what: str, timeout: float = 60.0) -> None:
    """Wait for a condition the server reaches on its own (e.g. polling); the timeout only guards a hang."""
    async def loop():
        while not predicate():
            await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(loop(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def hover(client, uri: str, line: int) -> types.Hover | None:
    """The hover at a 1-based line."""
    return await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line - 1, 3)))
