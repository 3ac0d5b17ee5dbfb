//! How a search finds its rows: by vector similarity (`vector`, the default),
//! by the words of the query (`keyword`, see `keyword`), or both fused
//! (`hybrid`): reciprocal rank fusion, each row scoring
//! `Σ 1 / (RRF_K + rank)` over the two lists it appears in (rank from 1),
//! with `RRF_K` = 60, the constant of Cormack, Clarke and Büttcher (SIGIR
//! 2009), which damps the head of each list so neither list's top hit wins by
//! itself. Each list is searched [`fusion_depth`] deep.
//!
//! Keyword search needs no embedding: it works while the provider is down and
//! finds memories still pending. A hybrid search whose query cannot be
//! embedded answers from the keyword list alone and says so (`degraded`).
//!
//! Every mode returns `min(k, matching)` rows, where `matching` is how many
//! rows of the scope pass the filters (and, for keyword, match a word): the
//! engines never starve. So a search is `exhausted` (the scope held fewer than
//! `top_k`) exactly when fewer than `top_k` rows came back.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::engine::Scope;
use super::error::MemoryError;
use super::filter::Filter;
use super::kind::{MemoryKind, Record};
use super::search::Weights;
use super::store::MemoryStore;

/// The reciprocal rank fusion constant (see the module documentation).
pub const RRF_K: f32 = 60.0;

/// How a search finds its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Cosine similarity of the embedded query.
    #[default]
    Vector,
    /// The query's words (BM25 over the matching rows); no embedding.
    Keyword,
    /// Both lists, fused by reciprocal rank.
    Hybrid,
}

/// Read from the `mode` field; an unknown mode is an error naming the field
/// (serde's own "unknown variant" names none).
impl<'de> Deserialize<'de> for SearchMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "vector" => Ok(SearchMode::Vector),
            "keyword" => Ok(SearchMode::Keyword),
            "hybrid" => Ok(SearchMode::Hybrid),
            _ => Err(serde::de::Error::custom(
                "invalid field `mode`: must be vector, keyword or hybrid",
            )),
        }
    }
}

/// How deep each list of a hybrid search goes for `k` results: twice `k`,
/// at least 20, so a row ranked modestly in both lists can still make it.
pub fn fusion_depth(k: usize) -> usize {
    (k * 2).max(20)
}

/// One row a search found: its id, its cosine similarity when the vector
/// search ranked it, and its score in the mode's terms (similarity, BM25 or
/// fused rank).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: i64,
    pub similarity: Option<f32>,
    pub score: f32,
}

/// What a search found, with the records read along with the hits (Postgres
/// vector search), before the rest are read.
#[derive(Debug, Clone)]
pub(crate) struct Found<R> {
    pub hits: Vec<Hit>,
    pub records: HashMap<i64, R>,
    pub exhausted: bool,
    pub mode: SearchMode,
    /// Why the query could not be embedded, when a hybrid search fell back.
    pub degraded: Option<String>,
}

/// The query of any search, as every kind's request carries it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<'a> {
    pub text: Option<&'a str>,
    pub embedding: &'a Option<Vec<f32>>,
    pub embedding_b64: &'a Option<String>,
    pub mode: SearchMode,
    pub top_k: usize,
}

/// The embedded query of a search: its vector, or why a hybrid search has none.
#[derive(Debug, Clone, Default)]
pub(crate) struct Embedded {
    pub vector: Option<Vec<f32>>,
    pub degraded: Option<String>,
}

impl MemoryStore {
    /// Check what every search shares: `top_k`, what the mode needs, and that
    /// similarity-based options come with the mode that has similarities.
    pub(crate) fn check_query(
        &self,
        query: &Query<'_>,
        weights: Option<&Weights>,
        min_similarity: Option<f32>,
    ) -> Result<(), MemoryError> {
        self.check_top_k(query.top_k)?;
        if let Some(w) = weights {
            w.validate()?;
        }
        if query.mode == SearchMode::Vector {
            return Ok(());
        }
        let only_vector =
            |field| MemoryError::invalid(field, "ranks by similarity: only with mode vector");
        if weights.is_some() {
            return Err(only_vector("weights"));
        }
        if min_similarity.is_some() {
            return Err(only_vector("min_similarity"));
        }
        match query.text {
            Some(text) => self.check_text("query", text, true),
            None => Err(MemoryError::invalid(
                "query",
                "keyword and hybrid searches need the query text",
            )),
        }
    }

