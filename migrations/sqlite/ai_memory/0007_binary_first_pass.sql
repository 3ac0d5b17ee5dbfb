-- Postgres only (its compact first pass for exact searches); SQLite mode keeps
-- its sign bits in memory.
SELECT 1;
