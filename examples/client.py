#!/usr/bin/env python3
"""What the NPC AI layer (a Python game server) asks mnemo, with the standard
library only: before an NPC replies, fetch its context (relevant lore, recent
exchanges with this player, the last time they met, similar memories); after
it replies, store the exchange.

    MNEMO_URL=http://127.0.0.1:8080 MNEMO_TOKEN=mnemo_... python3 examples/client.py

The token needs the scopes memory:read and memory:write
(`mnemo token create --name npc-ai --scopes memory:read,memory:write`).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request


class Mnemo:
    def __init__(self, url, token, timeout=5.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method, path, body=None, retries=2):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                text = res.read()
                return res.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            payload = json.loads(e.read() or b"{}")
            # 429 and 503 are retryable: wait as long as the server says.
            if e.code in (429, 503) and retries > 0:
                time.sleep(float(e.headers.get("Retry-After", "1")))
                return self._call(method, path, body, retries - 1)
            error = payload.get("error", {})
            raise RuntimeError(
                f"{method} {path}: {e.code} {error.get('code')}: {error.get('message')}"
                + (f" (field {error['field']})" if error.get("field") else "")
            ) from None

    def context(self, npc_id, speaker_id, message, lore_tags=(), npc_name=None, speaker_name=None):
        """Before the NPC replies: everything the prompt needs, one call."""
        body = {"speaker_id": speaker_id, "message": message, "lore_tags": list(lore_tags)}
        if npc_name:
            body["npc_name"] = npc_name
        if speaker_name:
            body["speaker_name"] = speaker_name
        return self._call("POST", f"/v1/npcs/{npc_id}/context", body)[1]

    def remember(self, npc_id, speaker_id, npc_name, speaker_name, user_message, reply, importance=None):
        """After the NPC replied: store the exchange. 201 when searchable, 202
        when the embedding is pending (still stored; embedded later)."""
        body = {
            "npc_id": npc_id,
            "speaker_id": speaker_id,
            "npc_name": npc_name,
            "speaker_name": speaker_name,
            "user_message": user_message,
            "assistant_message": reply,
        }
        if importance is not None:
            body["importance"] = importance
        return self._call("POST", "/v1/memories/npc", body)


def prompt_from(context):
    """A sketch of turning the context into prompt text."""
    lines = []
    for entry in context["lore"]:
        lines.append(f"[lore] {entry['title']}: {entry['content']}")
    if context["last_interaction"]:
        lines.append(f"[you last spoke {context['last_interaction']['time_ago']}]")
    for m in context["recent"]:
        lines.append(f"[recent] {m['summary']}")
    for m in context["memories"]:
        lines.append(f"[memory {m['similarity']:.2f}] {m['summary']}")
    return "\n".join(lines)


def main():
    url = os.environ.get("MNEMO_URL", "http://127.0.0.1:8080")
    token = os.environ.get("MNEMO_TOKEN")
    if not token:
        sys.exit("set MNEMO_TOKEN (mnemo token create --name npc-ai --scopes memory:read,memory:write)")
    mnemo = Mnemo(url, token)
    npc_id, speaker_id = 4242, 7

    # A player speaks: fetch the context, build the prompt, get a reply ...
    message = "Is the old bridge still out?"
    context = mnemo.context(npc_id, speaker_id, message, lore_tags=["riverlands"],
                            npc_name="Mira", speaker_name="Aldric")
    print("context:", "degraded" if context["degraded"] else "ok",
          f"({len(context['recent'])} recent, {len(context['memories'])} similar, {len(context['lore'])} lore)")
    print(prompt_from(context) or "(nothing remembered yet)")
    reply = "Aye, take the ford south of the mill."

    # ... and remember the exchange.
    status, stored = mnemo.remember(npc_id, speaker_id, "Mira", "Aldric", message, reply, importance=0.3)
    print(f"stored memory {stored['id']} ({stored['embedding_state']}, HTTP {status})")

    # The next turn sees it.
    context = mnemo.context(npc_id, speaker_id, "Which way was the ford?")
    print("context:", f"{len(context['recent'])} recent, last spoke {context['last_interaction']['time_ago']}")


if __name__ == "__main__":
    main()
