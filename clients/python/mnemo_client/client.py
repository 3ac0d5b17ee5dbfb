"""``Client``: one method per memory route of mnemo's REST API (``openapi.yaml``).

Arguments left as ``None`` are not sent, so the service's defaults apply.
Vectors given as ``embedding`` go over the wire as ``embedding_b64`` (base64 of
little-endian f32), which the service parses about ten times faster than JSON
numbers. Results are the dataclasses of :mod:`mnemo_client.models`; errors are
the exceptions of :mod:`mnemo_client.errors`.
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import datetime
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from .models import (
    CombatMemory,
    Context,
    FailedEmbedding,
    Forgotten,
    Hits,
    ImportReport,
    LastInteraction,
    LoreMemory,
    MemoryPolicy,
    NpcMemory,
    Page,
    RecentNpcMemory,
    ScoredCombatMemory,
    ScoredLoreMemory,
    ScoredNpcMemory,
    StoredCombatMemory,
    StoredNpcMemory,
    UpsertedLore,
    build,
    build_all,
    build_hits,
)
from .transport import Transport

#: Largest page the listing routes return.
MAX_PAGE = 500


class Client:
    """A client for one mnemo service.

    ``url`` is the service's base URL (``http://127.0.0.1:8080``), ``token`` an
    API token (``mnemo token create --name npc-ai --scopes
    memory:read,memory:write``), ``timeout`` the seconds allowed for connecting
    and for each wait on the socket. ``retries`` and ``max_retry_wait`` bound
    how reads are retried (writes never are; see :mod:`mnemo_client.transport`).

    Safe to share between threads: each thread uses its own keep-alive
    connection. ``close()`` (or a ``with`` block) closes them all.
    """

    def __init__(
        self,
        url: str,
        token: str,
        timeout: float = 5.0,
        *,
        retries: int = 2,
        max_retry_wait: float = 2.0,
    ) -> None:
        self._http = Transport(url, token, timeout, retries, max_retry_wait)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ── NPC dialogue ────────────────────────────────────────────────────

    def store(
        self,
        npc_id: int,
        *,
        speaker_id: Optional[int] = None,
        speaker_name: Optional[str] = None,
        npc_name: Optional[str] = None,
        user_message: Optional[str] = None,
        assistant_message: Optional[str] = None,
        summary: Optional[str] = None,
        interaction_type: Optional[str] = None,
        importance: Optional[float] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        embedding: Optional[Sequence[float]] = None,
        expires_at: Optional[datetime] = None,
        ttl_seconds: Optional[int] = None,
        game_time: Optional[datetime] = None,
    ) -> StoredNpcMemory:
        """Store one exchange. ``embedding_state`` is ``"pending"`` when the
        provider failed: the memory is stored and becomes searchable later.
        The summary defaults to ``{speaker} said: "{user}" | {npc} replied: "{assistant}"``.
        ``expires_at`` or ``ttl_seconds`` make it expire; ``game_time`` is the
        game's clock now. Saying the same thing again within the dedup window
        answers the first memory with ``deduplicated`` true."""
        body = _body(
            npc_id=npc_id,
            speaker_id=speaker_id,
            speaker_name=speaker_name,
            npc_name=npc_name,
            user_message=user_message,
            assistant_message=assistant_message,
            summary=summary,
            interaction_type=interaction_type,
            importance=importance,
            metadata=metadata,
            embedding_b64=_vector(embedding),
            expires_at=_timestamp("expires_at", expires_at),
            ttl_seconds=ttl_seconds,
            game_time=_timestamp("game_time", game_time),
        )
        return build(StoredNpcMemory, self._http.request("POST", "/v1/memories/npc", json_body=body))

    def store_batch(self, memories: Iterable[Mapping[str, Any]]) -> List[StoredNpcMemory]:
        """Store up to 256 memories (dicts with :meth:`store`'s fields) in one
        provider call and one transaction: all or none."""
        items = []
        for m in memories:
            m = dict(m)
            if "embedding" in m:
                m["embedding_b64"] = _vector(m.pop("embedding"))
            items.append(_body(**m))
        out = self._http.request("POST", "/v1/memories/npc/batch", json_body={"memories": items})
        return build_all(StoredNpcMemory, out["items"])

    def search(
        self,
        npc_id: int,
        query: Optional[str] = None,
        *,
        embedding: Optional[Sequence[float]] = None,
        top_k: Optional[int] = None,
        speaker_id: Optional[int] = None,
        speaker_name: Optional[str] = None,
        npc_name: Optional[str] = None,
        min_similarity: Optional[float] = None,
        since: Optional[datetime] = None,
        until: Optional[datetime] = None,
        weights: Optional[Mapping[str, float]] = None,
        mode: Optional[str] = None,
        game_now: Optional[datetime] = None,
    ) -> Hits:
        """One NPC's memories most similar to ``query`` (or to ``embedding``),
        best first. ``npc_name``/``speaker_name`` are used when the ids have no
        memories (ids change when a game world is rebuilt). ``mode``:
        ``vector`` (default), ``keyword`` or ``hybrid``; ``game_now`` ages
        memories that have a ``game_time`` on the game clock. The result is a
        list of :class:`ScoredNpcMemory` with ``requested``, ``returned`` and
        ``exhausted`` (see :class:`Hits`)."""
        body = _body(
            npc_id=npc_id,
            query=query,
            embedding_b64=_vector(embedding),
            top_k=top_k,
            speaker_id=speaker_id,
            speaker_name=speaker_name,
            npc_name=npc_name,
            min_similarity=min_similarity,
            since=_timestamp("since", since),
            until=_timestamp("until", until),
            weights=weights,
            mode=mode,
            game_now=_timestamp("game_now", game_now),
        )
        out = self._http.request("POST", "/v1/memories/npc/search", json_body=body, read=True)
        return build_hits(ScoredNpcMemory, out)

    def recent(
        self,
        npc_id: int,
        limit: Optional[int] = None,
        *,
        speaker_id: Optional[int] = None,
        npc_name: Optional[str] = None,
        game_now: Optional[datetime] = None,
    ) -> List[RecentNpcMemory]:
        """The newest ``limit`` (1 to 100, default 10) memories of an NPC,
        oldest first, pending ones included; ``npc_name`` when ``npc_id`` has none."""
        query = {
            "npc_id": npc_id,
            "limit": limit,
            "speaker_id": speaker_id,
            "npc_name": npc_name,
            "game_now": _timestamp("game_now", game_now),
        }
        out = self._http.request("GET", "/v1/memories/npc/recent", query=query, read=True)
        return build_all(RecentNpcMemory, out["items"])

    def last_interaction(
        self, npc_id: int, speaker_id: int, *, game_now: Optional[datetime] = None
    ) -> Optional[LastInteraction]:
        """When the NPC last talked with the speaker, or ``None`` if never."""
        query = {"npc_id": npc_id, "speaker_id": speaker_id, "game_now": _timestamp("game_now", game_now)}
        out = self._http.request("GET", "/v1/memories/npc/last-interaction", query=query, read=True)
        last = out["last_interaction"]
        return build(LastInteraction, last) if last else None

    def context(
        self,
        npc_id: int,
        speaker_id: int,
        message: str,
        *,
        lore_tags: Iterable[str] = (),
        npc_name: Optional[str] = None,
        speaker_name: Optional[str] = None,
        mode: Optional[str] = None,
        game_now: Optional[datetime] = None,
    ) -> Context:
        """Before the NPC replies: lore, recent exchanges with this speaker,
        the last interaction and similar memories, with one embedding call."""
        body = _body(
            speaker_id=speaker_id,
            message=message,
            lore_tags=list(lore_tags),
            npc_name=npc_name,
            speaker_name=speaker_name,
            mode=mode,
            game_now=_timestamp("game_now", game_now),
        )
        out = self._http.request("POST", f"/v1/npcs/{int(npc_id)}/context", json_body=body, read=True)
        return Context.from_json(out)

    def get_npc(self, memory_id: int) -> NpcMemory:
        return build(NpcMemory, self._http.request("GET", f"/v1/memories/npc/{int(memory_id)}", read=True))

    def list_npc(
        self,
        *,
        npc_id: Optional[int] = None,
        speaker_id: Optional[int] = None,
        after: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> Page:
        """One page of NPC memories by id (oldest id first)."""
        query = {"npc_id": npc_id, "speaker_id": speaker_id, "after": after, "limit": limit}
        return self._page(NpcMemory, "/v1/memories/npc", query)

    def delete_npc(self, memory_id: int) -> None:
        self._http.request("DELETE", f"/v1/memories/npc/{int(memory_id)}")

    def forget_npc(self, npc_id: int) -> int:
        """Delete everything one NPC remembers; returns how many memories went."""
        out = self._http.request("DELETE", "/v1/memories/npc", query={"npc_id": npc_id})
        return int(out["deleted"])

    def forget_speaker(self, speaker_id: int) -> int:
        """Delete a player from every NPC's memory; returns how many memories went."""
        out = self._http.request("DELETE", f"/v1/speakers/{int(speaker_id)}/memories")
        return int(out["deleted"])

    def memory_policy(self, npc_id: int) -> MemoryPolicy:
        """The NPC's memory policy and what is in force (``budget``)."""
        out = self._http.request("GET", f"/v1/npcs/{int(npc_id)}/memory-policy", read=True)
        return build(MemoryPolicy, out)

    def set_memory_policy(
        self,
        npc_id: int,
        *,
        max_memories: Optional[int] = None,
        half_life_hours: Optional[float] = None,
        keep_newest: Optional[int] = None,
    ) -> MemoryPolicy:
        """Replace the NPC's policy: at most ``max_memories`` memories (``None``:
        the service default, 0: unlimited); over it, those of lowest
        ``importance × 0.5^(age / half_life_hours)`` are forgotten, never the
        newest ``keep_newest``."""
        body = _body(max_memories=max_memories, half_life_hours=half_life_hours, keep_newest=keep_newest)
        out = self._http.request("PUT", f"/v1/npcs/{int(npc_id)}/memory-policy", json_body=body)
        return build(MemoryPolicy, out)

    def forgotten(self, npc_id: int, *, after: Optional[int] = None, limit: Optional[int] = None) -> Page:
        """One page of what the NPC forgot, oldest first, as :class:`Forgotten`
        items (``next_after`` continues by ``seq``)."""
        return self._page(Forgotten, f"/v1/npcs/{int(npc_id)}/forgotten", {"after": after, "limit": limit})

    # ── combat ──────────────────────────────────────────────────────────

    def store_combat(
        self,
        mob_type: str,
        outcome: str,
        summary: str,
        *,
        mob_level: Optional[int] = None,
        mob_name: Optional[str] = None,
        party_composition: Optional[Sequence[Any]] = None,
        party_size: Optional[int] = None,
        mob_tactics: Optional[str] = None,
        enemy_tactics: Optional[str] = None,
        rounds_survived: Optional[int] = None,
        hp_remaining_pct: Optional[float] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        embedding: Optional[Sequence[float]] = None,
        expires_at: Optional[datetime] = None,
        ttl_seconds: Optional[int] = None,
        game_time: Optional[datetime] = None,
    ) -> StoredCombatMemory:
        """Record a fight; ``outcome`` is ``win``, ``loss``, ``fled`` or ``draw``
        from the mob's side, ``summary`` the text searched later."""
        body = _body(
            mob_type=mob_type,
            outcome=outcome,
            summary=summary,
            mob_level=mob_level,
            mob_name=mob_name,
            party_composition=list(party_composition) if party_composition is not None else None,
            party_size=party_size,
            mob_tactics=mob_tactics,
            enemy_tactics=enemy_tactics,
            rounds_survived=rounds_survived,
            hp_remaining_pct=hp_remaining_pct,
            metadata=metadata,
            embedding_b64=_vector(embedding),
            expires_at=_timestamp("expires_at", expires_at),
            ttl_seconds=ttl_seconds,
            game_time=_timestamp("game_time", game_time),
        )
        out = self._http.request("POST", "/v1/memories/combat", json_body=body)
        return build(StoredCombatMemory, out)

    def search_combat(
        self,
        mob_type: str,
        query: Optional[str] = None,
        *,
        embedding: Optional[Sequence[float]] = None,
        scope: Optional[str] = None,
        mob_name: Optional[str] = None,
        top_k: Optional[int] = None,
        party_size_min: Optional[int] = None,
        party_size_max: Optional[int] = None,
        outcome: Optional[str] = None,
        decisiveness_weight: Optional[float] = None,
        mode: Optional[str] = None,
        game_now: Optional[datetime] = None,
    ) -> Hits:
        """Similar past fights. ``scope``: ``per_type`` (default),
        ``per_instance`` or ``hybrid`` (both need ``mob_name``)."""
        body = _body(
            mob_type=mob_type,
            query=query,
            embedding_b64=_vector(embedding),
            scope=scope,
            mob_name=mob_name,
            top_k=top_k,
            party_size_min=party_size_min,
            party_size_max=party_size_max,
            outcome=outcome,
            decisiveness_weight=decisiveness_weight,
            mode=mode,
            game_now=_timestamp("game_now", game_now),
        )
        out = self._http.request("POST", "/v1/memories/combat/search", json_body=body, read=True)
        return build_hits(ScoredCombatMemory, out)

    def get_combat(self, memory_id: int) -> CombatMemory:
        return build(CombatMemory, self._http.request("GET", f"/v1/memories/combat/{int(memory_id)}", read=True))

    def list_combat(
        self,
        *,
        mob_type: Optional[str] = None,
        mob_name: Optional[str] = None,
        after: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> Page:
        query = {"mob_type": mob_type, "mob_name": mob_name, "after": after, "limit": limit}
        return self._page(CombatMemory, "/v1/memories/combat", query)

    def delete_combat(self, memory_id: int) -> None:
        self._http.request("DELETE", f"/v1/memories/combat/{int(memory_id)}")

    # ── lore ────────────────────────────────────────────────────────────

    def upsert_lore(
        self,
        title: str,
        content: str,
        scope_level: str,
        scope_tags: Iterable[str] = (),
        source: str = "",
        *,
        embedding: Optional[Sequence[float]] = None,
        expires_at: Optional[datetime] = None,
        ttl_seconds: Optional[int] = None,
        game_time: Optional[datetime] = None,
    ) -> UpsertedLore:
        """Create or update the entry ``(source, title)``; ``outcome`` says
        which, or ``"unchanged"`` (no embedding call) when content, level and
        tags are as stored. When the content cannot be embedded now the entry
        is written anyway with ``embedding_state`` ``"pending"`` (searchable
        once the service has embedded it)."""
        body = _body(
            title=title,
            content=content,
            scope_level=scope_level,
            scope_tags=list(scope_tags),
            source=source,
            embedding_b64=_vector(embedding),
            expires_at=_timestamp("expires_at", expires_at),
            ttl_seconds=ttl_seconds,
            game_time=_timestamp("game_time", game_time),
        )
        return build(UpsertedLore, self._http.request("PUT", "/v1/memories/lore", json_body=body))

    def search_lore(
        self,
        query: Optional[str] = None,
        npc_tags: Iterable[str] = (),
        *,
        embedding: Optional[Sequence[float]] = None,
        top_k: Optional[int] = None,
        mode: Optional[str] = None,
        game_now: Optional[datetime] = None,
    ) -> Hits:
        """Lore an NPC with ``npc_tags`` may read (an entry's tags must all be
        among them; untagged entries are for everyone), most similar first."""
        body = _body(
            query=query,
            npc_tags=list(npc_tags),
            embedding_b64=_vector(embedding),
            top_k=top_k,
            mode=mode,
            game_now=_timestamp("game_now", game_now),
        )
        out = self._http.request("POST", "/v1/memories/lore/search", json_body=body, read=True)
        return build_hits(ScoredLoreMemory, out)

    def import_lore(
        self,
        lore_file: Union[Mapping[str, Any], str, bytes],
        *,
        prune: bool = False,
        dry_run: bool = False,
    ) -> ImportReport:
        """Import a lore file: its YAML text (``str``/``bytes``) or the same
        structure as a dict (``{"source": ..., "entries": [...]}``)."""
        if isinstance(lore_file, Mapping):
            body = json.dumps(lore_file).encode("utf-8")
            content_type = "application/json"
        else:
            body = lore_file.encode("utf-8") if isinstance(lore_file, str) else bytes(lore_file)
            content_type = "application/yaml"
        out = self._http.request(
            "POST",
            "/v1/memories/lore/import",
            query={"prune": prune, "dry_run": dry_run},
            body=body,
            content_type=content_type,
        )
        return ImportReport.from_json(out)

    def get_lore(self, memory_id: int) -> LoreMemory:
        return build(LoreMemory, self._http.request("GET", f"/v1/memories/lore/{int(memory_id)}", read=True))

    def list_lore(
        self, *, source: Optional[str] = None, after: Optional[int] = None, limit: Optional[int] = None
    ) -> Page:
        return self._page(LoreMemory, "/v1/memories/lore", {"source": source, "after": after, "limit": limit})

    def iter_lore(self, *, source: Optional[str] = None) -> Iterator[LoreMemory]:
        """Every lore entry (of one source), page by page."""
        after = None
        while True:
            page = self.list_lore(source=source, after=after, limit=MAX_PAGE)
            yield from page.items
            if page.next_after is None:
                return
            after = page.next_after

    def delete_lore(self, memory_id: int) -> None:
        self._http.request("DELETE", f"/v1/memories/lore/{int(memory_id)}")

    # ── every kind ──────────────────────────────────────────────────────

    def list_failed(self, kind: str, *, after: Optional[int] = None, limit: Optional[int] = None) -> Page:
        """One page of the memories of ``kind`` (``npc``, ``combat``, ``lore``)
        whose text the provider refused, as :class:`FailedEmbedding` items."""
        return self._page(FailedEmbedding, "/v1/memories/failed", {"kind": kind, "after": after, "limit": limit})

    def _page(self, cls: type, path: str, query: Dict[str, Any]) -> Page:
        out = self._http.request("GET", path, query=query, read=True)
        return Page(items=build_all(cls, out["items"]), next_after=out["next_after"])


def _body(**fields: Any) -> Dict[str, Any]:
    """A request body without the fields left as ``None``."""
    return {k: v for k, v in fields.items() if v is not None}


def _vector(values: Optional[Sequence[float]]) -> Optional[str]:
    """A vector as base64 of little-endian f32, or ``None``."""
    if values is None:
        return None
    floats = [float(v) for v in values]
    return base64.b64encode(struct.pack(f"<{len(floats)}f", *floats)).decode("ascii")


def _timestamp(name: str, value: Optional[datetime]) -> Optional[str]:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.isoformat()
