-- Postgres only (vectors stored inline); SQLite keeps f32 blobs.
SELECT 1;
