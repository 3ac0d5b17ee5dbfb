//! mnemo: vector memory for game NPCs.
//!
//! Layers point one way: `http -> memory/accounts/xrpl/subscriptions -> db, vector, embed -> config`.

pub mod embed;
pub mod vector;
