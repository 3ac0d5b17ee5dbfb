-- Accounts, their characters, and hashed API tokens
CREATE TABLE accounts_account (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 150),
    email TEXT NOT NULL DEFAULT '',
    wallet_address TEXT NULL,
    is_superuser INTEGER NOT NULL DEFAULT 0 CHECK (is_superuser IN (0, 1)),
    is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at TEXT NOT NULL
);
CREATE INDEX accounts_account_wallet_idx ON accounts_account (wallet_address);

CREATE TABLE accounts_character (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts_account (id) ON DELETE CASCADE,
    key TEXT NOT NULL UNIQUE CHECK (length(key) BETWEEN 1 AND 80),
    created_at TEXT NOT NULL
);
CREATE INDEX accounts_character_account_idx ON accounts_character (account_id);

CREATE TABLE accounts_apitoken (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT NULL
);
