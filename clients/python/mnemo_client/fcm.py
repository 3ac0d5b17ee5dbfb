"""Drop-in replacement for FullCircleMUD's ``ai_memory.services``.

A game written against the original changes one line::

    from ai_memory.services import store_memory, search_memories   # before
    from mnemo_client.fcm import store_memory, search_memories      # after

The functions keep the original's names, signatures and return shapes (dict
keys, ``(datetime, time_ago)`` tuples, aware UTC ``datetime`` values). They
talk to the mnemo service named by ``MNEMO_URL`` and ``MNEMO_TOKEN`` (and
``MNEMO_TIMEOUT``, seconds, default 5), or by :func:`configure`.

Where the original changed its answer silently, these raise instead:

* a search whose query cannot be embedded raises
  :class:`~mnemo_client.errors.EmbeddingUnavailable` (the original returned
  the NPC's recent memories, without similarity and ignoring the speaker);
  so does a lore search (the original returned recent lore);
* anything else that fails raises a :class:`~mnemo_client.errors.MnemoError`
  (the original's ``store_memory`` logged and dropped the memory).

A memory or lore entry stored while the embedding provider is down is kept and
becomes searchable when the service has embedded it (the original's such rows
were never found again).
"""

from __future__ import annotations

import math
import os
import threading
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .client import Client
from .errors import NotConfigured
from .models import LoreMemory

__all__ = [
    "configure",
    "get_last_interaction_time",
    "get_recent_lore",
    "get_recent_memories",
    "search_lore",
    "search_memories",
    "store_lore",
    "store_memory",
]

DEFAULT_TIMEOUT = 5.0
#: Most memories the service returns from one recent-memories request.
MAX_RECENT = 100
#: Evennia object ids are positive, so no memory is stored under this id: a
#: recent-memories request for it is answered by NPC name alone.
_NO_SUCH_NPC = -1

_client: Optional[Client] = None
_lock = threading.Lock()

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


def configure(
    url: Optional[str] = None,
    token: Optional[str] = None,
    timeout: Optional[float] = None,
    client: Optional[Client] = None,
) -> Client:
    """Point the module at a mnemo service (instead of, or overriding, the
    ``MNEMO_URL``/``MNEMO_TOKEN``/``MNEMO_TIMEOUT`` environment variables), or
    hand it a ready :class:`Client`. Returns the client the functions use."""
    global _client
    if client is None:
        client = _client_from(url, token, timeout)
    with _lock:
        old, _client = _client, client
    if old is not None and old is not client:
        old.close()
    return client


def _client_from(url: Optional[str], token: Optional[str], timeout: Optional[float]) -> Client:
    url = url or os.environ.get("MNEMO_URL")
    token = token or os.environ.get("MNEMO_TOKEN")
    if not url or not token:
        raise NotConfigured(
            "mnemo is not configured: set MNEMO_URL and MNEMO_TOKEN, "
            "or call mnemo_client.fcm.configure(url=..., token=...)"
        )
    if timeout is None:
        raw = os.environ.get("MNEMO_TIMEOUT")
        try:
            timeout = float(raw) if raw else DEFAULT_TIMEOUT
        except ValueError:
            raise NotConfigured(f"MNEMO_TIMEOUT must be a number of seconds, got {raw!r}") from None
    return Client(url, token, timeout)


def _get() -> Client:
    global _client
    with _lock:
        if _client is None:
            _client = _client_from(None, None, None)
        return _client


# ── Time formatting ─────────────────────────────────────────────────────


def _time_ago_str(dt: datetime) -> str:
    """The original's wording of an age: "a few minutes ago" (< 1 h),
    "earlier today" (< 24 h), "yesterday" (< 48 h), "a few days ago" (< 7 d),
    "a couple of weeks ago" (< 30 d), "back in {Month}" (< 365 d), else
    "over a year ago". A naive ``dt`` is taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    seconds = (datetime.now(timezone.utc) - dt).total_seconds()
    if seconds < 3600:
        return "a few minutes ago"
    if seconds < 86400:
        return "earlier today"
    if seconds < 172800:
        return "yesterday"
    if seconds < 604800:
        return "a few days ago"
    if seconds < 2592000:
        return "a couple of weeks ago"
    if seconds < 31536000:
        # English month names whatever the process locale (strftime('%B') is not).
        return f"back in {_MONTHS[dt.month - 1]}"
    return "over a year ago"


def _cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros), as the
    original's helper of the same name; the service ranks with the same measure."""
    dot = sum(float(x) * float(y) for x, y in zip(a, b))
    norm = math.sqrt(sum(float(x) ** 2 for x in a)) * math.sqrt(sum(float(y) ** 2 for y in b))
    if norm < 1e-8:
        return 0.0
    return dot / norm


def _npc_can_access_lore(entry_scope_tags: Sequence[str], npc_scope_tags: Sequence[str]) -> bool:
    """The lore access rule: an entry without tags is for everyone; otherwise
    the NPC needs every one of the entry's tags."""
    if not entry_scope_tags:
        return True
    npc = set(npc_scope_tags)
    return all(tag in npc for tag in entry_scope_tags)


# ── NPC memories ────────────────────────────────────────────────────────


