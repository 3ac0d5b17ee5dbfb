//! Turning ranked hits into results: the records read back, the similarity
//! floor, the optional blended ranking (similarity, recency, importance), the
//! original's wording of each memory's age on the wall or the game clock, and
//! the answer's account of itself (`requested`, `returned`, `exhausted`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::engine::{Ranking, Scope};
use super::error::MemoryError;
use super::expiry::{live, parse_time};
use super::filter::Filter;
use super::kind::{MemoryKind, Record};
use super::model::Scored;
use super::modes::{Found, Hit, SearchMode};
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

/// The clocks a memory's age is measured on: the wall clock, and the game
/// world's when the caller gave `game_now`. A memory with a `game_time` is aged
/// on the game clock when there is one; any other on the wall clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    pub wall: DateTime<Utc>,
    pub game: Option<DateTime<Utc>>,
}

impl Clock {
    /// Now on the wall clock, without a game clock.
    pub fn now() -> Self {
        Self {
            wall: Utc::now(),
            game: None,
        }
    }

    /// Now, with the caller's `game_now` (RFC 3339) when given.
    pub fn parse(game_now: Option<&str>) -> Result<Self, MemoryError> {
        Ok(Self {
            wall: Utc::now(),
            game: parse_time("game_now", game_now)?,
        })
    }

    /// (then, now) of a memory stored at `created_at` with `game_time`.
    fn span(
        &self,
        created_at: DateTime<Utc>,
        game_time: Option<DateTime<Utc>>,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        match (self.game, game_time) {
            (Some(now), Some(then)) => (then, now),
            _ => (created_at, self.wall),
        }
    }

    /// The original's wording of the memory's age.
    pub fn time_ago(&self, created_at: DateTime<Utc>, game_time: Option<DateTime<Utc>>) -> String {
        let (then, now) = self.span(created_at, game_time);
        time_ago(then, now)
    }

    fn age_hours(&self, created_at: DateTime<Utc>, game_time: Option<DateTime<Utc>>) -> f32 {
        let (then, now) = self.span(created_at, game_time);
        (now - then).num_seconds() as f32 / 3600.0
    }
}

/// A search's answer: its results, and whether the searched scope ran short.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults<T> {
    pub items: Vec<Scored<T>>,
    /// The `top_k` asked for.
    pub requested: usize,
    /// How many results there are (fewer than `requested` when the scope ran
    /// short, or `min_similarity` left some out).
    pub returned: usize,
    /// True when fewer than `requested` rows of the searched scope passed the
    /// search's filters (and, for keyword search, matched a word): every one
    /// of them was considered. False means the scope held at least
    /// `requested`, so fewer results come from `min_similarity` alone.
    pub exhausted: bool,
    pub mode: SearchMode,
    /// True when a hybrid search could not embed its query and answered from
    /// keyword search alone.
    pub degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded_reason: Option<String>,
}

/// The results, read as a slice.
impl<T> std::ops::Deref for SearchResults<T> {
    type Target = [Scored<T>];

    fn deref(&self) -> &[Scored<T>] {
        &self.items
    }
}

impl<'a, T> IntoIterator for &'a SearchResults<T> {
    type Item = &'a Scored<T>;
    type IntoIter = std::slice::Iter<'a, Scored<T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<T> IntoIterator for SearchResults<T> {
    type Item = Scored<T>;
    type IntoIter = std::vec::IntoIter<Scored<T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// How a search turns its hits into results.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub top_k: usize,
    pub min_similarity: Option<f32>,
    pub weights: Option<Weights>,
    pub clock: Clock,
}

