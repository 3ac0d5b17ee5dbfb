"""A scripted HTTP/1.1 server on loopback, for what a real mnemo cannot be made
to do on demand: answer 503 then 200, close an idle keep-alive connection, or
stand in for an embedding provider that is down. It records every request
with the client port it came from (one port per TCP connection)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Tuple

Reply = Tuple[int, Dict[str, str], bytes]


def json_reply(status: int, body, headers: Optional[Dict[str, str]] = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


def error_reply(status: int, code: str, headers: Optional[Dict[str, str]] = None) -> Reply:
    return json_reply(status, {"error": {"code": code, "message": f"scripted {code}", "field": None}}, headers)


class ScriptedServer:
    """Answers with ``replies`` in order (the last one repeats), or with
    ``respond(method, path, body)``. ``close_after_reply`` closes each
    connection after answering, without saying so in the response."""

    def __init__(self, replies: Optional[List[Reply]] = None, respond: Optional[Callable] = None,
                 close_after_reply: bool = False) -> None:
        self.requests: List[Tuple[str, str, bytes, int]] = []
        self.closed = threading.Event()
        self._replies = list(replies or [])
        self._respond = respond
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = outer._reply(self.command, self.path, body, self.client_address[1])
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                if close_after_reply:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def shutdown_request(self, request) -> None:
                super().shutdown_request(request)
                outer.closed.set()

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _reply(self, method: str, path: str, body: bytes, port: int) -> Reply:
        with self._lock:
            self.requests.append((method, path, body, port))
            if self._respond is not None:
                return self._respond(method, path, body)
            return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]

    @property
    def connections(self) -> int:
        return len({port for *_, port in self.requests})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
