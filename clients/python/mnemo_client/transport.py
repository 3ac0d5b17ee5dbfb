"""HTTP for the client: keep-alive connections, error mapping, safe retries.

Each thread keeps one ``http.client`` connection and reuses it (a game server
calls from a pool of threads; a connection is not shared between them). Before
reusing an idle connection the client checks that the service has not closed
it (actix closes idle connections after a few seconds), so a request never
goes out on a dead socket; that check is what makes it safe never to resend a
write.

Retries: only requests marked as reads are repeated, after a connection
failure or a 429/502/503/504 answer, at most ``retries`` times, waiting what
``Retry-After`` says (else 0.1 s, 0.2 s, ...). A wait longer than
``max_retry_wait`` is not taken: the error is raised with its ``retry_after``,
because a player is usually waiting for the NPC. Writes are never repeated:
the service has no idempotency key for them, so a repeated store could store
twice. A read that timed out is not repeated either (a slow service is not
helped by a second copy of the query).
"""

from __future__ import annotations

import http.client
import json
import selectors
import socket
import threading
import time
import weakref
from email.utils import parsedate_to_datetime
from typing import Any, Dict, Mapping, Optional, Tuple
from urllib.parse import quote, urlencode, urlsplit

from ._version import __version__
from .errors import ApiError, TransportError, error_class

_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A model mismatch needs `mnemo reembed`; waiting does not fix it. An
# embedding_unavailable answer comes after the service has already retried the
# provider for its whole budget (2 s): asking again would only keep the player
# waiting longer for the same answer.
_NEVER_RETRY_CODES = frozenset({"model_mismatch", "embedding_unavailable"})
_FIRST_BACKOFF = 0.1


class Transport:
    """Sends requests to one mnemo base URL with one bearer token."""

    def __init__(
        self,
        url: str,
        token: str,
        timeout: float,
        retries: int,
        max_retry_wait: float,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http://HOST[:PORT] or https://..., got {url!r}")
        if not token:
            raise ValueError("token must not be empty")
        if timeout <= 0:
            raise ValueError("timeout must be above 0 seconds")
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: "weakref.WeakSet[http.client.HTTPConnection]" = weakref.WeakSet()

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        json_body: Any = None,
        body: Optional[bytes] = None,
        content_type: Optional[str] = None,
        read: bool = False,
    ) -> Any:
        """Send one request and return its decoded JSON (``None`` when empty).

        ``read=True`` marks a request that changes nothing, so it may be
        repeated (see the module's notes on retries).
        """
        target = self._prefix + path
        if query:
            params = {k: _query_value(v) for k, v in query.items() if v is not None}
            if params:
                target += "?" + urlencode(params, quote_via=quote)
        headers = {
            "Authorization": "Bearer " + self._token,
            "Accept": "application/json",
            "User-Agent": f"mnemo-client-python/{__version__}",
        }
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            content_type = "application/json"
        if body is not None:
            headers["Content-Type"] = content_type or "application/octet-stream"
        attempt = 0
        while True:
            try:
                status, response_headers, data = self._send(method, target, body, headers)
            except TransportError as e:
                if read and attempt < self.retries and not isinstance(e.__cause__, socket.timeout):
                    attempt += 1
                    time.sleep(self._backoff(attempt))
                    continue
                raise
            if status < 400:
                return json.loads(data) if data else None
            error = _api_error(status, response_headers, data)
            if read and attempt < self.retries and _retryable(error):
                wait = error.retry_after if error.retry_after is not None else self._backoff(attempt + 1)
                if wait <= self.max_retry_wait:
                    attempt += 1
                    time.sleep(wait)
                    continue
            raise error

    def close(self) -> None:
        """Close every connection this transport opened, in every thread."""
        with self._lock:
            connections = list(self._connections)
            self._connections = weakref.WeakSet()
        for conn in connections:
            conn.close()

    def _backoff(self, attempt: int) -> float:
        return min(_FIRST_BACKOFF * 2 ** (attempt - 1), self.max_retry_wait)

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None and _dropped(conn.sock):
            # Closed by the service while idle: reconnect before sending.
            conn.close()
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
            with self._lock:
                self._connections.add(conn)
        return conn

    def _send(
        self, method: str, target: str, body: Optional[bytes], headers: Dict[str, str]
    ) -> Tuple[int, http.client.HTTPMessage, bytes]:
        conn = self._connection()
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise TransportError(f"{method} {target}: no answer from mnemo: {e!r}") from e
        if response.will_close:
            conn.close()
        return response.status, response.headers, data


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dropped(sock: socket.socket) -> bool:
    """True when an idle connection's socket is readable: the peer closed it
    (or sent something unasked), so it must not carry another request."""
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ)
        return bool(sel.select(0))


def _retryable(error: ApiError) -> bool:
    return error.status in _RETRY_STATUSES and error.code not in _NEVER_RETRY_CODES


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _api_error(status: int, headers: http.client.HTTPMessage, data: bytes) -> ApiError:
    code = field = correlation_id = None
    message = ""
    try:
        payload = json.loads(data) if data else None
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        code = err.get("code")
        message = err.get("message") or ""
        field = err.get("field")
        correlation_id = err.get("correlation_id")
    else:
        # Not mnemo's error body (a proxy in between, say): keep what it said.
        message = data[:200].decode("utf-8", "replace").strip() or http.client.responses.get(status, "")
    return error_class(status, code)(
        status,
        code,
        message,
        field=field,
        retry_after=_retry_after(headers.get("Retry-After")),
        request_id=headers.get("x-request-id"),
        correlation_id=correlation_id,
    )
