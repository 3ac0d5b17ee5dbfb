-- The three memory stores (NPC dialogue, combat encounters, world lore) and the change log
-- A row whose embedding_model is NULL is pending: stored, not yet embedded; the
-- background worker (or `mnemo reembed --pending`) fills it in.
CREATE TABLE ai_memory_npcmemory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    npc_id INTEGER NOT NULL,
    speaker_id INTEGER NOT NULL DEFAULT 0,
    speaker_name TEXT NOT NULL DEFAULT '',
    npc_name TEXT NOT NULL DEFAULT '',
    user_message TEXT NOT NULL DEFAULT '',
    assistant_message TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '',
    interaction_type TEXT NOT NULL DEFAULT 'say',
    importance REAL NULL CHECK (importance IS NULL OR (importance >= 0 AND importance <= 1)),
    metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at TEXT NOT NULL,
    embedding BLOB NULL,
    embedding_model TEXT NULL,
    embedding_error TEXT NULL
);
CREATE INDEX ai_memory_npcmemory_npc_created_idx ON ai_memory_npcmemory (npc_id, created_at);
CREATE INDEX ai_memory_npcmemory_npc_speaker_idx ON ai_memory_npcmemory (npc_id, speaker_id);
CREATE INDEX ai_memory_npcmemory_name_created_idx ON ai_memory_npcmemory (npc_name, created_at);
CREATE INDEX ai_memory_npcmemory_name_speaker_idx ON ai_memory_npcmemory (npc_name, speaker_name);
CREATE INDEX ai_memory_npcmemory_speaker_idx ON ai_memory_npcmemory (speaker_id);

CREATE TABLE ai_memory_combatmemory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mob_type TEXT NOT NULL,
    mob_level INTEGER NOT NULL DEFAULT 1,
    mob_name TEXT NOT NULL DEFAULT '',
    party_composition TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(party_composition)),
    party_size INTEGER NOT NULL DEFAULT 1 CHECK (party_size >= 0),
    mob_tactics TEXT NOT NULL DEFAULT '',
    enemy_tactics TEXT NOT NULL DEFAULT '',
    rounds_survived INTEGER NOT NULL DEFAULT 0 CHECK (rounds_survived >= 0),
    outcome TEXT NOT NULL CHECK (outcome IN ('win', 'loss', 'fled', 'draw')),
    hp_remaining_pct REAL NOT NULL DEFAULT 0 CHECK (hp_remaining_pct >= 0 AND hp_remaining_pct <= 100),
    summary TEXT NOT NULL CHECK (length(summary) > 0),
    metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at TEXT NOT NULL,
    embedding BLOB NULL,
    embedding_model TEXT NULL,
    embedding_error TEXT NULL
);
CREATE INDEX ai_memory_combatmemory_type_created_idx ON ai_memory_combatmemory (mob_type, created_at);
CREATE INDEX ai_memory_combatmemory_type_party_idx ON ai_memory_combatmemory (mob_type, party_size);
CREATE INDEX ai_memory_combatmemory_type_outcome_idx ON ai_memory_combatmemory (mob_type, outcome);
CREATE INDEX ai_memory_combatmemory_name_created_idx ON ai_memory_combatmemory (mob_name, created_at);

CREATE TABLE ai_memory_lorememory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL CHECK (length(title) > 0),
    content TEXT NOT NULL CHECK (length(content) > 0),
    scope_level TEXT NOT NULL CHECK (scope_level IN ('continental', 'regional', 'local', 'faction')),
    scope_tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(scope_tags)),
    source TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    embedding BLOB NULL,
    embedding_model TEXT NULL,
    embedding_error TEXT NULL,
    CONSTRAINT uniq_lorememory_source_title UNIQUE (source, title)
);
CREATE INDEX ai_memory_lorememory_scope_idx ON ai_memory_lorememory (scope_level);

-- Every committed write appends here in the same transaction, so a server keeping
-- partitions in memory can replay what another process (the CLI) changed.
CREATE TABLE ai_memory_changelog (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('npc', 'combat', 'lore')),
    row_id INTEGER NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete'))
);
