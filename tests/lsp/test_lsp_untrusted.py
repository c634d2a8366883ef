"""Untrusted run directories (issue 12, items 3-5): whatever a run directory holds, the server keeps
answering, reads only regular files inside the run and within a size limit, and does not paint
implausible values. docs/lsp.md "Untrusted run directories" describes the behaviour."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import shutil
import threading
import tracemalloc
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.io_ import StdoutWriter
from pygls.workspace import Workspace

from lsp import server as server_module
from lsp.pathmap import GoEnv
from lsp.server import build_server
from lsp.session import View
from rundir import contract, pprof
from tests.lsp.lspfixtures import RUN_ID, edit_manifest, edit_profile, gzip_bomb, make_workspace, marker_line
from tests.lsp.lsphelpers import command, hints, hover, open_doc, ready, settings

FAULT_CPU = "profiles/fault/api/cpu.pb.gz"
INT64_MAX = 2**63 - 1


def run_of(ws: Path) -> Path:
    return ws / "runs" / RUN_ID


@pytest.fixture
def workspace(tmp_path, built, request) -> Path:
    """The usual workspace; a test parametrized indirectly passes a change to its manifest, made
    before the server starts."""
    ws = make_workspace(tmp_path / "ws", built)
    change = getattr(request, "param", None)
    if change is not None:
        edit_manifest(run_of(ws), change)
    return ws


def told(client, text: str) -> list[str]:
    return [m.message for m in client.messages if text in m.message]


# ---- item 3: a bad manifest or a handler error never wedges the server ---------------------------

def _wrong_types(m: dict) -> None:
    m["services"]["api"]["source_hashes"] = "notadict"
    m["clock"]["wall_t0"] = "yesterday"
    m["artifacts"][0] = 5
    m["phases"].append({"name": ["not", "a", "name"]})


@pytest.mark.parametrize("workspace", [_wrong_types], indirect=True)
async def test_manifest_wrong_types_keep_server_answering(client, workspace):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    # Before: the first reload raised, the server never became ready, no request was answered.
    status = await asyncio.wait_for(command(client, "harness.status"), 15)
    assert status["run"] == RUN_ID and status["sampleType"] == "cpu"     # the rest of the run is used
    assert await asyncio.wait_for(hover(client, uri, marker_line("cpu")), 5) is not None
    assert marker_line("cpu") - 1 in {h.position.line for h in await hints(client, uri)}
    await command(client, "harness.reload")
    [message] = told(client, "left out")                                  # one message per run, once
    for part in ("services.api.source_hashes: expected an object, got a string 'notadict'",
                 "clock.wall_t0: expected a number, got a string 'yesterday'", "artifacts[0]", "phases[2].name"):
        assert part in message


def test_manifest_type_swaps_are_named_and_the_rest_kept(tmp_path, built):
    run = make_workspace(tmp_path / "ws", built) / "runs" / RUN_ID

    def swap(m):
        m["clock"]["wall_t0"] = 10**400              # an integer no float can hold
        m["owner"] = {"pid": "4242", "host": 7, "started": 1.5}
        m["services"]["api"]["source_hashes"] = {"main.go": ["sha256:x"], "other.go": "sha256:y"}
        m["services"]["db"] = "postgres"
        m["artifacts"][1]["service"] = {"name": "api"}
        m["artifacts"][2]["sample_types"] = "cpu"
        m["phases"][1]["faults"] = "f1"
        m["result"] = [[[[[[[["deep"]]]]]]]]
    edit_manifest(run, swap)
    info = contract.read_run(run)
    assert info.error is None and info.phases == ("baseline", "fault")
    assert len(info.artifacts) == 11 and info.services[0].source_hashes == {"other.go": "sha256:y"}
    assert info.owner == {"started": 1.5} and info.wall_t0 == 0.0 and info.fault_phases == ()
    text = "\n".join(info.problems)
    for part in ("clock.wall_t0", "owner.pid: expected a number, got a string '4242'", "owner.host",
                 "services.api.source_hashes (values)", "services.db: expected an object", "artifacts[1].service",
                 "artifacts[2].sample_types", "phases[1].faults", "result: expected an object, got a list"):
        assert part in text
    assert len(text) < 2000      # nested values are shown cut


@pytest.mark.parametrize("content", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"services": {"api": {"source_hashes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}}",
    b'{"run_id": "\xff\xfe"}',
], ids=["deep-array", "deep-value", "not-utf8"])
def test_deep_json_manifest_is_rejected_cleanly(tmp_path, content):
    # A regression guard: the code before the change already caught these (RecursionError).
    (tmp_path / "manifest.json").write_bytes(content)
    info = contract.read_run(tmp_path)
    assert info.error is not None and str(tmp_path / "manifest.json") in info.error and len(info.error) < 300


def test_huge_number_in_manifest_is_a_broken_run(tmp_path):
    # json.loads raises a plain ValueError for a number of more than 4300 digits; it escaped.
    (tmp_path / "manifest.json").write_text('{"clock": {"wall_t0": ' + "9" * 5000 + "}}")
    info = contract.read_run(tmp_path)
    assert info.error is not None and "unreadable JSON" in info.error and len(info.error) < 300


class _Writer:
    """The server's output, kept as decoded JSON-RPC messages."""

    def __init__(self):
        self.sent: list[dict] = []

    def write(self, data: bytes) -> None:
        self.sent.append(json.loads(data.split(b"\r\n\r\n", 1)[1]))

    def close(self) -> None:
        pass

    def shown(self) -> list[str]:
        return [m["params"]["message"] for m in self.sent if m.get("method") == "window/showMessage"]


