//! The one error type of the vector core.

/// Why a vector (or its stored blob) was refused.
///
/// Every variant carries the numbers needed to act on it, because these messages
/// end up in 400 responses and in logs of a corrupted database.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum VectorError {
    /// The vector has the wrong number of components.
    #[error("wrong vector dimension: expected {expected}, got {got}")]
    WrongDimension {
        /// The dimension of the partition / embedding model.
        expected: usize,
        /// The length that was supplied.
        got: usize,
    },
    /// A component is NaN or infinite.
    #[error("vector component {index} is not a finite number (NaN or infinity)")]
    NonFinite {
        /// Position of the first offending component.
        index: usize,
    },
    /// All components are zero, so the vector has no direction and cannot be normalised.
    #[error("vector has zero norm and cannot be normalised")]
    ZeroNorm,
    /// A stored blob does not have `dim * 4` bytes.
    #[error("vector blob has wrong length: expected {expected} bytes, got {got}")]
    BadBlobLength {
        /// `dim * 4`.
        expected: usize,
        /// The blob's actual length in bytes.
        got: usize,
    },
}
