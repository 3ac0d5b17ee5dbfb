-- Postgres only (its first pass's sign bits, now of the rotated vectors, written by the service); SQLite mode computes its codes in memory.
SELECT 1;
