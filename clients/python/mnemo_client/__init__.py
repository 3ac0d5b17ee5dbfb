"""mnemo-client: the Python client of mnemo, the vector memory service for game NPCs.

Standard library only (Python 3.9+). :class:`Client` has one method per memory
route; :mod:`mnemo_client.fcm` drops in for FullCircleMUD's
``ai_memory.services``. Errors are the exceptions of :mod:`mnemo_client.errors`.
"""

from ._version import __version__
from .client import Client
from .errors import (
    ApiError,
    AuthError,
    Conflict,
    EmbeddingUnavailable,
    InvalidRequest,
    MnemoError,
    NotConfigured,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    TransportError,
    Unavailable,
)
from .models import (
    CombatMemory,
    Context,
    FailedEmbedding,
    Forgotten,
    Hits,
    ImportFailure,
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
)

__all__ = [
    "__version__",
    "ApiError",
    "AuthError",
    "Client",
    "CombatMemory",
    "Conflict",
    "Context",
    "EmbeddingUnavailable",
    "FailedEmbedding",
    "Forgotten",
    "Hits",
    "ImportFailure",
    "ImportReport",
    "InvalidRequest",
    "LastInteraction",
    "LoreMemory",
    "MemoryPolicy",
    "MnemoError",
    "NotConfigured",
    "NotFound",
    "NpcMemory",
    "Page",
    "PayloadTooLarge",
    "RateLimited",
    "RecentNpcMemory",
    "ScoredCombatMemory",
    "ScoredLoreMemory",
    "ScoredNpcMemory",
    "StoredCombatMemory",
    "StoredNpcMemory",
    "TransportError",
    "Unavailable",
    "UpsertedLore",
]
