//! What the tests share: a fresh database per test on either backend
//! ([`db`]), the real service on a free port and a client ([`http`]), the
//! `mnemo serve` binary as a child process ([`serve`]), the small world
//! of the provider-switch tests ([`reembed`]), a provider whose
//! behaviour a test scripts ([`embedders`]), and the original game's
//! databases for the import ([`original`]).

#[macro_use]
pub mod db;
pub mod embedders;
pub mod http;
pub mod original;
pub mod postgres;
pub mod reembed;
pub mod serve;
