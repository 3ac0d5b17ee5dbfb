//! `mnemo import original`: the original game's databases (FullCircleMUD's
//! SQLite files or its Postgres database) into mnemo, in one command.
//!
//! - [`source`]: reading the original's tables, whatever its backend stored
//!   (`source::values`: how each value is read);
//! - [`run`]: the checks that refuse before anything is written, then every
//!   table in order (`run::steps`), each read in pages and written a batch per
//!   transaction (`run::tables`), resumable;
//! - [`report`]: what the import did, per table and row;
//! - the memory tables' mapping is in `memories`; the economy's, the
//!   subscriptions' and the accounts' are declared by their own modules
//!   (`xrpl::import`, `subscriptions::import`, `accounts::import`), and the
//!   writes go through the memory layer (`MemoryStore::import_memories`) and
//!   the bulk writer (`db::bulk`).

mod memories;
mod report;
mod run;
pub mod source;

pub use report::{Report, RowIssue, TableReport};
pub use run::{ImportError, ImportOptions, Progress, Quiet, check_vectors, import};
pub use source::Source;
