//! What the tests share: a fresh database per test on either backend
//! ([`db`]), the real service on a free port and a client ([`http`]), the
//! `mnemo serve` binary as a child process ([`serve`]), the small world
//! of the provider-switch tests ([`reembed`]), and transaction hashes for the
//! payment and economy tests ([`economy`]).

#[macro_use]
pub mod db;
pub mod economy;
pub mod http;
pub mod reembed;
pub mod serve;
