"""The harness language server: thin LSP handlers over lsp.session / lsp.placement / lsp.present.

`build_server()` makes a new server with every handler and every `harness.*` command (the table
in lsp.commands) registered; nothing is built at import time. The protocol (settings,
notifications, commands) is the one in docs/DESIGN.md "Language server protocol"; additions are
in docs/lsp.md.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from lsp import __version__
from lsp.analysis import function_lenses, line_detail, warm_edges
from lsp.commands import COMMANDS, Command, named
from lsp.pathmap import GoEnv, MapperCache, detect_go_env
from lsp.placement import Placed, Placement, Placements
from lsp.present import (
    code_lenses,
    diagnostic,
    findings_markdown,
    function_latency_markdown,
    heat_payload,
    hover_markdown,
    inlay_hints,
    visible,
)
from lsp.session import ProfileCache, Selection, View, load_view, phase_values, runs_dir, unmapped
from lsp.settings import Settings, parse_settings
from rundir.contract import RunInfo, runs_signature, scan_runs

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
        self.mappers = MapperCache()
        self.placements = Placements()
        self.go_env: GoEnv | None = None
        self.told: set[str] = set()
        self.published: set[str] = set()
        self.runs_sig: tuple | None = None
        self.lock: asyncio.Lock | None = None
        self.ready: asyncio.Event | None = None
        self.poller: asyncio.Task | None = None
        self.reporting = False

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

    def internal_error(self, what: str, exc: BaseException) -> str:
        """A bug met while serving: the traceback goes to the log, the user is told once, the
        server keeps answering. Returns the message."""
        log.error("internal error in %s", what, exc_info=exc)
        message = (f"internal error in {what}: {type(exc).__name__}: {str(exc)[:300]} (details in the server "
                   "log); the server keeps running")
        try:
            self.tell(message, types.MessageType.Error)
        except Exception:   # e.g. the client is gone; the log has it
            log.exception("telling the user failed")
        return message

    def report_server_error(self, error: Exception, source) -> None:
        """pygls reports errors met outside a handler here (by default with a message to the client).
        Once the output is closed, that message fails and is reported again, and again: a flood of
        "I/O operation on closed file" in the log. Report once, never while reporting."""
        if self.reporting or isinstance(error, (BrokenPipeError, ConnectionError)) \
                or "closed file" in str(error):
            log.error("not reported to the client (its stream is gone or this is a report's error): %s", error)
            return
        self.reporting = True
        try:
            super().report_server_error(error, source)
        finally:
            self.reporting = False

    # ---- state ----------------------------------------------------------------------------------
    def apply_settings(self, raw) -> None:
        self.settings, problems = parse_settings(raw, self.settings)
        for p in problems:
            self.tell(p)
        s = self.settings
        self.cache.max_mib = s.maxProfileMiB
        self.sel = Selection(run=s.run, profile=s.profile, sample_type=s.sampleType, phase=s.phase,
                             compare=self.sel.compare, enabled=s.annotations)

    async def reload(self, rescan: bool = True, rewalk: bool = False) -> None:
        """Load the selected view again; `rescan` reads the runs folder again, `rewalk` the
        workspace's files (for path mapping) too. Whatever a run directory holds, the server is
        ready afterwards: an unexpected error becomes a view with that one problem."""
        if self.lock is None:
            self.lock = asyncio.Lock()
            self.ready = asyncio.Event()
        async with self.lock:
            try:
                view = await self._fresh_view(rescan, rewalk)
                self.view = view
                self.placements.clear()
                for p in view.problems:
                    self.tell(p)
                self._log_unmapped()
            except Exception as exc:  # noqa: BLE001 - a reload must never leave requests waiting
                self.view = view = View(problems=[self.internal_error("reloading", exc)])
                self.placements.clear()
            finally:
                self.ready.set()
        try:
            self.refresh()
        except Exception as exc:  # noqa: BLE001
            self.internal_error("refreshing the editor", exc)
        if view.analysis is not None:   # the executor holds the future until the work is done
            asyncio.get_running_loop().run_in_executor(None, _warm, view.analysis)

    async def _fresh_view(self, rescan: bool, rewalk: bool) -> View:
        if self.go_env is None:
            self.go_env = await asyncio.to_thread(detect_go_env)
        if rewalk:
            self.mappers.clear()
        if rescan:
            await self._rescan()
        return await self._load()

    async def _rescan(self) -> None:
        rdir = runs_dir(self.settings, self.roots)
        self.runs_sig = await asyncio.to_thread(runs_signature, rdir)
        self.runs = await asyncio.to_thread(scan_runs, rdir)
        for run in self.runs:
            if run.error:
                self.tell(f"broken run directory {run.path}: {run.error}")
            elif run.problems:
                self.tell(run.damage())

    async def _load(self) -> View:
        try:
            return await asyncio.to_thread(load_view, self.settings, self.sel, self.roots, self.runs,
                                           self.cache, self.go_env, self.mappers)
        except Exception as exc:  # a bug in loading must not leave requests waiting
            log.exception("loading the profile failed")
            return View(problems=[f"internal error while loading: {exc!r} (details in the log)"])

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
    def placement(self, uri: str, path: Path | None = None) -> Placement:
        """The view's costs on the document's current version (built once per version)."""
        doc = self.workspace.text_documents.get(uri)
        return self.placements.get(uri, doc.version if doc else None, lambda: self._place(uri, path, doc))

    def _place(self, uri: str, path: Path | None, doc) -> Placement:
        path = path or uri_path(uri)
        a = self.view.analysis
        return Placement(a.lines.get(path, {}) if a is not None else {}, self.view.baselines.get(path),
                         doc.source.splitlines() if doc is not None else None,
                         hide_stale=self.settings.staleMode == "hide")

    def shown(self, uri: str) -> tuple[list[Placed], Placement]:
        """The placed lines above the threshold (none while annotations are off), and the placement."""
        placement = self.placement(uri)
        a = self.view.analysis
        if a is None or not self.sel.enabled:
            return [], placement
        return visible(placement.placed, a, self.settings.threshold), placement

    def send_heat(self, uri: str) -> None:
        doc = self.workspace.text_documents.get(uri)
        placed, _ = self.shown(uri)
        self.protocol.notify(HEAT, heat_payload(uri, doc.version if doc else None, placed, self.view.analysis))

    def ranked(self, limit: int | None, threshold: float = 0.0) -> list[tuple[str, Placed, list[str] | None]]:
        """(uri, placed line, document text or None) of the hottest lines of every file, hottest first."""
        a = self.view.analysis
        if a is None or not self.sel.enabled:
            return []
        rows = []
        for path in a.lines:
            uri = from_fs_path(str(path))
            placement = self.placement(uri, path)
            rows.extend((uri, p, placement.lines) for p in placement.placed
                        if p.entry.value and abs(p.entry.share) >= threshold)
        rows.sort(key=lambda r: (-r[1].entry.weight, r[0], r[1].line))
        return rows if limit is None else rows[:limit]

    def profile_hover(self, placement: Placement, path: Path, line: int, stale: bool) -> str:
        """The hover's profile part for a 1-based profile line: costs, phases, callers; "" without any."""
        a = self.view.analysis
        detail = line_detail(a, path, line) if a is not None else None
        if detail is None:
            return ""
        entry = placement.entries.get(line) if placement.to_document(line) is not None else None
        return hover_markdown(detail, phase_values(self.view, self.cache, path, line), entry, a, stale)

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


