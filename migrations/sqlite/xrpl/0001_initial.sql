-- xrpl schema (SQLite): the tables of FullCircleMUD's blockchain/xrpl app, with its constraints and indexes
-- Mirrors the original's models after its migrations 0001-0005 (0002 index rename and SINK location,
-- 0004 EnchantmentSlot, 0005 ReconciliationFailure). Same tables and columns on SQLite and Postgres.
-- SQLite conventions: STRICT tables; timestamps TEXT in RFC 3339 UTC ('YYYY-MM-DDTHH:MM:SS[.fff]+00:00');
-- decimals TEXT in canonical fixed-scale form ('0.500', '100000.000000'); booleans INTEGER 0/1; JSON TEXT.

-- CurrencyType: XRPL issued currencies (gold, resources, proxy tokens)
CREATE TABLE xrpl_currencytype (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    currency_code TEXT NOT NULL UNIQUE CHECK (length(currency_code) <= 40),
    resource_id INTEGER NULL UNIQUE CHECK (resource_id BETWEEN 0 AND 2147483647),
    name TEXT NOT NULL CHECK (length(name) <= 50),
    unit TEXT NOT NULL CHECK (length(unit) <= 30),
    description TEXT NOT NULL DEFAULT '',
    weight_per_unit_kg TEXT NOT NULL DEFAULT '0.000' CHECK (weight_per_unit_kg NOT GLOB '--*' AND ltrim(weight_per_unit_kg, '-') GLOB '[0-9]*.[0-9][0-9][0-9]' AND ltrim(weight_per_unit_kg, '-') NOT GLOB '*[^0-9.]*' AND instr(weight_per_unit_kg, '.') = length(weight_per_unit_kg) - 3 AND length(ltrim(weight_per_unit_kg, '-')) <= 7 AND ltrim(weight_per_unit_kg, '-') NOT GLOB '0[0-9]*'),
    is_gold INTEGER NOT NULL DEFAULT 0 CHECK (is_gold IN (0, 1))
) STRICT;

-- NFTItemType: item templates
CREATE TABLE xrpl_nftitemtype (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE CHECK (length(name) <= 100),
    typeclass TEXT NOT NULL CHECK (length(typeclass) <= 255),
    prototype_key TEXT NULL CHECK (length(prototype_key) <= 255),
    description TEXT NOT NULL DEFAULT '',
    default_metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(default_metadata)),
    tracking_token TEXT NULL UNIQUE CHECK (length(tracking_token) <= 40)
) STRICT;

-- FungibleGameState: in-game balances of every currency
CREATE TABLE xrpl_fungiblegamestate (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    currency_code TEXT NOT NULL CHECK (length(currency_code) <= 40),
    wallet_address TEXT NOT NULL CHECK (length(wallet_address) <= 50),
    location TEXT NOT NULL DEFAULT 'RESERVE' CHECK (length(location) <= 10),
    character_key TEXT NULL CHECK (length(character_key) <= 255),
    balance TEXT NOT NULL CHECK (balance NOT GLOB '--*' AND ltrim(balance, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(balance, '-') NOT GLOB '*[^0-9.]*' AND instr(balance, '.') = length(balance) - 6 AND length(ltrim(balance, '-')) <= 37 AND ltrim(balance, '-') NOT GLOB '0[0-9]*'),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(created_at) IS NOT NULL),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(updated_at) IS NOT NULL),
    CONSTRAINT xrpl_fungible_location_valid CHECK (location IN ('RESERVE', 'SPAWNED', 'ACCOUNT', 'CHARACTER', 'SINK')),
    CONSTRAINT xrpl_fungible_character_key_iff_character CHECK ((location = 'CHARACTER' AND character_key IS NOT NULL) OR (NOT (location = 'CHARACTER') AND character_key IS NULL)),
    CONSTRAINT xrpl_fungible_balance_positive CHECK (CAST(balance AS REAL) > 0)
) STRICT;
CREATE INDEX xrpl_fungib_currenc_idx ON xrpl_fungiblegamestate (currency_code);
CREATE INDEX xrpl_fungib_wallet__idx ON xrpl_fungiblegamestate (wallet_address);
CREATE UNIQUE INDEX xrpl_fungible_unique_plain ON xrpl_fungiblegamestate (currency_code, wallet_address, location) WHERE NOT (location = 'CHARACTER');
CREATE UNIQUE INDEX xrpl_fungible_unique_character ON xrpl_fungiblegamestate (currency_code, wallet_address, location, character_key) WHERE location = 'CHARACTER';

