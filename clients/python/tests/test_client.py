"""``Client`` against a real mnemo: one test per route family, typed results,
and the errors the service answers with."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mnemo_client import (
    AuthError,
    Client,
    CombatMemory,
    InvalidRequest,
    LastInteraction,
    LoreMemory,
    NotFound,
    NpcMemory,
    ScoredNpcMemory,
    StoredNpcMemory,
)


def unit(i: int, dim: int = 1536):
    v = [0.0] * dim
    v[i] = 1.0
    return v


def test_store_returns_the_typed_memory(client, new_id):
    npc = new_id()

    m = client.store(npc, speaker_id=7, speaker_name="Aldric", npc_name="Mira",
                     user_message="is the bridge out?", assistant_message="take the ford",
                     importance=0.4, metadata={"zone": "riverlands"})

    assert isinstance(m, StoredNpcMemory)
    assert (m.npc_id, m.speaker_id, m.embedding_state, m.importance, m.metadata) == (
        npc, 7, "ready", 0.4, {"zone": "riverlands"})
    assert m.summary == 'Aldric said: "is the bridge out?" | Mira replied: "take the ford"'
    assert m.created_at.tzinfo is not None
    assert abs(datetime.now(timezone.utc) - m.created_at) < timedelta(minutes=5)
    assert client.get_npc(m.id) == NpcMemory(**{k: v for k, v in vars(m).items()
                                                 if k not in ("embedding_state", "embedding_error", "deduplicated")})


def test_search_by_own_vector_and_by_text(client, new_id):
    npc = new_id()
    [a, b] = client.store_batch([
        {"npc_id": npc, "summary": "the wolves came at dusk", "embedding": unit(3)},
        {"npc_id": npc, "summary": "bread is cheap today", "embedding": unit(4)},
    ])

    [hit] = client.search(npc, embedding=unit(4), top_k=1)
    assert isinstance(hit, ScoredNpcMemory)
    assert (hit.id, hit.similarity, hit.time_ago) == (b.id, pytest.approx(1.0), "a few minutes ago")
    assert [h.id for h in client.search(npc, embedding=unit(3), min_similarity=0.5)] == [a.id]


def test_recent_last_interaction_and_context(client, new_id):
    npc, tim = new_id(), new_id()
    for word in ("first", "second", "third"):
        client.store(npc, speaker_id=tim, speaker_name="Tim", npc_name="Mira",
                     user_message=f"the {word} question", assistant_message="an answer")

    assert [m.user_message for m in client.recent(npc, 2)] == ["the second question", "the third question"]
    last = client.last_interaction(npc, tim)
    assert isinstance(last, LastInteraction) and last.time_ago == "a few minutes ago"
    assert client.last_interaction(npc, new_id()) is None

    ctx = client.context(npc, tim, "the third question", lore_tags=["nowhere"])
    assert not ctx.degraded and ctx.degraded_reason is None
    assert [m.user_message for m in ctx.recent] == [
        "the first question", "the second question", "the third question"]
    assert ctx.memories[0].user_message == "the third question"
    assert ctx.last_interaction.created_at == last.created_at


def test_list_pages_and_deletes(client, new_id):
    npc, speaker = new_id(), new_id()
    ids = [client.store(npc, speaker_id=speaker, user_message=f"note {i}").id for i in range(3)]

    first = client.list_npc(npc_id=npc, limit=2)
    rest = client.list_npc(npc_id=npc, limit=2, after=first.next_after)
    assert [m.id for m in first.items + rest.items] == ids
    assert rest.next_after is None

    client.delete_npc(ids[0])
    with pytest.raises(NotFound) as e:
        client.get_npc(ids[0])
    assert (e.value.status, e.value.code) == (404, "not_found")
    assert client.forget_speaker(speaker) == 2
    assert client.forget_npc(npc) == 0


def test_combat_routes(client, new_id):
    mob = f"gnoll{new_id()}"
    won = client.store_combat(mob, "win", "two warriors charged and fell", mob_name="Grik",
                              party_composition=[{"name": "Bob", "class": "warrior", "level": 10}],
                              hp_remaining_pct=80.0)
    fled = client.store_combat(mob, "fled", "a mage burnt us with fire", party_size=3)

    assert (won.party_size, won.embedding_state) == (1, "ready")
    hits = client.search_combat(mob, "a mage with fire spells", top_k=2)
    assert hits[0].id == fled.id
    assert [h.id for h in client.search_combat(mob, "fire", scope="per_instance", mob_name="Grik")] == [won.id]
    assert [h.id for h in client.search_combat(mob, "fire", outcome="win")] == [won.id]
    assert isinstance(client.get_combat(won.id), CombatMemory)
    assert [m.id for m in client.list_combat(mob_type=mob).items] == [won.id, fled.id]
    client.delete_combat(fled.id)
    assert [m.id for m in client.list_combat(mob_type=mob).items] == [won.id]


def test_lore_routes(client, new_id):
    source = f"world-{new_id()}.yaml"
    made = client.upsert_lore("The Old Bridge", "The bridge fell in the spring floods.", "regional",
                              ["riverlands", "riverlands", " bridges "], source)
    assert (made.outcome, made.embedding_state, made.scope_tags) == ("created", "ready", ["bridges", "riverlands"])
    assert client.upsert_lore("The Old Bridge", "The bridge fell in the spring floods.", "regional",
                              ["bridges", "riverlands"], source).outcome == "unchanged"

    [hit] = client.search_lore("bridge floods", ["riverlands", "bridges"], top_k=1)
    assert hit.id == made.id
    assert isinstance(client.get_lore(made.id), LoreMemory)
    assert [e.id for e in client.list_lore(source=source).items] == [made.id]
    client.delete_lore(made.id)
    assert list(client.iter_lore(source=source)) == []


def test_lore_import_yaml_and_dict(client, new_id):
    source = f"import-{new_id()}.yaml"
    yaml_text = f"""