def _warm(analysis) -> None:
    """warm_edges in a worker thread; a failure there only costs the hover its call edges."""
    try:
        warm_edges(analysis)
    except Exception:
        log.exception("computing call edges in the background failed")


def guarded(what: str, fallback=None):
    """A handler that answers `fallback()` (or `fallback`) after an unexpected error, which it turns
    into one message (Server.internal_error) instead of an error that ends the request."""
    def wrap(fn):
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def handler(ls, *args):
                try:
                    return await fn(ls, *args)
                except Exception as exc:  # noqa: BLE001 - the server keeps answering
                    ls.internal_error(what, exc)
                    return fallback() if callable(fallback) else fallback
        else:
            @functools.wraps(fn)
            def handler(ls, *args):
                try:
                    return fn(ls, *args)
                except Exception as exc:  # noqa: BLE001
                    ls.internal_error(what, exc)
                    return fallback() if callable(fallback) else fallback
        return handler
    return wrap


def uri_path(uri: str) -> Path:
    fs = to_fs_path(uri)
    return Path(fs).resolve() if fs else Path(uri)


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
    for name, command in COMMANDS.items():
        server.command(name)(_command_handler(name, command))
    return server


def _command_handler(name: str, command: Command):
    """The pygls handler of a command: the server and the named arguments in, JSON out; an
    unexpected error answers {"error": ...} and is told once."""
    async def handler(ls, *args):
        try:
            return await command(ls, named(args))
        except Exception as exc:  # noqa: BLE001 - the server keeps answering
            return {"error": ls.internal_error(name, exc)}
    return handler


