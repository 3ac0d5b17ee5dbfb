//! The integration tests: one binary (each test binary links the whole
//! dependency tree, so one binary links once), one module per area. Storage
//! tests run on SQLite and on the real Postgres of `scripts/test`.

#[macro_use]
mod support;

mod accounts;
mod changelog;
mod cli;
mod conformance;
mod db_sqlite;
mod demo;
mod economy_cli;
mod economy_conservation;
mod economy_http;
mod economy_idempotency;
mod economy_nfts;
mod economy_routes;
mod economy_scopes;
mod faults;
mod http_admin;
mod http_auth;
mod http_contract;
mod http_memory;
mod import_original;
mod import_original_checks;
mod lifecycle;
mod memory_hnsw;
mod memory_kinds;
mod memory_npc;
mod memory_search_strategy;
mod migrations;
#[cfg(feature = "minilm")]
mod minilm;
mod pending;
mod pg_index;
mod pg_statistics;
mod record_cache;
mod reembed;
mod reembed_cli;
mod settings;
mod subscriptions;
mod xrpl;
