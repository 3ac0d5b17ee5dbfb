//! What the tests share: a fresh database per test on either backend
//! ([`db`]), the real service on a free port and a client ([`http`]), the
//! `mnemo serve` binary as a child process ([`serve`]), the small world
//! of the provider-switch tests ([`reembed`]), a provider whose behaviour a
//! test scripts ([`embedders`]), the local model (`minilm`), a Postgres of a
//! test's own ([`postgres`]), transaction hashes for the payment and
//! economy tests ([`economy`]), and the original game's databases for the
//! import ([`original`]).

#[macro_use]
pub mod db;
pub mod economy;
pub mod embedders;
pub mod http;
#[cfg(feature = "minilm")]
pub mod minilm;
pub mod original;
pub mod postgres;
pub mod reembed;
pub mod serve;
