-- SQLite mode's change log readers (see the SQLite migration of the same name);
-- unused in Postgres mode, present so both backends have the same schema.
CREATE TABLE ai_memory_changelog_reader (
    reader VARCHAR(64) PRIMARY KEY,
    seq BIGINT NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE ai_memory_changelog_pruned (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    through BIGINT NOT NULL
);
INSERT INTO ai_memory_changelog_pruned (id, through) VALUES (1, 0);