def _server(tmp_path):
    server = build_server()
    writer = _Writer()
    server.protocol.set_writer(writer)
    server.protocol._workspace = Workspace(tmp_path.as_uri())     # what `initialize` makes
    server.protocol.client_capabilities = types.ClientCapabilities()
    server.roots, server.go_env = (tmp_path,), GoEnv(None, None)
    return server, writer


async def test_unexpected_error_in_reload_is_one_message_not_a_wedge(tmp_path, monkeypatch):
    def broken(*args):
        raise ValueError("boom")
    monkeypatch.setattr(server_module, "scan_runs", broken)
    server, writer = _server(tmp_path)
    for _ in range(2):
        await asyncio.wait_for(server.reload(), 10)
    await asyncio.wait_for(server.wait_ready(), 1)
    assert "internal error in reloading: ValueError: boom" in server.status()["message"]
    assert len([m for m in writer.shown() if "boom" in m]) == 1


async def test_handler_errors_answer_and_are_one_message(tmp_path):
    server, writer = _server(tmp_path)
    await server.reload()
    server.view = View(analysis=object())           # anything that makes every feature fail
    features = server.protocol.fm.features
    uri = (tmp_path / "main.go").as_uri()
    doc = types.TextDocumentIdentifier(uri=uri)
    rng = types.Range(types.Position(0, 0), types.Position(9, 0))
    for _ in range(2):
        assert await features[types.TEXT_DOCUMENT_HOVER](
            types.HoverParams(text_document=doc, position=types.Position(0, 0))) is None
        assert await features[types.TEXT_DOCUMENT_INLAY_HINT](types.InlayHintParams(doc, rng)) == []
        assert await features[types.TEXT_DOCUMENT_CODE_LENS](types.CodeLensParams(doc)) == []
        hot = await server.protocol.fm.commands["harness.hotLines"]({"limit": 3})
        assert "internal error in harness.hotLines" in hot["error"]
    shown = [m for m in writer.shown() if "internal error" in m]
    assert len(shown) == 4 and all("AttributeError: 'object' object" in m for m in shown)   # one per feature
    assert all("the server keeps running" in m for m in shown)


def test_closed_output_is_not_reported_in_a_loop(tmp_path, caplog):
    # Before: every failed write was reported with a message to the client, which failed too:
    # 20,000 log records ("I/O operation on closed file") for one notification after exit.
    server, _ = _server(tmp_path)
    stream = io.BytesIO()
    server.protocol.set_writer(StdoutWriter(stream))
    stream.close()
    with caplog.at_level(logging.DEBUG):
        server.protocol.notify("harness/status", {})
    assert len([r for r in caplog.records if "closed file" in r.getMessage() or r.exc_info]) <= 2


# ---- item 4: only regular files inside the run, within a size limit -------------------------------

async def test_artifact_outside_run_dir_refused(client, workspace, built):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    await ready(client)
    outside = workspace / "elsewhere" / "cpu.pb.gz"          # a valid profile, outside the run
    outside.parent.mkdir()
    shutil.copy(built.fault / "cpu.pb.gz", outside)

    def escape(m):
        for a in m["artifacts"]:
            if a["kind"] == "cpu":
                a["path"] = "../../elsewhere/cpu.pb.gz" if a["phase"] == "fault" else str(outside)
    edit_manifest(run_of(workspace), escape)
    for _ in range(2):
        status = await command(client, "harness.reload")
    assert "has no 'cpu' profile" in status["message"]
    assert await hints(client, uri) == []                                  # nothing from outside is shown
    assert "cpu" not in {p["kind"] for p in await command(client, "harness.listProfiles")}
    [message] = told(client, "points outside the run directory")
    assert "'../../elsewhere/cpu.pb.gz'" in message and str(outside) in message


def test_artifact_paths_are_confined_to_the_run(tmp_path, built):
    run = make_workspace(tmp_path / "ws", built) / "runs" / RUN_ID
    (run / "link-in.pb.gz").symlink_to(run / FAULT_CPU)
    (run / "link-out.pb.gz").symlink_to(built.fault / "cpu.pb.gz")
    (run / "dev.pb.gz").symlink_to("/dev/zero")
    paths = ["../../../../etc/passwd", "/etc/passwd", str(built.fault / "cpu.pb.gz"), "link-out.pb.gz",
             "dev.pb.gz", "profiles/../../x.pb.gz", "link-in.pb.gz", "profiles/../" + FAULT_CPU, "bad\0path"]
    edit_manifest(run, lambda m: m.update(artifacts=[{"kind": "cpu", "path": p} for p in paths]))
    info = contract.read_run(run)
    assert [a.path.name for a in info.artifacts] == ["link-in.pb.gz", "cpu.pb.gz"]
    assert len(info.problems) == 7 and all("points outside the run directory" in p for p in info.problems)