    /// Embed the query as the mode needs: never for keyword, always for vector
    /// (an error when the provider fails), and for hybrid when the provider
    /// answers (else the reason, and the search goes on with keywords).
    pub(crate) async fn embed_query_for(&self, query: &Query<'_>) -> Result<Embedded, MemoryError> {
        let embed = self.query_vector(query.text, query.embedding, query.embedding_b64);
        match query.mode {
            SearchMode::Keyword => Ok(Embedded::default()),
            SearchMode::Vector => Ok(Embedded {
                vector: Some(embed.await?),
                degraded: None,
            }),
            SearchMode::Hybrid => match embed.await {
                Ok(v) => Ok(Embedded {
                    vector: Some(v),
                    degraded: None,
                }),
                Err(MemoryError::EmbeddingUnavailable(e)) => Ok(Embedded {
                    vector: None,
                    degraded: Some(e.to_string()),
                }),
                Err(e) => Err(e),
            },
        }
    }

    /// The best `k` rows of `kind` in `scope` passing `filter` for the query in
    /// its mode (`q`: the embedded query, `None` for keyword search or a
    /// degraded hybrid one); exhausted when fewer than `top_k` came back.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn find<R: Record>(
        &self,
        kind: MemoryKind,
        scope: &Scope,
        filter: &Filter,
        mode: SearchMode,
        text: Option<&str>,
        q: &Embedded,
        k: usize,
        top_k: usize,
    ) -> Result<Found<R>, MemoryError> {
        let vector_hits = |hits: Vec<(i64, f32)>| -> Vec<Hit> {
            hits.into_iter()
                .map(|(id, s)| Hit {
                    id,
                    similarity: Some(s),
                    score: s,
                })
                .collect()
        };
        let words = || text.unwrap_or_default();
        let mut records = HashMap::new();
        let hits = match (mode, &q.vector) {
            (SearchMode::Vector, Some(v)) => {
                let ranked;
                (ranked, records) = self.rank(kind, scope, v, k, filter).await?;
                vector_hits(ranked)
            }
            (SearchMode::Vector, None) => {
                return Err(MemoryError::invalid(
                    "query",
                    "give a query text or an embedding",
                ));
            }
            (SearchMode::Keyword, _) | (SearchMode::Hybrid, None) => {
                self.keyword_rank(kind, scope, filter, words(), k).await?
            }
            (SearchMode::Hybrid, Some(v)) => {
                let depth = fusion_depth(k);
                let ranked;
                (ranked, records) = self.rank(kind, scope, v, depth, filter).await?;
                let by_vector = vector_hits(ranked);
                let by_words = self
                    .keyword_rank(kind, scope, filter, words(), depth)
                    .await?;
                fuse(&by_vector, &by_words, k)
            }
        };
        Ok(Found {
            exhausted: hits.len() < top_k,
            hits,
            records,
            mode,
            degraded: q.degraded.clone(),
        })
    }
}

/// Reciprocal rank fusion of two ranked lists, best `k` first: by fused
/// score, then the better rank in either list, then the larger id.
/// O(n log n) in the two lists' length.
pub fn fuse(by_vector: &[Hit], by_words: &[Hit], k: usize) -> Vec<Hit> {
    let mut fused: Vec<(Hit, usize)> = Vec::with_capacity(by_vector.len() + by_words.len());
    for list in [by_vector, by_words] {
        for (rank, hit) in list.iter().enumerate() {
            let add = 1.0 / (RRF_K + rank as f32 + 1.0);
            match fused.iter_mut().find(|(h, _)| h.id == hit.id) {
                Some((h, best)) => {
                    h.score += add;
                    h.similarity = h.similarity.or(hit.similarity);
                    *best = (*best).min(rank);
                }
                None => fused.push((
                    Hit {
                        id: hit.id,
                        similarity: hit.similarity,
                        score: add,
                    },
                    rank,
                )),
            }
        }
    }
    fused.sort_by(|(a, ra), (b, rb)| {
        b.score
            .total_cmp(&a.score)
            .then(ra.cmp(rb))
            .then(b.id.cmp(&a.id))
    });
    fused.truncate(k);
    fused.into_iter().map(|(h, _)| h).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: i64, similarity: Option<f32>) -> Hit {
        Hit {
            id,
            similarity,
            score: 0.0,
        }
    }

    #[test]
    fn fusion_rewards_rows_both_lists_found() {
        let by_vector = [hit(1, Some(0.9)), hit(2, Some(0.8)), hit(3, Some(0.7))];
        let by_words = [hit(3, None), hit(4, None)];
        let fused = fuse(&by_vector, &by_words, 10);
        let ids: Vec<i64> = fused.iter().map(|h| h.id).collect();
        assert_eq!(
            ids,
            vec![3, 1, 4, 2],
            "3 is in both lists; 4 and 2 tie, the larger id first"
        );
        let three = fused[0];
        assert!((three.score - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert_eq!(
            three.similarity,
            Some(0.7),
            "the vector list's similarity is kept"
        );
        assert_eq!(fused[2].similarity, None, "found by words only");
        assert_eq!(fuse(&by_vector, &by_words, 2).len(), 2);
    }
}
