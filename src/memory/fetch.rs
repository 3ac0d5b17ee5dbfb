//! Reading records back by id, and turning search hits into results.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::dialect::id_in;
use super::error::MemoryError;
use super::model::{MemoryKind, Scored};
use super::store::MemoryStore;
use super::time_ago::time_ago;
use crate::db::Alias;
use crate::with_pool;

/// Something with an id and a creation time.
pub(crate) trait Record: Send + Unpin + Sized {
    const KIND: MemoryKind;
    const COLUMNS: &'static str;
    fn id(&self) -> i64;
    fn created_at(&self) -> DateTime<Utc>;
    fn importance(&self) -> f32 {
        0.0
    }
    /// Whether the record has its vector (else its embedding is pending).
    fn is_embedded(&self) -> bool;
}

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

impl MemoryStore {
    /// Records of `kind` with the given ids (any order; missing ids are skipped).
    pub(crate) async fn fetch<T>(&self, ids: &[i64]) -> Result<HashMap<i64, T>, MemoryError>
    where
        T: Record + for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow>,
    {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<T> = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let sql = format!(
                "SELECT {} FROM {} WHERE {}",
                T::COLUMNS,
                T::KIND.table(),
                id_in(p, 1)
            );
            sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql))
                .bind(super::dialect::MemoryDialect::ids_param(p, ids))
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(|r| (r.id(), r)).collect())
    }

    /// Turn (id, similarity) hits into results in hit order, dropping those under
    /// `min_similarity`; with weights, re-rank by the blended score and keep `top_k`.
    pub(crate) async fn results<T>(
        &self,
        hits: Vec<(i64, f32)>,
        top_k: usize,
        min_similarity: Option<f32>,
        weights: Option<Weights>,
    ) -> Result<Vec<Scored<T>>, MemoryError>
    where
        T: Record + for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow>,
    {
        let hits: Vec<(i64, f32)> = hits
            .into_iter()
            .filter(|(_, s)| min_similarity.is_none_or(|m| *s >= m))
            .collect();
        let ids: Vec<i64> = hits.iter().map(|(id, _)| *id).collect();
        let mut records = self.fetch::<T>(&ids).await?;
        let now = Utc::now();
        let mut out: Vec<Scored<T>> = hits
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

/// How many candidates to rank by similarity before a blended re-rank.
pub(crate) fn candidates(top_k: usize, weights: &Option<Weights>) -> usize {
    match weights {
        Some(_) => (top_k * 4).max(50),
        None => top_k,
    }
}

/// Order hits by similarity, then newer, then larger id (the SQLite core's order),
/// and keep `k`. Postgres results pass through here so both backends agree on ties.
pub(crate) fn order_hits(mut hits: Vec<(i64, f32, i64)>, k: usize) -> Vec<(i64, f32)> {
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.cmp(&a.2)).then(b.0.cmp(&a.0)));
    hits.truncate(k);
    hits.into_iter().map(|(id, s, _)| (id, s)).collect()
}

/// Postgres rows of (id, similarity, created_at) in the shared order, top `k`.
pub(crate) fn order_pg_rows(rows: Vec<(i64, f32, DateTime<Utc>)>, k: usize) -> Vec<(i64, f32)> {
    order_hits(
        rows.into_iter()
            .map(|(id, s, t)| (id, s, t.timestamp_micros()))
            .collect(),
        k,
    )
}