def _in_thread(fn, timeout: float = 10.0):
    """fn() in a thread: (finished in time, its result or exception)."""
    out: list = []

    def call():
        try:
            out.append(fn())
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)
    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(timeout)
    return (not t.is_alive()), (out[0] if out else None)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_and_devices_are_not_read(tmp_path):
    fifo = tmp_path / "cpu.pb.gz"
    os.mkfifo(fifo)
    try:
        done, got = _in_thread(lambda: pprof.load_profile(fifo))      # before: open() blocked for good
        assert done and isinstance(got, pprof.ProfileError) and "not a regular file" in str(got)
        os.mkfifo(tmp_path / "manifest.json")
        done, got = _in_thread(lambda: contract.read_run(tmp_path))
        assert done and "not a regular file" in got.error
    finally:   # a reader still blocked in open() (the code before the change) gets end of file
        for f in (fifo, tmp_path / "manifest.json"):
            if f.exists():
                _release(f)
    for device in ("/dev/null", "/dev/zero"):
        with pytest.raises(pprof.ProfileError, match="not a regular file"):
            pprof.load_profile(device)


def _release(fifo: Path) -> None:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))    # fails when nobody reads: fine
    except OSError:
        pass


def test_gzip_bomb_capped(tmp_path):
    bomb = gzip_bomb(tmp_path / "cpu.pb.gz", 1024)                 # 1 MB that inflates to 1 GiB
    assert bomb.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(pprof.ProfileTooLarge) as err:
            pprof.load_profile(bomb, max_bytes=16 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(bomb) in str(err.value) and "16 MiB" in str(err.value)
    assert peak < 48 << 20, f"inflating took {peak >> 20} MiB"


def test_profile_file_over_the_limit_is_not_read(tmp_path, built):
    big = tmp_path / "cpu.pprof"
    big.write_bytes(bytes(3 << 20))
    with pytest.raises(pprof.ProfileTooLarge, match=r"file of 3145728 bytes, more than the limit of 1 MiB"):
        pprof.load_profile(big, max_bytes=1 << 20)
    assert pprof.load_profile(built.fault / "cpu.pb.gz", max_bytes=1 << 20).sample_count > 0


async def test_gzip_bomb_message_names_file_limit_and_setting(client, workspace):
    await ready(client)
    cpu = run_of(workspace) / FAULT_CPU
    gzip_bomb(cpu, 8)
    status = await settings(client, maxProfileMiB=1)
    assert str(cpu) in status["message"] and "1 MiB" in status["message"]
    assert "harness.maxProfileMiB" in status["message"]
    status = await settings(client, maxProfileMiB=64)                # a higher limit reads it: zeros
    assert "not a pprof profile" in status["message"]
    await settings(client, maxProfileMiB=-1)
    assert told(client, "harness.maxProfileMiB: expected a number of MiB above 0")


# ---- item 5: implausible values are not painted ----------------------------------------------------

async def test_negative_values_implausible(client, workspace, built):
    uri = open_doc(client, workspace / "goprog" / "main.go")
    assert await hints(client, uri)
    cpu = run_of(workspace) / FAULT_CPU

    def negative(msg):
        msg.sample[0].value[1] = -490_000_000
    edit_profile(built.fault / "cpu.pb.gz", cpu, negative)
    for _ in range(2):
        status = await command(client, "harness.reload")
    assert await hints(client, uri) == []                           # before: "-490ms 100%"
    assert "implausible profile" in status["message"] and str(cpu) in status["message"]
    assert "negative cpu values (lowest -490000000 nanoseconds)" in status["message"]
    assert len(told(client, "implausible")) == 1


def test_huge_and_impossible_values_implausible(built, tmp_path):
    def load(change, kind="cpu"):
        edit_profile(built.fault / f"{kind}.pb.gz", tmp_path / "p.pb.gz", change)
        return pprof.implausible(pprof.load_profile(tmp_path / "p.pb.gz"))

    def int64_max(msg):
        msg.sample[0].value[:] = [INT64_MAX] * len(msg.sample[0].value)

    def busy(msg):             # 10,000 CPUs' worth of time in the profile's duration
        msg.sample[0].value[1] = msg.duration_nanos * 10_000

    def shrunk(msg):           # in-use memory may shrink between two snapshots
        msg.sample[0].value[3] = -4096
    assert "beyond any measurement" in load(int64_max)
    assert "more than 1024 CPUs could spend" in load(busy)
    assert load(shrunk, "heap") is None
    for kind in ("cpu", "allocs", "heap", "block", "mutex", "goroutine"):   # valid profiles are unaffected
        for where in (built.baseline, built.fault):
            assert pprof.implausible(pprof.load_profile(where / f"{kind}.pb.gz")) is None, (where, kind)
