-- Keep each vector inside its heap row instead of TOAST. A 1536-d vector is
-- 6 KB, above the 2 KB TOAST threshold, so by default every row an exact scan
-- ranks costs extra chunk lookups: an exact scan of a 5,000-row NPC took 32 ms
-- toasted and 7 ms inline. The providers' vectors (384-d, 1536-d: at most 6 KB)
-- fit a page beside the row's other columns; long text columns still TOAST.
-- Applies to rows written from now on (re-embedding rewrites older rows).
ALTER TABLE ai_memory_npcmemory ALTER COLUMN embedding_vector SET STORAGE PLAIN;
ALTER TABLE ai_memory_combatmemory ALTER COLUMN embedding_vector SET STORAGE PLAIN;
ALTER TABLE ai_memory_lorememory ALTER COLUMN embedding_vector SET STORAGE PLAIN;
