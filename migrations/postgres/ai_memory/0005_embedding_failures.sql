-- A row the provider refuses to embed (a text over the model's token limit, an
-- HTTP 400) is marked failed instead of being retried forever: embedding_model
-- stays NULL, embedding_error says why, embedding_failed_at says when. The
-- background worker only takes pending rows (not failed ones), so one poisoned
-- row no longer holds back every row after it; `mnemo reembed --failed`
-- retries the failed ones.
ALTER TABLE ai_memory_npcmemory ADD COLUMN embedding_failed_at TIMESTAMPTZ NULL;
ALTER TABLE ai_memory_combatmemory ADD COLUMN embedding_failed_at TIMESTAMPTZ NULL;
ALTER TABLE ai_memory_lorememory ADD COLUMN embedding_failed_at TIMESTAMPTZ NULL;

-- The worker's poll reads only rows it may embed; failed rows have their own
-- (normally empty) index for listing and counting.
DROP INDEX ai_memory_npcmemory_pending_idx;
DROP INDEX ai_memory_combatmemory_pending_idx;
DROP INDEX ai_memory_lorememory_pending_idx;
CREATE INDEX ai_memory_npcmemory_pending_idx ON ai_memory_npcmemory (id) WHERE embedding_model IS NULL AND embedding_failed_at IS NULL;
CREATE INDEX ai_memory_combatmemory_pending_idx ON ai_memory_combatmemory (id) WHERE embedding_model IS NULL AND embedding_failed_at IS NULL;
CREATE INDEX ai_memory_lorememory_pending_idx ON ai_memory_lorememory (id) WHERE embedding_model IS NULL AND embedding_failed_at IS NULL;
CREATE INDEX ai_memory_npcmemory_failed_idx ON ai_memory_npcmemory (id) WHERE embedding_failed_at IS NOT NULL;
CREATE INDEX ai_memory_combatmemory_failed_idx ON ai_memory_combatmemory (id) WHERE embedding_failed_at IS NOT NULL;
CREATE INDEX ai_memory_lorememory_failed_idx ON ai_memory_lorememory (id) WHERE embedding_failed_at IS NOT NULL;
