"""A real ``mnemo serve`` for the tests: started on a free loopback port with a
temporary SQLite data directory, its bootstrap admin token read from stdout,
stopped with SIGTERM (killed if it does not stop).

The binary is ``$MNEMO_BIN``, else ``$CARGO_TARGET_DIR/debug/mnemo``, else the
checkout's ``target/debug/mnemo`` (``cargo build`` makes it).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[3]
#: Generous: a shared 2-core machine may be compiling beside the tests.
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
_LISTEN = re.compile(r"listen=(127\.0\.0\.1:\d+)")


def mnemo_binary() -> Path:
    explicit = os.environ.get("MNEMO_BIN")
    if explicit:
        path = Path(explicit)
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
        path = target / "debug" / "mnemo"
    if not path.is_file():
        raise RuntimeError(f"no mnemo binary at {path}: run `cargo build` or set MNEMO_BIN")
    return path


class MnemoServer:
    """A running ``mnemo serve``; ``url`` and ``token`` reach it."""

    def __init__(self, data_dir: Path, env: Optional[Dict[str, str]] = None) -> None:
        full_env = dict(os.environ)
        full_env.pop("DATABASE_URL", None)
        full_env.update(
            {
                "MNEMO_DATA_DIR": str(data_dir),
                "MNEMO_EMBEDDING_PROVIDER": "hash",
                "MNEMO_RATE_LIMIT_PER_SECOND": "0",
                "MNEMO_LOG": "warn,mnemo=info",
                "NO_COLOR": "1",
            }
        )
        full_env.update(env or {})
        self._env = full_env
        self.log: List[str] = []
        self._lines: "queue.Queue[tuple]" = queue.Queue()
        self.process = subprocess.Popen(
            [str(mnemo_binary()), "serve", "--bind", "127.0.0.1:0", "--migrate"],
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, stream in (("out", self.process.stdout), ("err", self.process.stderr)):
            threading.Thread(target=self._drain, args=(name, stream), daemon=True).start()
        try:
            self.token, self.url = self._wait_ready()
        except Exception:
            self.stop()
            raise

    def _drain(self, name: str, stream) -> None:
        # Keep reading after startup, so the server never blocks on a full pipe.
        for line in stream:
            self._lines.put((name, line.rstrip("\n")))
        self._lines.put((name, None))

    def _wait_ready(self):
        token = address = None
        ready = False
        while not (token and address and ready):
            try:
                name, line = self._lines.get(timeout=READY_TIMEOUT)
            except queue.Empty:
                raise RuntimeError("mnemo serve did not get ready:\n" + "\n".join(self.log)) from None
            if line is None:
                if self.process.poll() is not None:
                    raise RuntimeError("mnemo serve exited:\n" + "\n".join(self.log))
                continue
            self.log.append(line)
            if name == "out" and line.startswith("mnemo_"):
                token = line.strip()
            match = _LISTEN.search(line)
            if match:
                address = match.group(1)
            if name == "err" and line.endswith(" ready"):
                ready = True
        return token, f"http://{address}"

    def create_token(self, name: str, scopes: str) -> str:
        """A new API token, made by `mnemo token create` beside the running server."""
        out = subprocess.run(
            [str(mnemo_binary()), "token", "create", "--name", name, "--scopes", scopes],
            env=self._env,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
