"""Fixtures for the language server tests: real profiles from a real Go program."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.lsp.lspfixtures import Built, build_and_profile, make_workspace

SERVER = [sys.executable, "-m", "lsp"]


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    return build_and_profile(tmp_path_factory.mktemp("goprog"))


@pytest.fixture
def workspace(tmp_path, built) -> Path:
    return make_workspace(tmp_path / "ws", built)


@pytest.fixture
def init_options() -> dict:
    """Settings sent as initializationOptions; tests override this fixture to change them."""
    return {"pollInterval": 0.2, "threshold": 0.01}


def record(client: LanguageClient) -> None:
    client.heat = []
    client.status_log = []
    client.refreshes = []

    @client.feature("harness/heat")
    def on_heat(ls, params):
        ls.heat.append(params)

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def on_hint_refresh(ls, params):
        ls.refreshes.append("inlayHint")

    @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def on_lens_refresh(ls, params):
        ls.refreshes.append("codeLens")

    @client.feature("harness/status")
    def on_status(ls, params):
        ls.status_log.append(params)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, workspace: Path, init_options: dict):
    record(lsp_client)
    caps = client_capabilities("visual-studio-code")
    caps.workspace.inlay_hint = types.InlayHintWorkspaceClientCapabilities(refresh_support=True)
    params = types.InitializeParams(
        capabilities=caps,
        root_uri=workspace.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
        initialization_options={"harness": init_options},
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()