-- NFTGameState: one row per NFToken
CREATE TABLE xrpl_nftgamestate (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    nftoken_id TEXT NOT NULL UNIQUE CHECK (length(nftoken_id) <= 64),
    uri_id INTEGER NULL UNIQUE CHECK (uri_id BETWEEN 0 AND 2147483647),
    taxon INTEGER NOT NULL CHECK (taxon BETWEEN 0 AND 2147483647),
    owner_in_game TEXT NULL CHECK (length(owner_in_game) <= 50),
    location TEXT NOT NULL DEFAULT 'RESERVE' CHECK (length(location) <= 10),
    character_key TEXT NULL CHECK (length(character_key) <= 255),
    item_type_id INTEGER NULL REFERENCES xrpl_nftitemtype(id) ON DELETE RESTRICT,
    metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(created_at) IS NOT NULL),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(updated_at) IS NOT NULL),
    CONSTRAINT xrpl_nft_location_valid CHECK (location IN ('RESERVE', 'SPAWNED', 'AUCTION', 'ACCOUNT', 'CHARACTER', 'ONCHAIN')),
    CONSTRAINT xrpl_nft_character_key_iff_character CHECK ((location = 'CHARACTER' AND character_key IS NOT NULL) OR (NOT (location = 'CHARACTER') AND character_key IS NULL)),
    CONSTRAINT xrpl_nft_owner_iff_not_onchain CHECK ((location = 'ONCHAIN' AND owner_in_game IS NULL) OR (NOT (location = 'ONCHAIN') AND owner_in_game IS NOT NULL))
) STRICT;
CREATE INDEX xrpl_nftgam_owner_i_idx ON xrpl_nftgamestate (owner_in_game);
CREATE INDEX xrpl_nftgam_taxon_idx ON xrpl_nftgamestate (taxon);
CREATE INDEX xrpl_nftgamestate_item_type_id_idx ON xrpl_nftgamestate (item_type_id);

-- FungibleTransferLog: in-game fungible transfers
CREATE TABLE xrpl_fungibletransferlog (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    currency_code TEXT NOT NULL CHECK (length(currency_code) <= 40),
    from_wallet TEXT NOT NULL CHECK (length(from_wallet) <= 50),
    to_wallet TEXT NOT NULL CHECK (length(to_wallet) <= 50),
    amount TEXT NOT NULL CHECK (amount NOT GLOB '--*' AND ltrim(amount, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(amount, '-') NOT GLOB '*[^0-9.]*' AND instr(amount, '.') = length(amount) - 6 AND length(ltrim(amount, '-')) <= 37 AND ltrim(amount, '-') NOT GLOB '0[0-9]*'),
    transfer_type TEXT NOT NULL CHECK (length(transfer_type) <= 30),
    timestamp TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(timestamp) IS NOT NULL),
    CONSTRAINT xrpl_fungible_transfer_amount_positive CHECK (CAST(amount AS REAL) > 0),
    CONSTRAINT xrpl_fungible_transfer_not_self CHECK (NOT (from_wallet = to_wallet))
) STRICT;
CREATE INDEX xrpl_fungtr_currenc_idx ON xrpl_fungibletransferlog (currency_code);
CREATE INDEX xrpl_fungtr_from_wa_idx ON xrpl_fungibletransferlog (from_wallet);
CREATE INDEX xrpl_fungtr_to_wall_idx ON xrpl_fungibletransferlog (to_wallet);
CREATE INDEX xrpl_fungtr_timesta_idx ON xrpl_fungibletransferlog (timestamp);

-- NFTTransferLog: in-game NFT transfers
CREATE TABLE xrpl_nfttransferlog (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    nftoken_id TEXT NOT NULL CHECK (length(nftoken_id) <= 64),
    from_wallet TEXT NOT NULL CHECK (length(from_wallet) <= 50),
    to_wallet TEXT NOT NULL CHECK (length(to_wallet) <= 50),
    transfer_type TEXT NOT NULL CHECK (length(transfer_type) <= 30),
    timestamp TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(timestamp) IS NOT NULL),
    CONSTRAINT xrpl_nft_transfer_not_self CHECK (NOT (from_wallet = to_wallet))
) STRICT;
CREATE INDEX xrpl_nfttr_nftoken_idx ON xrpl_nfttransferlog (nftoken_id);
CREATE INDEX xrpl_nfttr_timesta_idx ON xrpl_nfttransferlog (timestamp);

