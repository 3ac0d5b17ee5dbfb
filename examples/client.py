#!/usr/bin/env python3
"""What the NPC AI layer of a Python game server asks mnemo, with the
`mnemo-client` package (`pip install ./clients/python`): before an NPC replies,
fetch its context (relevant lore, recent exchanges with this player, the last
time they met, similar memories); after it replies, store the exchange.

    MNEMO_URL=http://127.0.0.1:8080 MNEMO_TOKEN=mnemo_... python3 examples/client.py

The token needs the scopes memory:read and memory:write
(`mnemo token create --name npc-ai --scopes memory:read,memory:write`).
"""

import os
import sys

from mnemo_client import Client, MnemoError


def prompt_from(context):
    """A sketch of turning the context into prompt text."""
    lines = [f"[lore] {e.title}: {e.content}" for e in context.lore]
    if context.last_interaction:
        lines.append(f"[you last spoke {context.last_interaction.time_ago}]")
    lines += [f"[recent] {m.summary}" for m in context.recent]
    lines += [f"[memory {m.score:.2f}] {m.summary}" for m in context.memories]
    return "\n".join(lines)


def main():
    token = os.environ.get("MNEMO_TOKEN")
    if not token:
        sys.exit("set MNEMO_TOKEN (mnemo token create --name npc-ai --scopes memory:read,memory:write)")
    npc_id, speaker_id = 4242, 7
    with Client(os.environ.get("MNEMO_URL", "http://127.0.0.1:8080"), token) as mnemo:
        # A player speaks: fetch the context, build the prompt, get a reply ...
        message = "Is the old bridge still out?"
        context = mnemo.context(npc_id, speaker_id, message, lore_tags=["riverlands"],
                                npc_name="Mira", speaker_name="Aldric")
        print("context:", "degraded" if context.degraded else "ok",
              f"({len(context.recent)} recent, {len(context.memories)} similar, {len(context.lore)} lore)")
        print(prompt_from(context) or "(nothing remembered yet)")
        reply = "Aye, take the ford south of the mill."

        # ... and remember the exchange ("pending": stored, embedded later).
        stored = mnemo.store(npc_id, speaker_id=speaker_id, speaker_name="Aldric", npc_name="Mira",
                             user_message=message, assistant_message=reply, importance=0.3)
        print(f"stored memory {stored.id} ({stored.embedding_state})")

        # The next turn sees it.
        context = mnemo.context(npc_id, speaker_id, "Which way was the ford?")
        print("context:", f"{len(context.recent)} recent, last spoke {context.last_interaction.time_ago}")


if __name__ == "__main__":
    try:
        main()
    except MnemoError as e:
        sys.exit(f"mnemo: {e}")
