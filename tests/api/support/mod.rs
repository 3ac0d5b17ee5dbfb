//! What the tests share: a fresh database per test on either backend
//! ([`db`]), the real service on a free port and a client ([`http`]), the
//! `mnemo serve` binary as a child process ([`serve`]), and the small world
//! of the provider-switch tests ([`reembed`]).

#[macro_use]
pub mod db;
pub mod http;
pub mod reembed;
pub mod serve;