-- XRPLTransactionLog: chain transactions (dedup, crash recovery)
CREATE TABLE xrpl_xrpltransactionlog (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_hash TEXT NOT NULL UNIQUE CHECK (length(tx_hash) <= 64),
    tx_type TEXT NOT NULL CHECK (length(tx_type) <= 20),
    currency_code TEXT NULL CHECK (length(currency_code) <= 40),
    nftoken_id TEXT NULL CHECK (length(nftoken_id) <= 64),
    amount TEXT NULL CHECK (amount IS NULL OR (amount NOT GLOB '--*' AND ltrim(amount, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(amount, '-') NOT GLOB '*[^0-9.]*' AND instr(amount, '.') = length(amount) - 6 AND length(ltrim(amount, '-')) <= 37 AND ltrim(amount, '-') NOT GLOB '0[0-9]*')),
    wallet_address TEXT NOT NULL CHECK (length(wallet_address) <= 50),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (length(status) <= 10),
    ledger_index INTEGER NULL CHECK (ledger_index >= 0),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(created_at) IS NOT NULL),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(updated_at) IS NOT NULL),
    CONSTRAINT xrpl_xrpltx_status_valid CHECK (status IN ('pending', 'confirmed', 'failed'))
) STRICT;
CREATE INDEX xrpl_xrpltx_status_idx ON xrpl_xrpltransactionlog (status);
CREATE INDEX xrpl_xrpltx_wallet_idx ON xrpl_xrpltransactionlog (wallet_address);

-- PlayerSession: play sessions (telemetry)
CREATE TABLE xrpl_playersession (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL CHECK (account_id BETWEEN -2147483648 AND 2147483647),
    character_key TEXT NOT NULL CHECK (length(character_key) <= 80),
    started_at TEXT NOT NULL CHECK (started_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(started_at) IS NOT NULL),
    ended_at TEXT NULL CHECK (ended_at IS NULL OR (ended_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(ended_at) IS NOT NULL))
) STRICT;
CREATE INDEX xrpl_session_started_idx ON xrpl_playersession (started_at);
CREATE INDEX xrpl_session_acct_started_idx ON xrpl_playersession (account_id, started_at);

