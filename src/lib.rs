//! mnemo: vector memory for game NPCs.
//!
//! Layers point one way: `http -> memory/accounts/xrpl/subscriptions -> db, vector, embed -> config`;
//! `original` (the import of the original game's databases) sits beside `http`, over the domain.

pub mod accounts;
pub mod cli;
pub mod config;
pub mod db;
pub mod decimal;
pub mod embed;
pub mod http;
pub mod memory;
pub mod original;
pub mod subscriptions;
pub mod tx_hash;
pub mod vector;
pub mod xrpl;
