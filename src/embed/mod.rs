//! Embedding providers: the `Embedder` trait, the offline hash provider, OpenAI, and the query cache.
