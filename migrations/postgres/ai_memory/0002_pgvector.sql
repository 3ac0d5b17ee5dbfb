-- pgvector columns and HNSW indexes (Postgres only; SQLite keeps f32 blobs and searches in memory)
CREATE EXTENSION IF NOT EXISTS vector;

-- Decode a little-endian f32 blob (the SQLite storage format) into a vector, for
-- rows written before the vector column existed. Rejects blobs of the wrong length.
CREATE OR REPLACE FUNCTION ai_memory_blob_to_vector(b BYTEA) RETURNS vector
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    n INTEGER := length(b) / 4;
    values_out REAL[] := ARRAY[]::REAL[];
    bits BIGINT;
    exponent INTEGER;
    mantissa BIGINT;
    v DOUBLE PRECISION;
BEGIN
    IF length(b) % 4 <> 0 OR n <> {{embedding_dim}} THEN
        RAISE EXCEPTION 'embedding blob of % bytes is not {{embedding_dim}} little-endian f32 values', length(b);
    END IF;
    FOR i IN 0 .. n - 1 LOOP
        bits := get_byte(b, 4 * i)::BIGINT
            | (get_byte(b, 4 * i + 1)::BIGINT << 8)
            | (get_byte(b, 4 * i + 2)::BIGINT << 16)
            | (get_byte(b, 4 * i + 3)::BIGINT << 24);
        exponent := ((bits >> 23) & 255)::INTEGER;
        mantissa := bits & 8388607;
        IF exponent = 0 THEN
            v := mantissa * power(2::DOUBLE PRECISION, -149);
        ELSE
            v := (mantissa + 8388608) * power(2::DOUBLE PRECISION, exponent - 150);
        END IF;
        IF (bits >> 31) & 1 = 1 THEN
            v := -v;
        END IF;
        values_out := values_out || v::REAL;
    END LOOP;
    RETURN values_out::vector;
END
$$;

ALTER TABLE ai_memory_npcmemory ADD COLUMN IF NOT EXISTS embedding_vector vector({{embedding_dim}}) NULL;
UPDATE ai_memory_npcmemory SET embedding_vector = ai_memory_blob_to_vector(embedding)
    WHERE embedding IS NOT NULL AND embedding_vector IS NULL;
CREATE INDEX IF NOT EXISTS npcmemory_embedding_hnsw ON ai_memory_npcmemory
    USING hnsw (embedding_vector vector_cosine_ops) WITH (m = 16, ef_construction = 64);

ALTER TABLE ai_memory_combatmemory ADD COLUMN IF NOT EXISTS embedding_vector vector({{embedding_dim}}) NULL;
UPDATE ai_memory_combatmemory SET embedding_vector = ai_memory_blob_to_vector(embedding)
    WHERE embedding IS NOT NULL AND embedding_vector IS NULL;
CREATE INDEX IF NOT EXISTS combatmemory_embedding_hnsw ON ai_memory_combatmemory
    USING hnsw (embedding_vector vector_cosine_ops) WITH (m = 16, ef_construction = 64);

ALTER TABLE ai_memory_lorememory ADD COLUMN IF NOT EXISTS embedding_vector vector({{embedding_dim}}) NULL;
UPDATE ai_memory_lorememory SET embedding_vector = ai_memory_blob_to_vector(embedding)
    WHERE embedding IS NOT NULL AND embedding_vector IS NULL;
CREATE INDEX IF NOT EXISTS lorememory_embedding_hnsw ON ai_memory_lorememory
    USING hnsw (embedding_vector vector_cosine_ops) WITH (m = 16, ef_construction = 64);