impl MemoryStore {
    /// The `k` unexpired rows of `kind` in `scope` passing `filter` most
    /// similar to `q`, on this store's engine: (id, similarity), most similar
    /// first; and the records the engine read along (Postgres reads them in
    /// the ranking statement; SQLite mode none).
    pub(crate) async fn rank<R: Record>(
        &self,
        kind: MemoryKind,
        scope: &Scope,
        q: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<(Vec<(i64, f32)>, HashMap<i64, R>), MemoryError> {
        self.engine
            .rank(kind, scope, q, k, &live(filter), &self.ranking())
            .await
    }

    /// How this store's engine ranks.
    fn ranking(&self) -> Ranking<'_> {
        Ranking {
            model: self.model(),
            hnsw: &self.settings.hnsw,
            ef_search: self.settings.ef_search,
            pg_binary_rescore: self.settings.pg_binary_rescore,
        }
    }

    /// The answer to a search that found `found`.
    pub(crate) async fn answer<R: Record>(
        &self,
        kind: MemoryKind,
        found: Found<R>,
        shape: Shape,
    ) -> Result<SearchResults<R>, MemoryError> {
        let items = self
            .results::<R>(kind, found.hits, found.records, shape)
            .await?;
        Ok(SearchResults {
            requested: shape.top_k,
            returned: items.len(),
            exhausted: found.exhausted,
            mode: found.mode,
            degraded: found.degraded.is_some(),
            degraded_reason: found.degraded,
            items,
        })
    }

    /// Turn hits into results in hit order, dropping those under
    /// `min_similarity`; with weights, re-rank by the blended score and keep `top_k`.
    /// `records` holds those the ranking read along with the hits; the rest are fetched.
    pub(crate) async fn results<R: Record>(
        &self,
        kind: MemoryKind,
        hits: Vec<Hit>,
        mut records: HashMap<i64, R>,
        shape: Shape,
    ) -> Result<Vec<Scored<R>>, MemoryError> {
        let floor = |h: &Hit| match (shape.min_similarity, h.similarity) {
            (Some(min), Some(s)) => s >= min,
            _ => true,
        };
        let hits: Vec<Hit> = hits.into_iter().filter(floor).collect();
        let missing: Vec<i64> = hits
            .iter()
            .map(|h| h.id)
            .filter(|id| !records.contains_key(id))
            .collect();
        if !missing.is_empty() {
            records.extend(self.fetch::<R>(kind, &missing).await?);
        }
        let clock = shape.clock;
        let mut out: Vec<Scored<R>> = hits
            .into_iter()
            .filter_map(|hit| {
                let memory = records.remove(&hit.id)?;
                let (created, game) = (memory.created_at(), memory.game_time());
                let score = match (&shape.weights, hit.similarity) {
                    (Some(w), Some(similarity)) => w.score(
                        similarity,
                        clock.age_hours(created, game),
                        memory.importance(),
                    ),
                    _ => hit.score,
                };
                Some(Scored {
                    time_ago: clock.time_ago(created, game),
                    memory,
                    similarity: hit.similarity,
                    score,
                })
            })
            .collect();
        if shape.weights.is_some() {
            // Blended score, then newer, then larger id: O(n log n) over the candidates.
            out.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then(b.memory.created_at().cmp(&a.memory.created_at()))
                    .then(b.memory.id().cmp(&a.memory.id()))
            });
        }
        out.truncate(shape.top_k);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn memories_with_a_game_time_age_on_the_game_clock_when_one_is_given() {
        let wall = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        let stored = wall - chrono::Duration::minutes(5);
        let game_then = Utc.with_ymd_and_hms(1200, 3, 1, 8, 0, 0).unwrap();
        let on_wall = Clock { wall, game: None };
        assert_eq!(
            on_wall.time_ago(stored, Some(game_then)),
            "a few minutes ago"
        );
        let on_game = Clock {
            wall,
            game: Some(game_then + chrono::Duration::days(3)),
        };
        assert_eq!(on_game.time_ago(stored, Some(game_then)), "a few days ago");
        assert!((on_game.age_hours(stored, Some(game_then)) - 72.0).abs() < 1e-3);
        assert_eq!(
            on_game.time_ago(stored, None),
            "a few minutes ago",
            "no game time: the wall clock"
        );
    }
}
