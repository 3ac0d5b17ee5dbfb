//! The vector search core: codec, validation, exact SIMD top-k and the HNSW index.
//!
//! Vectors are L2-normalised once at write ([`normalize`]), so cosine similarity is a
//! plain dot product ([`dot`]). A [`Partition`] holds the rows of one search scope in a
//! contiguous arena and answers exact top-k queries, optionally narrowed down first by
//! compact copies of the rows (sign bits, int8: [`ScanPlan`]); an [`IndexedPartition`]
//! adds an `hnsw_rs` index for partitions too large to scan, built off the caller's
//! thread in a [`BuildPool`] that runs one build at a time.

mod codec;
mod error;
mod flat;
mod graph;
mod indexed;
mod kernel;
mod partition;
mod quantized;
mod sign_bits;
mod topk;
mod validate;

#[cfg(test)]
mod testdata;

pub use codec::{decode_blob, encode_blob};
pub use error::VectorError;
pub use graph::BuildReport;
pub use indexed::{
    BuildJob, BuildPool, BuiltIndex, HnswSettings, IndexedPartition, Maintenance, SearchOutcome,
    Strategy,
};
pub use kernel::dot;
pub use partition::{Partition, ResidentBytes, ScanPlan};
pub use sign_bits::{BitRescore, auto_factor, sign_bits};
pub use topk::{Hit, Ranked, TopK};
pub use validate::normalize;
