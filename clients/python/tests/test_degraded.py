"""When mnemo cannot do what was asked: its embedding provider is down (a
scripted OpenAI-compatible server answering 500), or the token is over its
rate. ``mnemo_client.fcm`` raises a documented exception where the original
silently answered something else."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mnemo_client import Client, EmbeddingUnavailable, RateLimited, fcm
from mnemo_server import MnemoServer
from scripted_http import ScriptedServer, json_reply


@pytest.fixture(scope="module")
def provider_down(tmp_path_factory):
    """A mnemo whose OpenAI provider answers 500 to everything."""
    provider = ScriptedServer([json_reply(500, {"error": {"message": "provider down"}})])
    server = MnemoServer(
        tmp_path_factory.mktemp("down") / "data",
        {
            "MNEMO_EMBEDDING_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": provider.url + "/v1",
        },
    )
    yield server
    server.stop()
    provider.stop()


@pytest.fixture
def down_fcm(provider_down):
    c = fcm.configure(url=provider_down.url, token=provider_down.token, timeout=15.0)
    yield fcm
    c.close()


def test_a_memory_stored_while_the_provider_is_down_is_kept_pending(down_fcm, new_id):
    npc, speaker = SimpleNamespace(id=new_id(), key="Mira"), SimpleNamespace(id=new_id(), key="Tim")

    assert down_fcm.store_memory(npc, speaker, "is the river rising", "it is") is None

    [m] = fcm._get().recent(npc.id)
    assert m.embedding_model is None
    assert down_fcm.get_recent_memories(npc.id)[0]["user_message"] == "is the river rising"


def test_a_search_that_cannot_embed_raises_instead_of_answering_recent(down_fcm, new_id):
    npc, speaker = SimpleNamespace(id=new_id(), key="Mira"), SimpleNamespace(id=new_id(), key="Tim")
    down_fcm.store_memory(npc, speaker, "the river", "is rising")

    with pytest.raises(EmbeddingUnavailable) as e:
        down_fcm.search_memories(npc.id, "river")
    assert (e.value.status, e.value.code) == (503, "embedding_unavailable")
    assert e.value.retry_after is not None


def test_a_lore_search_that_cannot_embed_raises(down_fcm):
    with pytest.raises(EmbeddingUnavailable):
        down_fcm.search_lore("the river", ["riverlands"])


def test_lore_stored_while_down_is_pending_and_keeps_its_outcome(down_fcm, new_id):
    source = f"down-{new_id()}.yaml"
    entry, status = down_fcm.store_lore("Ford", "Cross at the ford.", "regional", ["riverlands"], source)
    assert (status, entry.embedding_state) == ("created", "pending")

    changed, status = down_fcm.store_lore("Ford", "The ford is flooded.", "regional", ["riverlands"], source)
    assert (changed.id, status, changed.embedding_state) == (entry.id, "updated", "pending")
    assert fcm._get().get_lore(entry.id).content == "The ford is flooded."


def test_context_says_it_is_degraded(provider_down, new_id):
    with Client(provider_down.url, provider_down.token, timeout=15.0) as c:
        ctx = c.context(new_id(), new_id(), "hello there")
    assert ctx.degraded and ctx.degraded_reason
    assert (ctx.lore, ctx.memories) == ([], [])


def test_over_the_rate_is_rate_limited_with_retry_after(tmp_path):
    server = MnemoServer(tmp_path / "data", {"MNEMO_RATE_LIMIT_PER_SECOND": "1", "MNEMO_RATE_LIMIT_BURST": "1"})
    try:
        with Client(server.url, server.token, retries=0) as c, pytest.raises(RateLimited) as e:
            # One request per second is allowed: 50 in a row exceed it however slow the machine.
            for _ in range(50):
                c.recent(1)
    finally:
        server.stop()
    assert (e.value.status, e.value.code) == (429, "rate_limited")
    assert e.value.retry_after >= 1
