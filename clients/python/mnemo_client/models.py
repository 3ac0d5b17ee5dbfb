"""Typed results of the memory routes, built from the service's JSON.

Each dataclass has the fields of its schema in ``openapi.yaml``; fields the
service adds later are ignored, so a newer service does not break an older
client. Times are timezone-aware ``datetime`` values (UTC).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Type, TypeVar

T = TypeVar("T")

# RFC 3339 as the service writes it: up to nine fraction digits, `Z` or an offset.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))$"
)


def parse_datetime(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware ``datetime``.

    ``datetime.fromisoformat`` before Python 3.11 accepts neither ``Z`` nor
    nine fraction digits, both of which the service sends; fractions beyond
    microseconds are cut off.
    """
    m = _RFC3339.match(text)
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    micros = int((m.group(7) or "0")[:6].ljust(6, "0"))
    if m.group(8):
        tz = timezone.utc
    else:
        sign = -1 if m.group(9) == "-" else 1
        tz = timezone(sign * timedelta(hours=int(m.group(10)), minutes=int(m.group(11))))
    return datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)


_DATETIME_FIELDS = frozenset(
    {"created_at", "updated_at", "failed_at", "expires_at", "game_time", "last_seen_at", "forgotten_at"}
)


def build(cls: Type[T], data: Dict[str, Any]) -> T:
    """An instance of the dataclass ``cls`` from a JSON object: timestamps
    parsed, unknown keys ignored, missing optional keys left at their default."""
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name in _DATETIME_FIELDS and isinstance(value, str):
            value = parse_datetime(value)
        values[f.name] = value
    return cls(**values)  # type: ignore[call-arg]


def build_all(cls: Type[T], items: List[Dict[str, Any]]) -> List[T]:
    return [build(cls, item) for item in items]


@dataclasses.dataclass
class NpcMemory:
    """One dialogue exchange an NPC remembers."""

    id: int
    npc_id: int
    speaker_id: int
    speaker_name: str
    npc_name: str
    user_message: str
    assistant_message: str
    summary: str
    interaction_type: str
    importance: Optional[float]
    metadata: Dict[str, Any]
    created_at: datetime
    #: ``None`` while the embedding is pending (stored, not yet searchable).
    embedding_model: Optional[str]
    #: When the memory is forgotten (wall clock); ``None``: never.
    expires_at: Optional[datetime]
    #: The game world's clock when it was made, when the game gave it.
    game_time: Optional[datetime]
    #: How often it was stored within the dedup window (1: once).
    repeat_count: int
    #: When it was last stored again (its ``created_at`` until repeated).
    last_seen_at: datetime


@dataclasses.dataclass
class StoredNpcMemory(NpcMemory):
    """A memory just stored: ``embedding_state`` is ``"ready"`` (searchable) or
    ``"pending"`` (the provider failed; the service embeds it later).
    ``deduplicated`` is true when it repeated a memory stored within the dedup
    window: no row was added, this is that memory."""

    embedding_state: str
    embedding_error: Optional[str] = None
    deduplicated: bool = False


@dataclasses.dataclass
class ScoredNpcMemory(NpcMemory):
    """A search hit: cosine ``similarity`` (``None`` when only keyword search
    found it), ``score`` (what results sort by: the similarity, the blended
    score with weights, BM25 for keyword search, the fused rank for hybrid)
    and the age in words."""

    similarity: Optional[float]
    score: float
    time_ago: str


@dataclasses.dataclass
class RecentNpcMemory(NpcMemory):
    """A recent memory with its age in words."""

    time_ago: str


@dataclasses.dataclass
class CombatMemory:
    """One fight, from the mob's side."""

    id: int
    mob_type: str
    mob_level: int
    mob_name: str
    party_composition: List[Any]
    party_size: int
    mob_tactics: str
    enemy_tactics: str
    rounds_survived: int
    outcome: str
    hp_remaining_pct: float
    summary: str
    metadata: Dict[str, Any]
    created_at: datetime
    embedding_model: Optional[str]
    expires_at: Optional[datetime]
    game_time: Optional[datetime]


@dataclasses.dataclass
class StoredCombatMemory(CombatMemory):
    embedding_state: str
    embedding_error: Optional[str] = None
    deduplicated: bool = False


@dataclasses.dataclass
class ScoredCombatMemory(CombatMemory):
    similarity: Optional[float]
    score: float
    time_ago: str


