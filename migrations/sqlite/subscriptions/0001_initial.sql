-- Plans, payments (tx_hash unique: replay protection) and each account's expiry
CREATE TABLE subscriptions_subscriptionplan (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    duration_days INTEGER NOT NULL CHECK (duration_days > 0),
    price TEXT NOT NULL CHECK (CAST(price AS REAL) >= 0),
    is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    sort_order INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE subscriptions_subscriptionpayment (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL,
    account_name TEXT NOT NULL,
    wallet_address TEXT NOT NULL,
    plan_key TEXT NOT NULL,
    amount TEXT NOT NULL CHECK (CAST(amount AS REAL) >= 0),
    currency_code TEXT NOT NULL,
    tx_hash TEXT NOT NULL UNIQUE CHECK (length(tx_hash) BETWEEN 1 AND 64),
    old_expiry TEXT NULL,
    new_expiry TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX subscriptions_payment_account_idx ON subscriptions_subscriptionpayment (account_id, created_at);

-- The expiry lives beside the payments so that a payment and the extension it
-- buys commit together, in one database, in SQLite mode too.
CREATE TABLE subscriptions_accountsubscription (
    account_id INTEGER PRIMARY KEY,
    expires_at TEXT NULL,
    trial_granted_at TEXT NULL,
    updated_at TEXT NOT NULL
);
