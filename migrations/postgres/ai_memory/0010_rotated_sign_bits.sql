-- Rotated sign bits: the first pass ranks by codes the service writes beside each vector
-- The sign-bit first pass ranks by the signs of each vector under one fixed
-- random rotation (see the vector module's sign_bits), computed by the service
-- and written beside each vector, instead of the signs of the raw components
-- that a trigger took with binary_quantize. Raw signs tell sparse vectors (the
-- offline hash provider's) nearly nothing apart, so the pass was skipped for
-- them; rotated ones rank every kind of vector. A new column, so no row is
-- rewritten here: rows written before it have none until the service fills
-- them in (housekeeping), and a search meanwhile scores such rows exactly.
-- destructive: drops embedding_bits, a copy derived from each vector (no data is lost)
DROP TRIGGER ai_memory_npcmemory_bits ON ai_memory_npcmemory;
DROP TRIGGER ai_memory_combatmemory_bits ON ai_memory_combatmemory;
DROP TRIGGER ai_memory_lorememory_bits ON ai_memory_lorememory;
DROP FUNCTION ai_memory_embedding_bits();

-- Dropping the column drops the covering indexes of 0007 and 0009 with it.
ALTER TABLE ai_memory_npcmemory DROP COLUMN embedding_bits;
ALTER TABLE ai_memory_combatmemory DROP COLUMN embedding_bits;
ALTER TABLE ai_memory_lorememory DROP COLUMN embedding_bits;
ALTER TABLE ai_memory_npcmemory ADD COLUMN embedding_signs bit varying NULL;
ALTER TABLE ai_memory_combatmemory ADD COLUMN embedding_signs bit varying NULL;
ALTER TABLE ai_memory_lorememory ADD COLUMN embedding_signs bit varying NULL;

CREATE INDEX ai_memory_npcmemory_signs_idx ON ai_memory_npcmemory (npc_id)
    INCLUDE (id, created_at, expires_at, speaker_id, speaker_name, embedding_model, embedding_signs);
CREATE INDEX ai_memory_combatmemory_signs_idx ON ai_memory_combatmemory (mob_type)
    INCLUDE (id, created_at, expires_at, mob_name, outcome, party_size, embedding_model, embedding_signs);
CREATE INDEX ai_memory_lorememory_signs_idx ON ai_memory_lorememory (embedding_model)
    INCLUDE (id, created_at, expires_at, scope_tags, embedding_signs);

-- The rows with a vector but no signs yet: what a search scores exactly and
-- housekeeping fills in. Empty once filled, so looking costs nothing.
CREATE INDEX ai_memory_npcmemory_unsigned_idx ON ai_memory_npcmemory (id)
    WHERE embedding_signs IS NULL AND embedding_vector IS NOT NULL;
CREATE INDEX ai_memory_combatmemory_unsigned_idx ON ai_memory_combatmemory (id)
    WHERE embedding_signs IS NULL AND embedding_vector IS NOT NULL;
CREATE INDEX ai_memory_lorememory_unsigned_idx ON ai_memory_lorememory (id)
    WHERE embedding_signs IS NULL AND embedding_vector IS NOT NULL;
