"""The harness language server: thin LSP handlers over lsp.session / lsp.present.

`build_server()` makes a new server with every handler registered; nothing is
built at import time. The protocol (settings, notifications, commands) is the
one in docs/DESIGN.md "Language server protocol"; additions are in docs/lsp.md.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from lsp import __version__
from lsp.analysis import function_lenses, line_detail, warm_edges
from lsp.pathmap import GoEnv, detect_go_env
from lsp.present import (
    Placed,
    code_lenses,
    diagnostic,
    heat_payload,
    hover_markdown,
    inlay_hints,
    place,
    position_map,
    visible,
)
from lsp.runs import RunInfo, runs_signature, scan_runs
from lsp.session import ProfileCache, Selection, View, load_view, phase_values, runs_dir
from lsp.settings import Settings, parse_settings

log = logging.getLogger("harness-lsp")

HEAT = "harness/heat"
STATUS = "harness/status"


class HarnessServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("harness-lsp", __version__)
        self.settings = Settings()
        self.sel = Selection()
        self.roots: tuple[Path, ...] = ()
        self.runs: list[RunInfo] = []
        self.view = View()
        self.cache = ProfileCache()
        self.go_env: GoEnv | None = None
        self.told: set[str] = set()
        self.published: set[str] = set()
        self.placed_cache: dict[tuple, list[Placed]] = {}
        self.runs_sig: tuple | None = None
        self.lock: asyncio.Lock | None = None
        self.ready: asyncio.Event | None = None
        self.poller: asyncio.Task | None = None
        self.warmer: asyncio.Future | None = None

    # ---- messages -------------------------------------------------------------------------------
    def log(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        log.info(message)
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def tell(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """Show a problem once (window/showMessage); log it every time."""
        self.log(message, kind)
        if message not in self.told:
            self.told.add(message)
            self.window_show_message(types.ShowMessageParams(type=kind, message=f"harness: {message}"))

    # ---- state ----------------------------------------------------------------------------------
    def apply_settings(self, raw) -> None:
        self.settings, problems = parse_settings(raw, self.settings)
        for p in problems:
            self.tell(p)
        s = self.settings
        self.sel = Selection(run=s.run, profile=s.profile, sample_type=s.sampleType, phase=s.phase,
                             compare=self.sel.compare, enabled=s.annotations)

    async def reload(self, rescan: bool = True) -> None:
        if self.lock is None:
            self.lock = asyncio.Lock()
            self.ready = asyncio.Event()
        async with self.lock:
            rdir = runs_dir(self.settings, self.roots)
            if self.go_env is None:
                self.go_env = await asyncio.to_thread(detect_go_env)
            if rescan:
                self.runs_sig = await asyncio.to_thread(runs_signature, rdir)
                self.runs = await asyncio.to_thread(scan_runs, rdir)
                for run in self.runs:
                    if run.error:
                        self.tell(f"broken run directory {run.path}: {run.error}")
            try:
                view = await asyncio.to_thread(load_view, self.settings, self.sel, self.roots, self.runs,
                                               self.cache, self.go_env)
            except Exception as exc:  # a bug in loading must not leave requests waiting
                log.exception("loading the profile failed")
                view = View(problems=[f"internal error while loading: {exc!r} (details in the log)"])
            self.view = view
            self.placed_cache.clear()
            for p in view.problems:
                self.tell(p)
            self._log_unmapped()
            self.ready.set()
        self.refresh()
        if view.analysis is not None:
            self.warmer = asyncio.get_running_loop().create_task(asyncio.to_thread(warm_edges, view.analysis))

    def _log_unmapped(self) -> None:
        names = unmapped(self.view)
        if names:
            self.log(f"{len(names)} profile file(s) map to no file here (see harness.unmappedFiles): "
                     + ", ".join(names[:20]), types.MessageType.Warning)

    async def wait_ready(self) -> None:
        if self.ready is None:
            self.lock = asyncio.Lock()
            self.ready = asyncio.Event()
        await self.ready.wait()
        async with self.lock:   # a reload that is under way finishes first
            pass

    def status(self) -> dict:
        v, a = self.view, self.view.analysis
        if a is not None:
            where = f"run {v.run.id} phase {v.phase}" if v.run else v.profile_label
            message = f"{a.mode} {a.sample_type} from {where}" + (" (compare)" if a.diff else "")
        else:
            message = v.problems[0] if v.problems else "no profile loaded"
        return {"run": v.run.id if v.run else None, "runPath": str(v.run.path) if v.run else None,
                "profile": v.profile_label or self.sel.profile, "sampleType": a.sample_type if a else None,
                "phase": v.phase, "compare": self.sel.compare, "enabled": self.sel.enabled,
                "message": message}

    # ---- documents ------------------------------------------------------------------------------
    def current_lines(self, uri: str) -> list[str] | None:
        doc = self.workspace.text_documents.get(uri)
        return doc.source.splitlines() if doc is not None else None

    def placed_for(self, uri: str) -> tuple[list[Placed], list[str] | None]:
        a = self.view.analysis
        if a is None or not self.sel.enabled:
            return [], self.current_lines(uri)
        path = uri_path(uri)
        doc = self.workspace.text_documents.get(uri)
        key = (uri, doc.version if doc else None, id(self.view))
        current = self.current_lines(uri)
        if key not in self.placed_cache:
            entries = a.lines.get(path, {})
            self.placed_cache[key] = place(entries, self.view.baselines.get(path), current,
                                           self.settings.staleMode)
        return self.placed_cache[key], current

    def profile_line(self, uri: str, line0: int) -> tuple[int, bool] | None:
        """The profile's 1-based line shown at a 0-based document line, and whether it is stale."""
        path = uri_path(uri)
        mapping_needed = self.view.baselines.get(path) is not None and uri in self.workspace.text_documents
        if not mapping_needed:
            return line0 + 1, False
        doc = self.workspace.text_documents[uri]
        key = ("inverse", uri, doc.version, id(self.view))
        inverse = self.placed_cache.get(key)
        if inverse is None:
            mapping = position_map(self.view.baselines.get(path), self.current_lines(uri)) or {}
            inverse = self.placed_cache[key] = {new: (old + 1, stale) for old, (new, stale) in mapping.items()}
        found = inverse.get(line0)
        if found is None or (found[1] and self.settings.staleMode == "hide"):
            return None
        return found

    def shown(self, uri: str) -> tuple[list[Placed], list[str] | None]:
        placed, current = self.placed_for(uri)
        a = self.view.analysis
        return (visible(placed, a, self.settings.threshold) if a else []), current

    def send_heat(self, uri: str) -> None:
        doc = self.workspace.text_documents.get(uri)
        placed, _ = self.shown(uri)
        self.protocol.notify(HEAT, heat_payload(uri, doc.version if doc else None, placed, self.view.analysis))

    def ranked(self, limit: int | None, threshold: float = 0.0) -> list[tuple[str, Placed, list | None]]:
        a = self.view.analysis
        if a is None or not self.sel.enabled:
            return []
        rows = []
        for path in a.lines:
            uri = from_fs_path(str(path))
            placed, current = self.placed_for(uri) if uri in self.workspace.text_documents else \
                (place(a.lines[path], self.view.baselines.get(path), None, self.settings.staleMode), None)
            rows.extend((uri, p, current) for p in placed if p.entry.value and abs(p.entry.share) >= threshold)
        rows.sort(key=lambda r: (-r[1].entry.weight, r[0], r[1].line))
        return rows if limit is None else rows[:limit]

    def publish_diagnostics(self) -> None:
        a, s = self.view.analysis, self.settings
        by_uri: dict[str, list[types.Diagnostic]] = {}
        if a is not None and s.diagnostics and self.sel.enabled and s.diagnosticsTopN > 0:
            for uri, p, current in self.ranked(s.diagnosticsTopN, s.threshold):
                by_uri.setdefault(uri, []).append(diagnostic(p, a, current))
        for uri in self.published - set(by_uri):
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        for uri, diags in by_uri.items():
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diags))
        self.published = set(by_uri)

    def refresh(self) -> None:
        """Tell the client everything changed: status, heat, diagnostics, hint and lens refresh."""
        self.protocol.notify(STATUS, self.status())
        for uri in list(self.workspace.text_documents):
            self.send_heat(uri)
        self.publish_diagnostics()
        caps = self.client_capabilities.workspace
        if caps and caps.inlay_hint and caps.inlay_hint.refresh_support:
            self.workspace_inlay_hint_refresh(None)
        if caps and caps.code_lens and caps.code_lens.refresh_support:
            self.workspace_code_lens_refresh(None)


