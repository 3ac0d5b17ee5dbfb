"""Fixtures: a real ``mnemo serve`` per session (and per module where a test
needs other settings), clients on it, and fresh ids so tests do not see each
other's memories."""

from __future__ import annotations

import itertools

import pytest

from mnemo_client import Client, fcm
from mnemo_server import MnemoServer

_ids = itertools.count(10_000)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = MnemoServer(tmp_path_factory.mktemp("mnemo") / "data")
    yield s
    assert s.stop() == 0, "\n".join(s.log)


@pytest.fixture
def client(server):
    with Client(server.url, server.token, timeout=10.0) as c:
        yield c


@pytest.fixture
def fcm_on(server):
    """``mnemo_client.fcm`` configured for the session's server."""
    c = fcm.configure(url=server.url, token=server.token, timeout=10.0)
    yield fcm
    c.close()


@pytest.fixture
def new_id():
    """A function returning ids no other test uses (NPCs, speakers)."""
    return lambda: next(_ids)