def store_memory(npc: Any, speaker: Any, user_msg: str, assistant_msg: str, interaction_type: str = "say") -> None:
    """Store an exchange; ``npc`` and ``speaker`` are objects with ``.id`` and
    ``.key``. The summary is the original's
    ``{speaker} said: "{user}" | {npc} replied: "{assistant}"``. Returns
    ``None`` as the original did; raises when the memory was not stored."""
    _get().store(
        npc.id,
        speaker_id=speaker.id,
        speaker_name=speaker.key,
        npc_name=npc.key,
        user_message=user_msg,
        assistant_message=assistant_msg,
        interaction_type=interaction_type,
    )


def search_memories(
    npc_id: int,
    query_text: str,
    top_k: int = 5,
    speaker_id: Optional[int] = None,
    npc_name: Optional[str] = None,
) -> List[Dict[str, Any]]:
    """The NPC's memories most similar to ``query_text``, most similar first
    (dicts with ``summary, user_message, assistant_message, similarity,
    created_at, time_ago, speaker_name``). ``npc_name`` is searched when
    ``npc_id`` has no memories (after a game wipe). ``top_k`` above 100 is
    refused by the service; raises ``EmbeddingUnavailable`` when the query
    cannot be embedded."""
    if top_k <= 0:
        return []
    hits = _get().search(
        npc_id,
        query_text,
        top_k=top_k,
        # As the original: a speaker id of 0 (or None) means every speaker.
        speaker_id=speaker_id or None,
        npc_name=npc_name or None,
    )
    return [
        {
            "summary": m.summary,
            "user_message": m.user_message,
            "assistant_message": m.assistant_message,
            "similarity": float(m.similarity),
            "created_at": m.created_at,
            "time_ago": m.time_ago,
            "speaker_name": m.speaker_name,
        }
        for m in hits
    ]


def get_recent_memories(npc_id: int, limit: int = 10, npc_name: Optional[str] = None) -> List[Dict[str, Any]]:
    """The NPC's newest ``limit`` memories (at most 100), oldest first (dicts
    with ``summary, user_message, assistant_message, created_at, time_ago,
    speaker_name``); by ``npc_name`` when ``npc_id`` has none."""
    if limit <= 0:
        return []
    if limit > MAX_RECENT:
        raise ValueError(f"limit must be at most {MAX_RECENT} (the service's largest recent-memories answer)")
    return [_recent_dict(m) for m in _get().recent(npc_id, limit, npc_name=npc_name or None)]


def _recent_dict(m: Any) -> Dict[str, Any]:
    return {
        "summary": m.summary,
        "user_message": m.user_message,
        "assistant_message": m.assistant_message,
        "created_at": m.created_at,
        "time_ago": _time_ago_str(m.created_at),
        "speaker_name": m.speaker_name,
    }


def get_last_interaction_time(
    npc_id: int,
    speaker_id: int,
    npc_name: Optional[str] = None,
    speaker_name: Optional[str] = None,
) -> Tuple[Optional[datetime], Optional[str]]:
    """``(created_at, time_ago)`` of the newest memory between the NPC and the
    speaker, or ``(None, None)``. When the ids have none and both names are
    given, the newest memory with those names is used (ids change when a game
    world is rebuilt); that fallback looks at the newest 100 memories of the
    NPC's name."""
    client = _get()
    last = client.last_interaction(npc_id, speaker_id)
    if last is not None:
        return last.created_at, last.time_ago
    if npc_name and speaker_name:
        for m in reversed(client.recent(_NO_SUCH_NPC, MAX_RECENT, npc_name=npc_name)):
            if m.speaker_name == speaker_name:
                return m.created_at, _time_ago_str(m.created_at)
    return None, None


# ── Lore ────────────────────────────────────────────────────────────────


def store_lore(
    title: str,
    content: str,
    scope_level: str,
    scope_tags: Sequence[str],
    source: str = "",
) -> Tuple[LoreMemory, str]:
    """Create or update the entry ``(source, title)``: returns the entry (with
    the original's attributes ``id, title, content, scope_level, scope_tags,
    source, created_at, updated_at``) and ``"created"``, ``"updated"`` or
    ``"unchanged"`` (content, level and tags as stored; tags compare as a set)."""
    entry = _get().upsert_lore(title, content, scope_level, list(scope_tags or []), source)
    return entry, entry.outcome


def search_lore(query_text: str, npc_scope_tags: Sequence[str], top_k: int = 3) -> List[Dict[str, Any]]:
    """Lore the NPC may read, most similar to ``query_text`` first (dicts with
    ``title, content, scope_level, similarity``). Raises
    ``EmbeddingUnavailable`` when the query cannot be embedded."""
    if top_k <= 0:
        return []
    hits = _get().search_lore(query_text, list(npc_scope_tags or []), top_k=top_k)
    return [
        {"title": e.title, "content": e.content, "scope_level": e.scope_level, "similarity": float(e.similarity)}
        for e in hits
    ]


def get_recent_lore(npc_scope_tags: Sequence[str], limit: int = 3) -> List[Dict[str, Any]]:
    """The most recently updated lore the NPC may read (dicts with ``title,
    content, scope_level``). Reads every lore entry: meant for the few hundred
    of a game world."""
    if limit <= 0:
        return []
    tags = list(npc_scope_tags or [])
    readable = [e for e in _get().iter_lore() if _npc_can_access_lore(e.scope_tags, tags)]
    readable.sort(key=lambda e: (e.updated_at, e.id), reverse=True)
    return [{"title": e.title, "content": e.content, "scope_level": e.scope_level} for e in readable[:limit]]