def uri_path(uri: str) -> Path:
    fs = to_fs_path(uri)
    return Path(fs).resolve() if fs else Path(uri)


def unmapped(view: View) -> list[str]:
    a = view.analysis
    if a is None:
        return []
    names: set[str] = set()
    for src in a.sources:
        names |= src.mapper.unmapped
    return sorted(names)


def workspace_roots(params: types.InitializeParams) -> tuple[Path, ...]:
    roots = [to_fs_path(f.uri) for f in (params.workspace_folders or [])]
    if not roots and params.root_uri:
        roots = [to_fs_path(params.root_uri)]
    if not roots and params.root_path:
        roots = [params.root_path]
    return tuple(Path(r).resolve() for r in roots if r)


def build_server() -> HarnessServer:
    server = HarnessServer()
    _register_lifecycle(server)
    _register_features(server)
    from lsp.commands import register_commands
    register_commands(server)
    return server


def _register_lifecycle(server: HarnessServer) -> None:
    @server.feature(types.INITIALIZE)
    def on_initialize(ls: HarnessServer, params: types.InitializeParams) -> None:
        ls.roots = workspace_roots(params)
        ls.apply_settings(params.initialization_options)

    @server.feature(types.INITIALIZED)
    async def on_initialized(ls: HarnessServer, params: types.InitializedParams) -> None:
        ls.poller = asyncio.get_running_loop().create_task(poll_runs(ls))
        await ls.reload()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_config(ls: HarnessServer, params: types.DidChangeConfigurationParams) -> None:
        ls.apply_settings(params.settings)
        await ls.reload()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def on_open(ls: HarnessServer, params: types.DidOpenTextDocumentParams) -> None:
        await ls.wait_ready()
        ls.send_heat(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def on_change(ls: HarnessServer, params: types.DidChangeTextDocumentParams) -> None:
        if ls.view.analysis is not None:
            ls.send_heat(params.text_document.uri)
            ls.publish_diagnostics()

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def on_close(ls: HarnessServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.placed_cache = {k: v for k, v in ls.placed_cache.items() if k[0] != params.text_document.uri}

    @server.feature(types.SHUTDOWN)
    def on_shutdown(ls: HarnessServer, *args) -> None:
        if ls.poller is not None:
            ls.poller.cancel()


async def poll_runs(ls: HarnessServer) -> None:
    """Pick up new or changed runs: a cheap stat of each run's manifest every pollInterval seconds."""
    while True:
        await asyncio.sleep(ls.settings.pollInterval)
        try:
            sig = await asyncio.to_thread(runs_signature, runs_dir(ls.settings, ls.roots))
            if ls.runs_sig is not None and sig != ls.runs_sig:
                ls.log("runs folder changed; reloading")
                await ls.reload()
        except Exception as exc:  # noqa: BLE001 - the poller must survive anything a half-written run can do
            ls.log(f"polling the runs folder failed: {exc!r}", types.MessageType.Error)


def _register_features(server: HarnessServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    async def on_inlay_hint(ls: HarnessServer, params: types.InlayHintParams) -> list[types.InlayHint]:
        await ls.wait_ready()
        a = ls.view.analysis
        if a is None or not ls.settings.inlayHints:
            return []
        placed, current = ls.shown(params.text_document.uri)
        return inlay_hints(placed, a, current or [], params.range)

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    async def on_code_lens(ls: HarnessServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        await ls.wait_ready()
        a = ls.view.analysis
        if a is None or not ls.settings.codeLens or not ls.sel.enabled:
            return []
        uri = params.text_document.uri
        path = uri_path(uri)
        mapping = position_map(ls.view.baselines.get(path), ls.current_lines(uri))
        lenses = function_lenses(a, path, ls.settings.threshold)

        def where(line: int) -> int | None:
            if mapping is None:
                return line - 1
            new = mapping.get(line - 1)
            if new is None or (new[1] and ls.settings.staleMode == "hide"):
                return None
            return new[0]
        return code_lenses(lenses, where, a)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: HarnessServer, params: types.HoverParams) -> types.Hover | None:
        await ls.wait_ready()
        a = ls.view.analysis
        if a is None or not ls.settings.hover or not ls.sel.enabled:
            return None
        uri = params.text_document.uri
        found = ls.profile_line(uri, params.position.line)
        if found is None:
            return None
        line, stale = found
        path = uri_path(uri)
        detail = line_detail(a, path, line)
        if detail is None:
            return None
        placed, _current = ls.placed_for(uri)
        entry = next((p.entry for p in placed if p.entry.line == line), None)
        phases = phase_values(ls.view, ls.cache, path, line)
        text = hover_markdown(detail, phases, entry, a, stale)
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))
