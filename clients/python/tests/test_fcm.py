"""The original ``ai_memory.services`` expectations (its
``tests/command_tests/test_ai_memory.py`` and the behaviour its game relies
on), held against ``mnemo_client.fcm`` on a real mnemo. The service's offline
``hash`` provider matches words, so similarity here means shared words."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from mnemo_client import InvalidRequest, LoreMemory


def obj(id_, key):
    """An Evennia-like object: the functions read only ``.id`` and ``.key``."""
    return SimpleNamespace(id=id_, key=key)


def test_store_memory_stores_the_exchange_with_the_original_summary(fcm_on, client, new_id):
    npc, speaker = obj(new_id(), "TestNPC"), obj(new_id(), "Player1")

    assert fcm_on.store_memory(npc, speaker, "hello", "hi there!") is None

    [stored] = client.recent(npc.id)
    assert stored.speaker_name == "Player1"
    assert stored.npc_name == "TestNPC"
    assert stored.summary == 'Player1 said: "hello" | TestNPC replied: "hi there!"'
    assert stored.interaction_type == "say"
    assert stored.embedding_model is not None


def test_store_memory_keeps_the_interaction_type(fcm_on, client, new_id):
    npc, speaker = obj(new_id(), "Gate Guard"), obj(new_id(), "Tim")

    fcm_on.store_memory(npc, speaker, "psst", "what?", interaction_type="whisper")

    assert client.recent(npc.id)[0].interaction_type == "whisper"


def test_search_memories_ranks_by_similarity(fcm_on, new_id):
    npc, speaker = obj(new_id(), "N"), obj(new_id(), "P")
    fcm_on.store_memory(npc, speaker, "about swords", "I sell swords")
    fcm_on.store_memory(npc, speaker, "about magic", "I know nothing of magic")

    results = fcm_on.search_memories(npc_id=npc.id, query_text="swords")

    assert len(results) == 2
    assert results[0]["similarity"] > results[1]["similarity"]
    assert "swords" in results[0]["user_message"]


def test_search_memories_returns_the_original_keys_and_types(fcm_on, new_id):
    npc, speaker = obj(new_id(), "Mira"), obj(new_id(), "Aldric")
    fcm_on.store_memory(npc, speaker, "is the bridge out", "take the ford")

    [hit] = fcm_on.search_memories(npc.id, "bridge")

    assert set(hit) == {
        "summary", "user_message", "assistant_message", "similarity", "created_at", "time_ago", "speaker_name",
    }
    assert isinstance(hit["similarity"], float)
    assert hit["created_at"].tzinfo is not None
    assert abs(datetime.now(timezone.utc) - hit["created_at"]) < timedelta(minutes=5)
    assert hit["time_ago"] == "a few minutes ago"
    assert hit["speaker_name"] == "Aldric"


def test_search_memories_top_k_and_speaker_filter(fcm_on, new_id):
    npc, tim, ann = obj(new_id(), "Smith"), obj(new_id(), "Tim"), obj(new_id(), "Ann")
    for i in range(3):
        fcm_on.store_memory(npc, tim, f"horseshoe number {i}", "done")
    fcm_on.store_memory(npc, ann, "a horseshoe for me", "done")

    assert len(fcm_on.search_memories(npc.id, "horseshoe", top_k=2)) == 2
    only_ann = fcm_on.search_memories(npc.id, "horseshoe", speaker_id=ann.id)
    assert [r["speaker_name"] for r in only_ann] == ["Ann"]
    # As the original: a speaker id of 0 means every speaker.
    assert len(fcm_on.search_memories(npc.id, "horseshoe", speaker_id=0)) == 4


def test_search_memories_falls_back_to_the_name_after_a_wipe(fcm_on, new_id):
    name = f"Chatty{new_id()}"  # names are shared by every test on the server
    old, speaker = obj(new_id(), name), obj(new_id(), "Player")
    fcm_on.store_memory(old, speaker, "the red dragon", "it sleeps in the hills")
    rebuilt_npc_id = new_id()

    assert fcm_on.search_memories(rebuilt_npc_id, "dragon") == []
    [hit] = fcm_on.search_memories(rebuilt_npc_id, "dragon", npc_name=name)
    assert hit["user_message"] == "the red dragon"


def test_search_memories_with_top_k_zero_finds_nothing(fcm_on, new_id):
    npc = obj(new_id(), "N")
    fcm_on.store_memory(npc, obj(new_id(), "P"), "anything", "at all")

    assert fcm_on.search_memories(npc.id, "anything", top_k=0) == []


def test_search_memories_top_k_above_the_service_limit_names_the_field(fcm_on, new_id):
    with pytest.raises(InvalidRequest) as e:
        fcm_on.search_memories(new_id(), "anything", top_k=101)
    assert e.value.field == "top_k"


def test_get_recent_memories_is_chronological(fcm_on, new_id):
    npc, speaker = obj(new_id(), "N"), obj(new_id(), "P")
    fcm_on.store_memory(npc, speaker, "first", "reply1")
    fcm_on.store_memory(npc, speaker, "second", "reply2")

    results = fcm_on.get_recent_memories(npc_id=npc.id, limit=10)

    assert [r["user_message"] for r in results] == ["first", "second"]
    assert set(results[0]) == {"summary", "user_message", "assistant_message", "created_at", "time_ago", "speaker_name"}
    assert results[0]["time_ago"] == "a few minutes ago"


def test_get_recent_memories_keeps_the_newest_limit(fcm_on, new_id):
    npc, speaker = obj(new_id(), "N"), obj(new_id(), "P")
    for word in ("one", "two", "three", "four"):
        fcm_on.store_memory(npc, speaker, word, "ok")

    assert [r["user_message"] for r in fcm_on.get_recent_memories(npc.id, limit=2)] == ["three", "four"]
    assert fcm_on.get_recent_memories(npc.id, limit=0) == []
    with pytest.raises(ValueError):
        fcm_on.get_recent_memories(npc.id, limit=101)


def test_name_fallback_after_a_wipe(fcm_on, new_id):
    name = f"Chatty{new_id()}"
    fcm_on.store_memory(obj(new_id(), name), obj(new_id(), "Player"), "hello", "howdy!")

    results = fcm_on.get_recent_memories(npc_id=new_id(), npc_name=name)

    assert len(results) == 1
    assert results[0]["user_message"] == "hello"


def test_get_last_interaction_time(fcm_on, new_id):
    npc, tim = obj(new_id(), "Chatty"), obj(new_id(), "Tim")
    fcm_on.store_memory(npc, tim, "hey", "hello!")

    dt, time_ago = fcm_on.get_last_interaction_time(npc_id=npc.id, speaker_id=tim.id)

    assert dt is not None and dt.tzinfo is not None
    assert time_ago == "a few minutes ago"


def test_get_last_interaction_time_is_the_newest_exchange(fcm_on, new_id):
    npc, tim = obj(new_id(), "Chatty"), obj(new_id(), "Tim")
    fcm_on.store_memory(npc, tim, "first", "ok")
    fcm_on.store_memory(npc, tim, "second", "ok")
    newest = fcm_on.get_recent_memories(npc.id, limit=1)[0]["created_at"]

    dt, _ = fcm_on.get_last_interaction_time(npc.id, tim.id)

    assert dt == newest


def test_get_last_interaction_time_no_history(fcm_on, new_id):
    assert fcm_on.get_last_interaction_time(npc_id=new_id(), speaker_id=new_id()) == (None, None)


def test_get_last_interaction_time_falls_back_to_names_after_a_wipe(fcm_on, new_id):
    inn = f"Innkeeper{new_id()}"
    old_npc, old_tim, ann = obj(new_id(), inn), obj(new_id(), "Tim"), obj(new_id(), "Ann")
    fcm_on.store_memory(old_npc, old_tim, "a room please", "two silver")
    fcm_on.store_memory(old_npc, ann, "an ale", "here")
    # The world is rebuilt: the NPC and Tim have new ids; the NPC has met Ann again.
    new_npc, new_tim = obj(new_id(), inn), obj(new_id(), "Tim")
    fcm_on.store_memory(new_npc, obj(new_id(), "Ann"), "hello again", "welcome back")
    tims_exchange = fcm_on.get_recent_memories(old_npc.id, limit=2)[0]

    dt, time_ago = fcm_on.get_last_interaction_time(new_npc.id, new_tim.id, npc_name=inn, speaker_name="Tim")
    assert (dt, time_ago) == (tims_exchange["created_at"], "a few minutes ago")
    # Without the names there is no fallback, as in the original.
    assert fcm_on.get_last_interaction_time(new_npc.id, new_tim.id) == (None, None)
    assert fcm_on.get_last_interaction_time(new_npc.id, new_tim.id, inn, "Nobody") == (None, None)


def test_store_lore_outcomes(fcm_on, new_id):
    source = f"millholm/regional-{new_id()}.yaml"

    entry, status = fcm_on.store_lore("The Mill", "The mill burned down.", "regional", ["millholm"], source)
    assert status == "created"
    assert isinstance(entry, LoreMemory)
    assert (entry.title, entry.content, entry.scope_level, entry.scope_tags, entry.source) == (
        "The Mill", "The mill burned down.", "regional", ["millholm"], source,
    )
    assert entry.created_at.tzinfo is not None and entry.updated_at.tzinfo is not None

    again, status = fcm_on.store_lore("The Mill", "The mill burned down.", "regional", ["millholm"], source)
    assert (again.id, status) == (entry.id, "unchanged")

    changed, status = fcm_on.store_lore("The Mill", "The mill was rebuilt.", "regional", ["millholm"], source)
    assert (changed.id, status, changed.content) == (entry.id, "updated", "The mill was rebuilt.")

    retagged, status = fcm_on.store_lore("The Mill", "The mill was rebuilt.", "local", ["millholm_town"], source)
    assert (retagged.id, status, retagged.scope_tags) == (entry.id, "updated", ["millholm_town"])


def test_search_lore_applies_the_access_rule(fcm_on, new_id):
    word = f"grail{new_id()}"  # a word only this test's entries carry
    source = f"lore-{word}.yaml"
    fcm_on.store_lore("Everyone", f"the {word} is a legend", "continental", [], source)
    fcm_on.store_lore("Millholm", f"the {word} was seen in millholm", "regional", ["millholm"], source)
    fcm_on.store_lore("Guild secret", f"the guild hides the {word}", "faction", ["thieves_guild", "millholm"], source)

    def titles(tags):
        return sorted(r["title"] for r in fcm_on.search_lore(word, tags, top_k=10))

    assert titles([]) == ["Everyone"]
    assert titles(["millholm"]) == ["Everyone", "Millholm"]
    # Every one of an entry's tags is needed: a thief elsewhere does not know it.
    assert titles(["thieves_guild"]) == ["Everyone"]
    assert titles(["thieves_guild", "millholm"]) == ["Everyone", "Guild secret", "Millholm"]


def test_search_lore_ranks_by_similarity_with_the_original_keys(fcm_on, new_id):
    word = f"relic{new_id()}"
    source = f"lore-{word}.yaml"
    fcm_on.store_lore("Relic", f"the {word} lies under the old chapel", "continental", [], source)
    fcm_on.store_lore("Chapel", f"the old chapel and the {word}", "continental", [], source)

    results = fcm_on.search_lore(f"the {word} lies under the old chapel", [], top_k=3)

    assert [r["title"] for r in results[:2]] == ["Relic", "Chapel"]
    assert set(results[0]) == {"title", "content", "scope_level", "similarity"}
    assert results[0]["similarity"] == pytest.approx(1.0, abs=1e-5)
    assert results[0]["similarity"] > results[1]["similarity"]
    assert len(fcm_on.search_lore(word, [], top_k=1)) == 1


def test_get_recent_lore_newest_readable_first(fcm_on, new_id):
    tag = f"zone{new_id()}"
    fcm_on.store_lore("Older", "old news", "regional", [tag], f"{tag}.yaml")
    fcm_on.store_lore("Newer", "new news", "regional", [tag], f"{tag}.yaml")
    fcm_on.store_lore("Hidden", "guild news", "faction", [tag, "guild"], f"{tag}.yaml")

    recent = fcm_on.get_recent_lore([tag], limit=2)

    assert [r["title"] for r in recent] == ["Newer", "Older"]
    assert set(recent[0]) == {"title", "content", "scope_level"}
