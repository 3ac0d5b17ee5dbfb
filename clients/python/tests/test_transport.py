"""The client's HTTP behaviour, against a scripted server: keep-alive per
thread, reconnecting when the service closed an idle connection, which
answers are retried (reads only) and how errors are mapped."""

from __future__ import annotations

import threading

import pytest

from mnemo_client import (
    Client,
    EmbeddingUnavailable,
    InvalidRequest,
    RateLimited,
    TransportError,
    Unavailable,
)
from scripted_http import ScriptedServer, error_reply, json_reply

NPC = {
    "id": 1, "npc_id": 7, "speaker_id": 2, "speaker_name": "Tim", "npc_name": "Mira",
    "user_message": "hi", "assistant_message": "hello", "summary": "s", "interaction_type": "say",
    "importance": None, "metadata": {}, "created_at": "2026-01-01T12:00:00.123456789Z",
    "embedding_model": "mnemo-hash-v1", "expires_at": None, "game_time": None, "repeat_count": 1,
    "last_seen_at": "2026-01-01T12:00:00.123456789Z",
}
RECENT = json_reply(200, {"items": [{**NPC, "time_ago": "a few minutes ago"}]})
STORED = json_reply(201, {**NPC, "embedding_state": "ready"})


@pytest.fixture
def scripted(request):
    servers = []

    def start(*replies, **kwargs):
        s = ScriptedServer(list(replies), **kwargs)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def client_for(server, **kwargs):
    return Client(server.url, "mnemo_test", timeout=5.0, **kwargs)


def test_one_thread_reuses_one_connection(scripted):
    server = scripted(RECENT)
    with client_for(server) as c:
        for _ in range(3):
            c.recent(7)
    assert len(server.requests) == 3
    assert server.connections == 1


def test_each_thread_has_its_own_connection(scripted):
    server = scripted(RECENT)
    with client_for(server) as c:
        threads = [threading.Thread(target=lambda: [c.recent(7) for _ in range(2)]) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(server.requests) == 4
    assert server.connections == 2


def test_a_write_after_the_service_closed_the_idle_connection_goes_out_once(scripted):
    server = scripted(RECENT, STORED, close_after_reply=True)
    with client_for(server) as c:
        c.recent(7)
        assert server.closed.wait(5)
        stored = c.store(7, user_message="hi")
    assert stored.embedding_state == "ready"
    assert [r[0] for r in server.requests] == ["GET", "POST"]
    assert server.connections == 2


def test_reads_are_retried_after_a_retryable_answer(scripted):
    server = scripted(error_reply(503, "database_unavailable", {"Retry-After": "0"}), RECENT)
    with client_for(server) as c:
        assert [m.id for m in c.recent(7)] == [1]
    assert len(server.requests) == 2


def test_writes_are_never_retried(scripted):
    server = scripted(error_reply(503, "database_unavailable", {"Retry-After": "0"}), STORED)
    with client_for(server) as c, pytest.raises(Unavailable) as e:
        c.store(7, user_message="hi")
    assert e.value.code == "database_unavailable"
    assert len(server.requests) == 1


def test_retries_stop_after_the_limit(scripted):
    server = scripted(error_reply(503, "not_ready", {"Retry-After": "0"}))
    with client_for(server, retries=2) as c, pytest.raises(Unavailable):
        c.recent(7)
    assert len(server.requests) == 3


def test_a_wait_longer_than_allowed_is_not_taken(scripted):
    server = scripted(error_reply(429, "rate_limited", {"Retry-After": "30"}), RECENT)
    with client_for(server, max_retry_wait=2.0) as c, pytest.raises(RateLimited) as e:
        c.recent(7)
    assert e.value.retry_after == 30.0
    assert len(server.requests) == 1


@pytest.mark.parametrize("code", ["embedding_unavailable", "model_mismatch"])
def test_answers_that_waiting_does_not_fix_are_not_retried(scripted, code):
    server = scripted(error_reply(503, code, {"Retry-After": "0"}), RECENT)
    with client_for(server) as c, pytest.raises(Unavailable) as e:
        c.search(7, "hello")
    assert e.value.code == code
    assert isinstance(e.value, EmbeddingUnavailable) == (code == "embedding_unavailable")
    assert len(server.requests) == 1


def test_retry_after_as_an_http_date(scripted):
    server = scripted(error_reply(429, "rate_limited", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), RECENT)
    with client_for(server, retries=0) as c, pytest.raises(RateLimited) as e:
        c.recent(7)
    assert e.value.retry_after == 0.0


def test_an_error_carries_code_field_and_request_id(scripted):
    body = {"error": {"code": "invalid", "message": "must be between 1 and 100", "field": "top_k"}}
    server = scripted(json_reply(400, body, {"x-request-id": "abc123"}))
    with client_for(server) as c, pytest.raises(InvalidRequest) as e:
        c.search(7, "hello", top_k=101)
    err = e.value
    assert (err.status, err.code, err.field, err.request_id) == (400, "invalid", "top_k", "abc123")
    assert "top_k" in str(err)


def test_an_error_page_that_is_not_mnemo_json_keeps_its_text(scripted):
    server = scripted((502, {"Content-Type": "text/html"}, b"<h1>Bad Gateway</h1>"))
    with client_for(server, retries=0) as c, pytest.raises(Unavailable) as e:
        c.recent(7)
    assert (e.value.status, e.value.code) == (502, None)
    assert "Bad Gateway" in e.value.message


def test_nothing_listening_is_a_transport_error(scripted):
    server = scripted(RECENT)
    url = server.url
    server.stop()
    with Client(url, "mnemo_test", timeout=2.0, retries=1) as c, pytest.raises(TransportError):
        c.recent(7)


def test_a_failed_embedding_page_is_typed(scripted):
    item = {"id": 7, "text": "An account of the siege", "error": "HTTP 400: too long",
            "failed_at": "2026-01-01T12:00:00Z"}
    server = scripted(json_reply(200, {"items": [item], "next_after": 7}))
    with client_for(server) as c:
        page = c.list_failed("lore", limit=1)
    [failed] = page.items
    assert (failed.id, failed.error) == (7, "HTTP 400: too long")
    assert failed.failed_at.isoformat() == "2026-01-01T12:00:00+00:00"
    assert page.next_after == 7
    assert server.requests[0][1] == "/v1/memories/failed?kind=lore&limit=1"


def test_requests_carry_the_token_and_json(scripted):
    seen = {}

    def respond(method, path, body):
        seen.update(method=method, path=path, body=body)
        return STORED

    server = ScriptedServer(respond=respond)
    try:
        with client_for(server) as c:
            c.store(7, speaker_id=2, user_message="hi", embedding=[1.0, 0.0])
    finally:
        server.stop()
    assert (seen["method"], seen["path"]) == ("POST", "/v1/memories/npc")
    assert b'"embedding_b64": "AACAPwAAAAA="' in seen["body"]
    assert b'"summary"' not in seen["body"]


@pytest.mark.parametrize(
    "url, token, timeout",
    [("ftp://x", "t", 1.0), ("http://", "t", 1.0), ("http://x", "", 1.0), ("http://x", "t", 0)],
)
def test_bad_settings_are_refused(url, token, timeout):
    with pytest.raises(ValueError):
        Client(url, token, timeout)
