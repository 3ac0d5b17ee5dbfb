//! Turning ranked hits into results: the records read back, the similarity
//! floor, the optional blended ranking (similarity, recency, importance) and
//! the original's wording of each memory's age.

use chrono::Utc;
use serde::Deserialize;

use super::engine::{Ranking, Scope};
use super::error::MemoryError;
use super::filter::Filter;
use super::kind::{MemoryKind, Record};
use super::model::Scored;
use super::store::MemoryStore;
use super::time_ago::time_ago;

/// Optional blended ranking: `w_sim·similarity + w_rec·recency + w_imp·importance`,
/// where recency halves every `half_life_hours` (the Generative Agents memory stream).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    #[serde(default = "one")]
    pub similarity: f32,
    #[serde(default)]
    pub recency: f32,
    #[serde(default)]
    pub importance: f32,
    #[serde(default = "week")]
    pub half_life_hours: f32,
}

fn one() -> f32 {
    1.0
}
fn week() -> f32 {
    168.0
}

impl Weights {
    pub(crate) fn validate(&self) -> Result<(), MemoryError> {
        let all = [self.similarity, self.recency, self.importance];
        if all.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(MemoryError::invalid(
                "weights",
                "weights must be finite and not negative",
            ));
        }
        if !(self.half_life_hours.is_finite() && self.half_life_hours > 0.0) {
            return Err(MemoryError::invalid(
                "weights.half_life_hours",
                "must be positive",
            ));
        }
        Ok(())
    }

    fn score(&self, similarity: f32, age_hours: f32, importance: f32) -> f32 {
        let recency = 0.5f32.powf(age_hours.max(0.0) / self.half_life_hours);
        self.similarity * similarity + self.recency * recency + self.importance * importance
    }
}

/// How many candidates to rank by similarity before a blended re-rank.
pub(crate) fn candidates(top_k: usize, weights: &Option<Weights>) -> usize {
    match weights {
        Some(_) => (top_k * 4).max(50),
        None => top_k,
    }
}

impl MemoryStore {
    /// The `k` rows of `kind` in `scope` passing `filter` most similar to `q`,
    /// on this store's engine: (id, similarity), most similar first.
    pub(crate) async fn rank(
        &self,
        kind: MemoryKind,
        scope: &Scope,
        q: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<(i64, f32)>, MemoryError> {
        let ranking = Ranking {
            model: self.model(),
            hnsw: &self.settings.hnsw,
            ef_search: self.settings.ef_search,
            pg_binary_rescore: self.settings.pg_binary_rescore,
        };
        self.engine.rank(kind, scope, q, k, filter, &ranking).await
    }

    /// Turn (id, similarity) hits into results in hit order, dropping those under
    /// `min_similarity`; with weights, re-rank by the blended score and keep `top_k`.
    pub(crate) async fn results<R: Record>(
        &self,
        kind: MemoryKind,
        hits: Vec<(i64, f32)>,
        top_k: usize,
        min_similarity: Option<f32>,
        weights: Option<Weights>,
    ) -> Result<Vec<Scored<R>>, MemoryError> {
        let hits: Vec<(i64, f32)> = hits
            .into_iter()
            .filter(|(_, s)| min_similarity.is_none_or(|m| *s >= m))
            .collect();
        let ids: Vec<i64> = hits.iter().map(|(id, _)| *id).collect();
        let mut records = self.fetch::<R>(kind, &ids).await?;
        let now = Utc::now();
        let mut out: Vec<Scored<R>> = hits
            .into_iter()
            .filter_map(|(id, similarity)| {
                let memory = records.remove(&id)?;
                let created = memory.created_at();
                let score = match &weights {
                    Some(w) => {
                        let age_hours = (now - created).num_seconds() as f32 / 3600.0;
                        w.score(similarity, age_hours, memory.importance())
                    }
                    None => similarity,
                };
                Some(Scored {
                    time_ago: time_ago(created, now),
                    memory,
                    similarity,
                    score,
                })
            })
            .collect();
        if weights.is_some() {
            // Blended score, then newer, then larger id: O(n log n) over the candidates.
            out.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then(b.memory.created_at().cmp(&a.memory.created_at()))
                    .then(b.memory.id().cmp(&a.memory.id()))
            });
        }
        out.truncate(top_k);
        Ok(out)
    }
}
