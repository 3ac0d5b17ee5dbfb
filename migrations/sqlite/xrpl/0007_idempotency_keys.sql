-- Idempotency keys of economy writes: the first answer to a key, kept with the write in one transaction
-- A key belongs to the API token that used it (token_id); fingerprint identifies the request (method, path,
-- body) so a key reused for another request is refused. Rows older than 24 hours are forgotten.
CREATE TABLE xrpl_idempotencykey (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    fingerprint TEXT NOT NULL CHECK (length(fingerprint) = 64),
    response_status INTEGER NULL CHECK (response_status BETWEEN 100 AND 599),
    response_body TEXT NULL,
    created_at TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(created_at) IS NOT NULL),
    CONSTRAINT xrpl_idempotency_unique_key UNIQUE (token_id, idempotency_key)
) STRICT;
CREATE INDEX xrpl_idempotency_created_idx ON xrpl_idempotencykey (created_at);
