-- pgvector columns and HNSW indexes (Postgres only; SQLite keeps f32 blobs and searches in memory)
SELECT 1;
