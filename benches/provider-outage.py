#!/usr/bin/env python3
"""Store and search latency of `mnemo serve` while its embedding provider is down.

A loopback OpenAI-compatible "provider" answers 503 to every call, then hangs
(each call sleeps 30 s), then refuses connections (it is shut down). In each
phase one client stores 20 NPC memories and runs 20 text searches, one after
the other, and the script prints the status codes and the latency of the first
call, the median and the slowest. The phases are 11 s apart, longer than the
breaker's default cool-down (10 s), so each phase's first call probes the
provider again.

    python3 benches/provider-outage.py [MNEMO_BIN]     default target/release/mnemo

SQLite mode in a temporary directory; the server's log goes to a temporary file.
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

PHASE_CALLS = 20
mode = {"now": "503"}


class Provider(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if mode["now"] == "hang":
            time.sleep(30)
        try:
            self.send_response(503)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error":{"message":"down","type":"server_error"}}')
        except (BrokenPipeError, ConnectionResetError):
            pass  # mnemo gave up waiting, as it should

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/mnemo"
    provider = Server(("127.0.0.1", 0), Provider)
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    data = tempfile.mkdtemp(prefix="mnemo-outage-")
    log = open(os.path.join(data, "serve.log"), "w")
    env = dict(
        os.environ,
        MNEMO_DATA_DIR=data,
        MNEMO_EMBEDDING_PROVIDER="openai",
        OPENAI_API_KEY="unused",
        OPENAI_BASE_URL=f"http://127.0.0.1:{provider.server_address[1]}/v1",
    )
    port = free_port()
    server = subprocess.Popen(
        [binary, "serve", "--migrate", "--bind", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.PIPE, stderr=log, text=True,
    )
    try:
        token = next(line.strip() for line in server.stdout if line.startswith("mnemo_"))
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)

        def call(path, body):
            request = urllib.request.Request(
                base + path, data=json.dumps(body).encode(), method="POST",
                headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
            )
            start = time.perf_counter()
            try:
                code = urllib.request.urlopen(request, timeout=60).status
            except urllib.error.HTTPError as e:
                code = e.code
            return code, (time.perf_counter() - start) * 1000

        def phase(name):
            stores = [call("/v1/memories/npc", {"npc_id": 1, "summary": f"{name} {i}"})
                      for i in range(PHASE_CALLS)]
            searches = [call("/v1/memories/npc/search", {"npc_id": 1, "query": f"{name} q{i}"})
                        for i in range(PHASE_CALLS)]
            for label, calls in (("store", stores), ("search", searches)):
                codes = sorted({c for c, _ in calls})
                ms = sorted(t for _, t in calls)
                print(f"{name:8s} {label:6s} codes {codes}  first {calls[0][1]:7.1f} ms"
                      f"  p50 {ms[len(ms) // 2]:5.2f} ms  max {ms[-1]:7.1f} ms", flush=True)

        phase("503")
        mode["now"] = "hang"
        time.sleep(11)
        phase("hang")
        provider.shutdown()
        provider.server_close()
        time.sleep(11)
        phase("refused")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
