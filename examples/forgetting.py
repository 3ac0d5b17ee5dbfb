#!/usr/bin/env python3
"""An innkeeper who forgets small talk but keeps a quest: a memory budget,
importance, expiry, repeats, and the log of what was forgotten and why.

    MNEMO_URL=http://127.0.0.1:8080 MNEMO_TOKEN=mnemo_... python3 examples/forgetting.py

The token needs memory:read and memory:write. Each run uses a new NPC id.
"""

import os
import sys
import time

from mnemo_client import Client, MnemoError


def show(mnemo, npc_id, title):
    print(f"\n{title}")
    for m in mnemo.list_npc(npc_id=npc_id).items:
        repeats = f", said {m.repeat_count} times" if m.repeat_count > 1 else ""
        print(f"  remembers  [{m.importance}] {m.summary}{repeats}")
    for f in mnemo.forgotten(npc_id).items:
        print(f"  forgot     ({f.reason}) {f.summary}")


def main():
    token = os.environ.get("MNEMO_TOKEN")
    if not token:
        sys.exit("set MNEMO_TOKEN (mnemo token create --name npc-ai --scopes memory:read,memory:write)")
    innkeeper, player = int(time.time()) % 1_000_000_000, 7
    with Client(os.environ.get("MNEMO_URL", "http://127.0.0.1:8080"), token) as mnemo:
        # The innkeeper keeps four memories; the newest one is never evicted.
        mnemo.set_memory_policy(innkeeper, max_memories=4, keep_newest=1, half_life_hours=24)

        def hears(summary, importance, **extra):
            m = mnemo.store(innkeeper, speaker_id=player, speaker_name="Aldric",
                            summary=summary, importance=importance, **extra)
            note = " (a repeat: no new memory)" if m.deduplicated else ""
            print(f"heard [{importance}] {summary}{note}")

        hears("Aldric swore to bring back the Crown of Vexmoor from the barrow", 0.95)
        hears("Aldric said the weather is fine today", 0.1)
        hears("Aldric said the weather is fine today", 0.1)  # said again: one memory, counted twice
        hears("Aldric asked for a room for the night", 0.4)
        hears("Aldric will meet the ferryman at noon", 0.6, ttl_seconds=2)
        hears("Aldric liked the stew", 0.2)
        hears("Aldric complained about the draught", 0.15)
        show(mnemo, innkeeper, "Over budget, what mattered least went first:")

        time.sleep(2.5)
        show(mnemo, innkeeper, "The appointment expired: no read shows it any more "
                               "(the background job records it as forgotten within a minute):")

        hits = mnemo.search(innkeeper, "Vexmoor", mode="keyword", top_k=3)
        print(f"\nkeyword search 'Vexmoor': {[h.summary for h in hits]} "
              f"(returned {hits.returned} of {hits.requested}, exhausted: {hits.exhausted})")


if __name__ == "__main__":
    try:
        main()
    except MnemoError as e:
        sys.exit(f"mnemo: {e}")
