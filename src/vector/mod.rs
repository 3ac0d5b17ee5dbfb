//! The vector search core: codec, validation, exact SIMD top-k and the HNSW index.