@dataclasses.dataclass
class LoreMemory:
    """A piece of world knowledge; ``scope_tags`` come back trimmed, sorted and
    without duplicates."""

    id: int
    title: str
    content: str
    scope_level: str
    scope_tags: List[str]
    source: str
    created_at: datetime
    updated_at: datetime
    embedding_model: Optional[str]
    expires_at: Optional[datetime]
    game_time: Optional[datetime]


@dataclasses.dataclass
class ScoredLoreMemory(LoreMemory):
    similarity: Optional[float]
    score: float
    time_ago: str


@dataclasses.dataclass
class UpsertedLore(LoreMemory):
    """The entry after an upsert; ``outcome`` is ``"created"``, ``"updated"``
    or ``"unchanged"``."""

    outcome: str
    embedding_state: str


@dataclasses.dataclass
class FailedEmbedding:
    """A memory whose text the provider refused to embed (over the model's
    token limit, say): stored, never searchable until ``mnemo reembed
    --failed`` embeds it."""

    id: int
    text: str
    #: The provider's answer.
    error: Optional[str]
    failed_at: datetime


@dataclasses.dataclass
class LastInteraction:
    created_at: datetime
    time_ago: str
    #: The game world's clock then, when the game gave it.
    game_time: Optional[datetime] = None


@dataclasses.dataclass
class Context:
    """Everything the prompt needs before an NPC replies."""

    lore: List[ScoredLoreMemory]
    recent: List[RecentNpcMemory]
    last_interaction: Optional[LastInteraction]
    memories: List[ScoredNpcMemory]
    #: True when the message could not be embedded: ``lore`` and ``memories``
    #: then come from keyword search and ``degraded_reason`` says why.
    degraded: bool
    degraded_reason: Optional[str] = None

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Context":
        last = data.get("last_interaction")
        return cls(
            lore=build_all(ScoredLoreMemory, data["lore"]),
            recent=build_all(RecentNpcMemory, data["recent"]),
            last_interaction=build(LastInteraction, last) if last else None,
            memories=build_all(ScoredNpcMemory, data["memories"]),
            degraded=data["degraded"],
            degraded_reason=data.get("degraded_reason"),
        )


@dataclasses.dataclass
class ImportFailure:
    title: str
    field: Optional[str]
    message: str


@dataclasses.dataclass
class ImportReport:
    """What a lore file import did (or would do, with ``dry_run``)."""

    source: str
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    failed: int
    failures: List[ImportFailure]
    pruned: List[str]

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "ImportReport":
        report = build(cls, data)
        report.failures = build_all(ImportFailure, data["failures"])
        return report


@dataclasses.dataclass
class Page:
    """One page of a listing by id; pass ``next_after`` as ``after`` for the
    next page (``None`` on the last one)."""

    items: List[Any]
    next_after: Optional[int]


class Hits(list):  # type: ignore[type-arg]
    """A search's results (a list, best first) and its account of itself:
    ``requested`` (top_k), ``returned``, ``exhausted`` (fewer than
    ``requested`` memories of the searched scope passed the filters: all were
    considered), ``mode``, and ``degraded`` (a hybrid search that could not
    embed its query answered from keywords; ``degraded_reason`` says why)."""

    def __init__(self, items: List[Any], data: Dict[str, Any]) -> None:
        super().__init__(items)
        self.requested: int = data["requested"]
        self.returned: int = data["returned"]
        self.exhausted: bool = data["exhausted"]
        self.mode: str = data["mode"]
        self.degraded: bool = data["degraded"]
        self.degraded_reason: Optional[str] = data.get("degraded_reason")


def build_hits(cls: Type[T], data: Dict[str, Any]) -> Hits:
    return Hits(build_all(cls, data["items"]), data)


@dataclasses.dataclass
class MemoryPolicy:
    """An NPC's memory policy: its own settings (``None``: the service's) and
    what is in force, ``budget`` (``None``: unlimited) and
    ``effective_half_life_hours``."""

    npc_id: int
    max_memories: Optional[int]
    half_life_hours: Optional[float]
    keep_newest: int
    updated_at: Optional[datetime]
    budget: Optional[int]
    effective_half_life_hours: float


@dataclasses.dataclass
class Forgotten:
    """A memory an NPC forgot: its ``id``, ``summary`` and why (``reason``:
    ``expired``, ``budget`` or ``deleted``); ``seq`` is the log's cursor."""

    seq: int
    id: int
    summary: str
    reason: str
    created_at: datetime
    forgotten_at: datetime