def _register_lifecycle(server: HarnessServer) -> None:
    @server.feature(types.INITIALIZE)
    @guarded("initialize")
    def on_initialize(ls: HarnessServer, params: types.InitializeParams) -> None:
        ls.roots = workspace_roots(params)
        ls.apply_settings(params.initialization_options)

    @server.feature(types.INITIALIZED)
    @guarded("initialized")
    async def on_initialized(ls: HarnessServer, params: types.InitializedParams) -> None:
        ls.poller = asyncio.get_running_loop().create_task(poll_runs(ls))
        await ls.reload()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    @guarded("a settings change")
    async def on_config(ls: HarnessServer, params: types.DidChangeConfigurationParams) -> None:
        mappings = ls.settings.pathMappings
        ls.apply_settings(params.settings)
        await ls.reload(rewalk=ls.settings.pathMappings != mappings)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @guarded("opening a document")
    async def on_open(ls: HarnessServer, params: types.DidOpenTextDocumentParams) -> None:
        await ls.wait_ready()
        ls.send_heat(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    @guarded("an edit")
    def on_change(ls: HarnessServer, params: types.DidChangeTextDocumentParams) -> None:
        if ls.view.analysis is not None:
            ls.send_heat(params.text_document.uri)
            ls.publish_diagnostics()

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @guarded("closing a document")
    def on_close(ls: HarnessServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.placements.forget(params.text_document.uri)

    @server.feature(types.SHUTDOWN)
    def on_shutdown(ls: HarnessServer, *args) -> None:
        if ls.poller is not None:
            ls.poller.cancel()


async def poll_runs(ls: HarnessServer) -> None:
    """Pick up new or changed runs: a cheap stat of each run's manifest every pollInterval seconds.
    A new run may come with new source files, so the workspace is walked again too."""
    while True:
        await asyncio.sleep(ls.settings.pollInterval)
        try:
            sig = await asyncio.to_thread(runs_signature, runs_dir(ls.settings, ls.roots))
            if ls.runs_sig is not None and sig != ls.runs_sig:
                ls.log("runs folder changed; reloading")
                await ls.reload(rewalk=True)
        except Exception as exc:  # noqa: BLE001 - the poller must survive anything a half-written run can do
            ls.log(f"polling the runs folder failed: {exc!r}", types.MessageType.Error)


def _register_features(server: HarnessServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    @guarded("inlay hints", list)
    async def on_inlay_hint(ls: HarnessServer, params: types.InlayHintParams) -> list[types.InlayHint]:
        await ls.wait_ready()
        a = ls.view.analysis
        if a is None or not ls.settings.inlayHints:
            return []
        placed, placement = ls.shown(params.text_document.uri)
        return inlay_hints(placed, a, placement.lines or [], params.range)

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    @guarded("code lenses", list)
    async def on_code_lens(ls: HarnessServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        await ls.wait_ready()
        a = ls.view.analysis
        if a is None or not ls.settings.codeLens or not ls.sel.enabled:
            return []
        uri = params.text_document.uri
        return code_lenses(function_lenses(a, uri_path(uri), ls.settings.threshold), ls.placement(uri))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @guarded("hover")
    async def on_hover(ls: HarnessServer, params: types.HoverParams) -> types.Hover | None:
        await ls.wait_ready()
        if not ls.settings.hover or not ls.sel.enabled:
            return None
        uri = params.text_document.uri
        placement = ls.placement(uri)
        found = placement.to_profile(params.position.line)
        if found is None:
            return None
        line, stale = found
        path = uri_path(uri)
        parts = [findings_markdown(ls.view.findings.get((path, line), [])),
                 ls.profile_hover(placement, path, line, stale),
                 function_latency_markdown(ls.view.functions.get((path, line), []))]
        text = "\n\n---\n\n".join(p for p in parts if p)
        if not text:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))
