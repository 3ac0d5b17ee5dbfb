"""Exceptions raised by the mnemo client.

Every failure is a :class:`MnemoError`. An answer from the service that is an
error becomes an :class:`ApiError` (or one of its subclasses, chosen by HTTP
status and error code) carrying what the service said: ``status``, ``code``,
``message``, ``field`` (the offending input, when the service named one),
``retry_after`` (seconds, from ``Retry-After``) and ``request_id`` (the
``x-request-id`` to quote in a bug report). A request that never got an answer
(connection refused, reset, timed out) is a :class:`TransportError`.
"""

from __future__ import annotations

from typing import Optional


class MnemoError(Exception):
    """Anything that went wrong talking to mnemo."""


class NotConfigured(MnemoError):
    """``mnemo_client.fcm`` was used before it knew where mnemo is."""


class TransportError(MnemoError):
    """The request got no answer: the connection failed, broke or timed out.

    For a write this means the outcome is unknown: the service may or may not
    have stored it.
    """


class ApiError(MnemoError):
    """The service answered with an error."""

    def __init__(
        self,
        status: int,
        code: Optional[str],
        message: str,
        field: Optional[str] = None,
        retry_after: Optional[float] = None,
        request_id: Optional[str] = None,
        correlation_id: Optional[str] = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after
        self.request_id = request_id
        self.correlation_id = correlation_id
        text = f"HTTP {status} {code or 'error'}: {message}"
        if field:
            text += f" (field {field})"
        super().__init__(text)


class InvalidRequest(ApiError):
    """400: the request was refused; ``field`` names the offending input."""


class AuthError(ApiError):
    """401 (missing, unknown or revoked token) or 403 (the token lacks the scope)."""


class NotFound(ApiError):
    """404: the memory (or route) does not exist."""


class Conflict(ApiError):
    """409: a unique value is taken."""


class PayloadTooLarge(ApiError):
    """413: the body is larger than the service accepts."""


class RateLimited(ApiError):
    """429: the token exceeded its rate; wait ``retry_after`` seconds."""


class Unavailable(ApiError):
    """502/503/504: the service cannot answer right now (database, startup,
    request timeout, a proxy in front of it); ``retry_after`` says when to try
    again when the service knows."""


class EmbeddingUnavailable(Unavailable):
    """503 ``embedding_unavailable``: a search query could not be embedded.

    The original ``ai_memory.services`` answered such a search with the NPC's
    recent memories instead; mnemo says so rather than change the answer.
    Stores never raise it: a memory that cannot be embedded now is stored as
    pending and embedded later.
    """


def error_class(status: int, code: Optional[str]) -> type:
    """The exception class for an error answer."""
    if code == "embedding_unavailable":
        return EmbeddingUnavailable
    by_status = {
        400: InvalidRequest,
        401: AuthError,
        403: AuthError,
        404: NotFound,
        409: Conflict,
        413: PayloadTooLarge,
        429: RateLimited,
    }
    if status in by_status:
        return by_status[status]
    if status in (502, 503, 504):
        return Unavailable
    return ApiError