-- EconomySnapshot: hourly global economy metrics
CREATE TABLE xrpl_economysnapshot (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hour TEXT NOT NULL UNIQUE CHECK (hour GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(hour) IS NOT NULL),
    players_online INTEGER NOT NULL DEFAULT 0 CHECK (players_online BETWEEN -2147483648 AND 2147483647),
    unique_players_1h INTEGER NOT NULL DEFAULT 0 CHECK (unique_players_1h BETWEEN -2147483648 AND 2147483647),
    unique_players_24h INTEGER NOT NULL DEFAULT 0 CHECK (unique_players_24h BETWEEN -2147483648 AND 2147483647),
    unique_players_7d INTEGER NOT NULL DEFAULT 0 CHECK (unique_players_7d BETWEEN -2147483648 AND 2147483647),
    gold_circulation TEXT NOT NULL DEFAULT '0.000000' CHECK (gold_circulation NOT GLOB '--*' AND ltrim(gold_circulation, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(gold_circulation, '-') NOT GLOB '*[^0-9.]*' AND instr(gold_circulation, '.') = length(gold_circulation) - 6 AND length(ltrim(gold_circulation, '-')) <= 37 AND ltrim(gold_circulation, '-') NOT GLOB '0[0-9]*'),
    gold_reserve TEXT NOT NULL DEFAULT '0.000000' CHECK (gold_reserve NOT GLOB '--*' AND ltrim(gold_reserve, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(gold_reserve, '-') NOT GLOB '*[^0-9.]*' AND instr(gold_reserve, '.') = length(gold_reserve) - 6 AND length(ltrim(gold_reserve, '-')) <= 37 AND ltrim(gold_reserve, '-') NOT GLOB '0[0-9]*'),
    gold_sinks_1h TEXT NOT NULL DEFAULT '0.000000' CHECK (gold_sinks_1h NOT GLOB '--*' AND ltrim(gold_sinks_1h, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(gold_sinks_1h, '-') NOT GLOB '*[^0-9.]*' AND instr(gold_sinks_1h, '.') = length(gold_sinks_1h) - 6 AND length(ltrim(gold_sinks_1h, '-')) <= 37 AND ltrim(gold_sinks_1h, '-') NOT GLOB '0[0-9]*'),
    gold_spawned_1h TEXT NOT NULL DEFAULT '0.000000' CHECK (gold_spawned_1h NOT GLOB '--*' AND ltrim(gold_spawned_1h, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(gold_spawned_1h, '-') NOT GLOB '*[^0-9.]*' AND instr(gold_spawned_1h, '.') = length(gold_spawned_1h) - 6 AND length(ltrim(gold_spawned_1h, '-')) <= 37 AND ltrim(gold_spawned_1h, '-') NOT GLOB '0[0-9]*'),
    amm_trades_1h INTEGER NOT NULL DEFAULT 0 CHECK (amm_trades_1h BETWEEN -2147483648 AND 2147483647),
    amm_volume_gold_1h TEXT NOT NULL DEFAULT '0.000000' CHECK (amm_volume_gold_1h NOT GLOB '--*' AND ltrim(amm_volume_gold_1h, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(amm_volume_gold_1h, '-') NOT GLOB '*[^0-9.]*' AND instr(amm_volume_gold_1h, '.') = length(amm_volume_gold_1h) - 6 AND length(ltrim(amm_volume_gold_1h, '-')) <= 37 AND ltrim(amm_volume_gold_1h, '-') NOT GLOB '0[0-9]*'),
    imports_1h INTEGER NOT NULL DEFAULT 0 CHECK (imports_1h BETWEEN -2147483648 AND 2147483647),
    exports_1h INTEGER NOT NULL DEFAULT 0 CHECK (exports_1h BETWEEN -2147483648 AND 2147483647),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(created_at) IS NOT NULL)
) STRICT;

-- ResourceSnapshot: hourly per-currency metrics
CREATE TABLE xrpl_resourcesnapshot (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hour TEXT NOT NULL CHECK (hour GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(hour) IS NOT NULL),
    currency_code TEXT NOT NULL CHECK (length(currency_code) <= 40),
    in_character TEXT NOT NULL DEFAULT '0.000000' CHECK (in_character NOT GLOB '--*' AND ltrim(in_character, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(in_character, '-') NOT GLOB '*[^0-9.]*' AND instr(in_character, '.') = length(in_character) - 6 AND length(ltrim(in_character, '-')) <= 37 AND ltrim(in_character, '-') NOT GLOB '0[0-9]*'),
    in_account TEXT NOT NULL DEFAULT '0.000000' CHECK (in_account NOT GLOB '--*' AND ltrim(in_account, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(in_account, '-') NOT GLOB '*[^0-9.]*' AND instr(in_account, '.') = length(in_account) - 6 AND length(ltrim(in_account, '-')) <= 37 AND ltrim(in_account, '-') NOT GLOB '0[0-9]*'),
    in_spawned TEXT NOT NULL DEFAULT '0.000000' CHECK (in_spawned NOT GLOB '--*' AND ltrim(in_spawned, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(in_spawned, '-') NOT GLOB '*[^0-9.]*' AND instr(in_spawned, '.') = length(in_spawned) - 6 AND length(ltrim(in_spawned, '-')) <= 37 AND ltrim(in_spawned, '-') NOT GLOB '0[0-9]*'),
    in_reserve TEXT NOT NULL DEFAULT '0.000000' CHECK (in_reserve NOT GLOB '--*' AND ltrim(in_reserve, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(in_reserve, '-') NOT GLOB '*[^0-9.]*' AND instr(in_reserve, '.') = length(in_reserve) - 6 AND length(ltrim(in_reserve, '-')) <= 37 AND ltrim(in_reserve, '-') NOT GLOB '0[0-9]*'),
    in_sink TEXT NOT NULL DEFAULT '0.000000' CHECK (in_sink NOT GLOB '--*' AND ltrim(in_sink, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(in_sink, '-') NOT GLOB '*[^0-9.]*' AND instr(in_sink, '.') = length(in_sink) - 6 AND length(ltrim(in_sink, '-')) <= 37 AND ltrim(in_sink, '-') NOT GLOB '0[0-9]*'),
    produced_1h TEXT NOT NULL DEFAULT '0.000000' CHECK (produced_1h NOT GLOB '--*' AND ltrim(produced_1h, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(produced_1h, '-') NOT GLOB '*[^0-9.]*' AND instr(produced_1h, '.') = length(produced_1h) - 6 AND length(ltrim(produced_1h, '-')) <= 37 AND ltrim(produced_1h, '-') NOT GLOB '0[0-9]*'),
    consumed_1h TEXT NOT NULL DEFAULT '0.000000' CHECK (consumed_1h NOT GLOB '--*' AND ltrim(consumed_1h, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(consumed_1h, '-') NOT GLOB '*[^0-9.]*' AND instr(consumed_1h, '.') = length(consumed_1h) - 6 AND length(ltrim(consumed_1h, '-')) <= 37 AND ltrim(consumed_1h, '-') NOT GLOB '0[0-9]*'),
    traded_1h TEXT NOT NULL DEFAULT '0.000000' CHECK (traded_1h NOT GLOB '--*' AND ltrim(traded_1h, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(traded_1h, '-') NOT GLOB '*[^0-9.]*' AND instr(traded_1h, '.') = length(traded_1h) - 6 AND length(ltrim(traded_1h, '-')) <= 37 AND ltrim(traded_1h, '-') NOT GLOB '0[0-9]*'),
    exported_1h TEXT NOT NULL DEFAULT '0.000000' CHECK (exported_1h NOT GLOB '--*' AND ltrim(exported_1h, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(exported_1h, '-') NOT GLOB '*[^0-9.]*' AND instr(exported_1h, '.') = length(exported_1h) - 6 AND length(ltrim(exported_1h, '-')) <= 37 AND ltrim(exported_1h, '-') NOT GLOB '0[0-9]*'),
    imported_1h TEXT NOT NULL DEFAULT '0.000000' CHECK (imported_1h NOT GLOB '--*' AND ltrim(imported_1h, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(imported_1h, '-') NOT GLOB '*[^0-9.]*' AND instr(imported_1h, '.') = length(imported_1h) - 6 AND length(ltrim(imported_1h, '-')) <= 37 AND ltrim(imported_1h, '-') NOT GLOB '0[0-9]*'),
    amm_buy_price TEXT NULL CHECK (amm_buy_price IS NULL OR (amm_buy_price NOT GLOB '--*' AND ltrim(amm_buy_price, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(amm_buy_price, '-') NOT GLOB '*[^0-9.]*' AND instr(amm_buy_price, '.') = length(amm_buy_price) - 6 AND length(ltrim(amm_buy_price, '-')) <= 37 AND ltrim(amm_buy_price, '-') NOT GLOB '0[0-9]*')),
    amm_sell_price TEXT NULL CHECK (amm_sell_price IS NULL OR (amm_sell_price NOT GLOB '--*' AND ltrim(amm_sell_price, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(amm_sell_price, '-') NOT GLOB '*[^0-9.]*' AND instr(amm_sell_price, '.') = length(amm_sell_price) - 6 AND length(ltrim(amm_sell_price, '-')) <= 37 AND ltrim(amm_sell_price, '-') NOT GLOB '0[0-9]*')),
    spawn_budget INTEGER NOT NULL DEFAULT 0 CHECK (spawn_budget BETWEEN -2147483648 AND 2147483647),
    spawn_quest_debt INTEGER NOT NULL DEFAULT 0 CHECK (spawn_quest_debt BETWEEN -2147483648 AND 2147483647),
    spawn_placed INTEGER NOT NULL DEFAULT 0 CHECK (spawn_placed BETWEEN -2147483648 AND 2147483647),
    spawn_dropped INTEGER NOT NULL DEFAULT 0 CHECK (spawn_dropped BETWEEN -2147483648 AND 2147483647),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(created_at) IS NOT NULL),
    CONSTRAINT xrpl_unique_resource_snapshot_hour UNIQUE (hour, currency_code)
) STRICT;

-- BulletinListing: trading post listings
CREATE TABLE xrpl_bulletinlisting (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL CHECK (account_id BETWEEN -2147483648 AND 2147483647),
    character_name TEXT NOT NULL CHECK (length(character_name) <= 80),
    listing_type TEXT NOT NULL CHECK (length(listing_type) <= 3),
    message TEXT NOT NULL CHECK (length(message) <= 200),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(created_at) IS NOT NULL),
    expires_at TEXT NOT NULL CHECK (expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(expires_at) IS NOT NULL),
    CONSTRAINT xrpl_bulletin_listing_type_valid CHECK (listing_type IN ('WTS', 'WTB'))
) STRICT;
CREATE INDEX xrpl_bullet_expires_71139f_idx ON xrpl_bulletinlisting (expires_at);

-- EnchantmentSlot: pre-disclosed next enchantment outcome
CREATE TABLE xrpl_enchantmentslot (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    output_table TEXT NOT NULL CHECK (length(output_table) <= 64),
    mastery_level INTEGER NOT NULL CHECK (mastery_level BETWEEN 0 AND 32767),
    slot_number INTEGER NOT NULL DEFAULT 1 CHECK (slot_number BETWEEN 0 AND 2147483647),
    current_outcome TEXT NOT NULL CHECK (json_valid(current_outcome)),
    rolled_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (rolled_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(rolled_at) IS NOT NULL),
    CONSTRAINT xrpl_enchant_slot_unique_table_mastery UNIQUE (output_table, mastery_level)
) STRICT;

-- SaturationSnapshot: hourly NFT item saturation
CREATE TABLE xrpl_saturationsnapshot (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hour TEXT NOT NULL CHECK (hour GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(hour) IS NOT NULL),
    item_key TEXT NOT NULL CHECK (length(item_key) <= 80),
    category TEXT NOT NULL CHECK (length(category) <= 10),
    active_players_7d INTEGER NOT NULL CHECK (active_players_7d BETWEEN -2147483648 AND 2147483647),
    eligible_players INTEGER NOT NULL DEFAULT 0 CHECK (eligible_players BETWEEN -2147483648 AND 2147483647),
    known_by INTEGER NOT NULL DEFAULT 0 CHECK (known_by BETWEEN -2147483648 AND 2147483647),
    unlearned_copies INTEGER NOT NULL DEFAULT 0 CHECK (unlearned_copies BETWEEN -2147483648 AND 2147483647),
    in_circulation INTEGER NOT NULL DEFAULT 0 CHECK (in_circulation BETWEEN -2147483648 AND 2147483647),
    saturation REAL NOT NULL DEFAULT 0,
    spawn_budget INTEGER NOT NULL DEFAULT 0 CHECK (spawn_budget BETWEEN -2147483648 AND 2147483647),
    spawn_quest_debt INTEGER NOT NULL DEFAULT 0 CHECK (spawn_quest_debt BETWEEN -2147483648 AND 2147483647),
    spawn_placed INTEGER NOT NULL DEFAULT 0 CHECK (spawn_placed BETWEEN -2147483648 AND 2147483647),
    spawn_dropped INTEGER NOT NULL DEFAULT 0 CHECK (spawn_dropped BETWEEN -2147483648 AND 2147483647),
    CONSTRAINT xrpl_saturation_category_valid CHECK (category IN ('spell', 'recipe', 'item')),
    CONSTRAINT xrpl_unique_saturation_hour_item UNIQUE (hour, item_key, category)
) STRICT;

-- ReconciliationFailure: failed reconciliations awaiting a human
CREATE TABLE xrpl_reconciliationfailure (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    operation TEXT NOT NULL CHECK (length(operation) <= 40),
    wallet_address TEXT NOT NULL CHECK (length(wallet_address) <= 50),
    character_key TEXT NULL CHECK (length(character_key) <= 255),
    currency_code TEXT NULL CHECK (length(currency_code) <= 40),
    amount TEXT NULL CHECK (amount IS NULL OR (amount NOT GLOB '--*' AND ltrim(amount, '-') GLOB '[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]' AND ltrim(amount, '-') NOT GLOB '*[^0-9.]*' AND instr(amount, '.') = length(amount) - 6 AND length(ltrim(amount, '-')) <= 37 AND ltrim(amount, '-') NOT GLOB '0[0-9]*')),
    tx_hash TEXT NULL CHECK (length(tx_hash) <= 64),
    error TEXT NOT NULL,
    resolved INTEGER NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1)),
    resolved_note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(created_at) IS NOT NULL),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00','now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00' AND julianday(updated_at) IS NOT NULL)
) STRICT;
CREATE INDEX xrpl_reconfail_resolved_idx ON xrpl_reconciliationfailure (resolved);
CREATE INDEX xrpl_reconfail_wallet_idx ON xrpl_reconciliationfailure (wallet_address);