source: {source}
entries:
  - title: Harbour
    scope_level: local
    scope_tags: [docks]
    content: Ships unload salt at the harbour.
  - title: Broken
    scope_level: planetary
    content: Not a scope level.
"""
    report = client.import_lore(yaml_text)
    assert (report.source, report.created, report.failed) == (source, 1, 1)
    assert report.failures[0].title == "Broken" and report.failures[0].field == "scope_level"

    again = client.import_lore({"source": source, "entries": []}, prune=True, dry_run=True)
    assert (again.dry_run, again.pruned) == (True, ["Harbour"])
    assert [e.title for e in client.iter_lore(source=source)] == ["Harbour"]


def test_failed_embeddings_are_listed_per_kind(client):
    page = client.list_failed("npc", limit=10)
    assert (page.items, page.next_after) == ([], None)
    with pytest.raises(InvalidRequest) as e:
        client.list_failed("dragons")
    assert e.value.field == "kind"


def test_bad_input_names_the_field(client, new_id):
    for call, field in [
        (lambda: client.search(new_id(), "x", top_k=101), "top_k"),
        (lambda: client.store(new_id(), npc_name="n" * 81, user_message="x"), "npc_name"),
        (lambda: client.store(new_id(), user_message="x", embedding=[1.0, 2.0]), "embedding_b64"),
        (lambda: client.upsert_lore("t", "c", "planetary"), "scope_level"),
    ]:
        with pytest.raises(InvalidRequest) as e:
            call()
        assert (e.value.status, e.value.code, e.value.field) == (400, "invalid", field)


def test_a_naive_time_filter_is_refused_before_sending(client, new_id):
    with pytest.raises(ValueError, match="since"):
        client.search(new_id(), "x", since=datetime(2026, 1, 1))


def test_tokens_unknown_and_without_the_scope(server, new_id):
    with Client(server.url, "mnemo_not-a-token") as c, pytest.raises(AuthError) as e:
        c.recent(new_id())
    assert (e.value.status, e.value.code) == (401, "unauthorized")

    reader = server.create_token(f"reader-{new_id()}", "memory:read")
    with Client(server.url, reader) as c:
        assert c.recent(new_id()) == []
        with pytest.raises(AuthError) as e:
            c.store(new_id(), user_message="x")
    assert (e.value.status, e.value.code) == (403, "forbidden")
