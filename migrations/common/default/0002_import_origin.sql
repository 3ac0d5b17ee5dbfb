-- Where each row imported from the original game came from (its table and id), so an import runs once
-- `mnemo import original` records every source row it handled here in the same transaction as the row
-- itself: a second run skips what is recorded, an interrupted run continues after its last commit.
-- outcome: 'imported' (a new row), 'matched' (a row with the same natural key existed and took the
-- original's values), 'duplicate' (the same as another row, e.g. a replayed tx_hash: not written again;
-- target_id is the row it duplicates).
CREATE TABLE accounts_import_origin (
    source_table VARCHAR(64) NOT NULL,
    original_id BIGINT NOT NULL,
    target_id BIGINT NOT NULL,
    outcome VARCHAR(10) NOT NULL CHECK (outcome IN ('imported', 'matched', 'duplicate')),
    PRIMARY KEY (source_table, original_id)
);
