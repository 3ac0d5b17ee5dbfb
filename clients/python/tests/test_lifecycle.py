"""The memory lifecycle through ``Client`` against a real mnemo: search modes
and their account (``Hits``), repeats, budgets with the forgotten log, expiry
and game time."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from mnemo_client import Forgotten, Hits, MemoryPolicy, RecentNpcMemory


def test_searches_say_how_they_went_in_every_mode(client, new_id):
    npc = new_id()
    client.store(npc, summary="Vexmoor walks the marsh at night")
    client.store(npc, summary="the harvest will be poor")

    for mode in ("vector", "keyword", "hybrid"):
        hits = client.search(npc, "Vexmoor", mode=mode, top_k=5)
        assert isinstance(hits, Hits)
        assert (hits.mode, hits.requested, hits.returned, hits.degraded) == (mode, 5, len(hits), False)
        assert hits.exhausted, "two memories, five asked for"
        assert hits[0].summary == "Vexmoor walks the marsh at night"
    [by_words] = client.search(npc, "Vexmoor", mode="keyword", top_k=1)
    assert by_words.similarity is None and by_words.score > 0


def test_a_repeat_is_deduplicated(client, new_id):
    npc = new_id()
    first = client.store(npc, speaker_id=1, summary="Well met!")
    again = client.store(npc, speaker_id=1, summary="well  MET!")
    assert (first.deduplicated, again.deduplicated) == (False, True)
    assert (again.id, again.repeat_count) == (first.id, 2)


def test_a_budget_forgets_and_says_so(client, new_id):
    npc = new_id()
    policy = client.set_memory_policy(npc, max_memories=1)
    assert isinstance(policy, MemoryPolicy) and policy.budget == 1
    small_talk = client.store(npc, summary="nice weather", importance=0.1)
    quest = client.store(npc, summary="find the lost crown", importance=0.9)

    assert [m.id for m in client.list_npc(npc_id=npc).items] == [quest.id]
    [entry] = client.forgotten(npc).items
    assert isinstance(entry, Forgotten)
    assert (entry.id, entry.reason, entry.summary) == (small_talk.id, "budget", "nice weather")
    assert client.memory_policy(npc).max_memories == 1


def test_expiry_and_game_time(client, new_id):
    npc = new_id()
    then = datetime(1200, 3, 1, 8, tzinfo=timezone.utc)
    kept = client.store(npc, speaker_id=1, summary="the old oath", game_time=then)
    client.store(npc, speaker_id=1, summary="a passing remark", ttl_seconds=1)
    time.sleep(1.2)

    [recent] = client.recent(npc, game_now=then + timedelta(days=3))
    assert isinstance(recent, RecentNpcMemory)
    assert (recent.id, recent.game_time, recent.time_ago) == (kept.id, then, "a few days ago")
    last = client.last_interaction(npc, 1, game_now=then + timedelta(days=3))
    assert last is not None and last.game_time == then
