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
mod faults;
mod http_admin;
mod http_auth;
mod http_contract;
mod http_memory;
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
mod reembed;
mod reembed_cli;
mod subscriptions;
mod xrpl;
