-- SQLite mode: the change log is replayed by every process that keeps the
-- memories in memory (each `mnemo serve` on the data directory). Each records
-- here how far it has read, so rows every live reader has replayed can be
-- deleted (the log grew by one row per write, about 300 MB a day at 100
-- writes a second). `pruned_through` tells a reader that was away longer than
-- a reader is trusted to be alive that rows it never read are gone: it reloads
-- from the tables instead of missing them. Postgres mode has no change log
-- readers; the tables exist there too so both backends have the same schema.
CREATE TABLE ai_memory_changelog_reader (
    reader TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE TABLE ai_memory_changelog_pruned (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    through INTEGER NOT NULL
);
INSERT INTO ai_memory_changelog_pruned (id, through) VALUES (1, 0);
