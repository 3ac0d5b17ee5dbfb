//! The vector search core: codec, validation, exact SIMD top-k and the HNSW index.
mod codec;
mod error;
mod kernel;
// Helpers used by the HNSW layer.
#[allow(dead_code)]
mod partition;
mod topk;
mod validate;

pub use codec::{decode_blob, encode_blob};
pub use error::VectorError;
pub use kernel::dot;
pub use partition::Partition;
pub use topk::{Hit, TopK};
pub use validate::normalize;
