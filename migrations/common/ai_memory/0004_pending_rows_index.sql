-- Rows awaiting their embedding (stored while the provider was down) are found
-- by the background worker's poll and counted for /metrics. Without an index
-- both read the whole table, vectors included: 6-8 s per poll at 100,000
-- 1536-d rows on SQLite. These partial indexes hold only the pending rows, so
-- they stay empty (and free) in normal operation.
CREATE INDEX ai_memory_npcmemory_pending_idx ON ai_memory_npcmemory (id) WHERE embedding_model IS NULL;
CREATE INDEX ai_memory_combatmemory_pending_idx ON ai_memory_combatmemory (id) WHERE embedding_model IS NULL;
CREATE INDEX ai_memory_lorememory_pending_idx ON ai_memory_lorememory (id) WHERE embedding_model IS NULL;
