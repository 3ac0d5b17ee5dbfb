//! Per-NPC memory budgets. An NPC may hold at most its budget of unexpired
//! memories: its policy's `max_memories` (`PUT /v1/npcs/{id}/memory-policy`),
//! else `MNEMO_NPC_MEMORY_BUDGET` (unset: unlimited; a policy's 0 is unlimited
//! too). Over budget, the memories with the lowest retention are forgotten
//! (recorded with the reason `budget`), never one of the newest `keep_newest`:
//!
//! `retention = importance × 0.5^(age_hours / half_life_hours)`
//!
//! with `importance` 0.5 where the memory has none and the age on the wall
//! clock since it was stored; ties go to the older memory, then the smaller id.
//!
//! A write that leaves its NPC at most [`INLINE_MAX_EXCESS`] over budget
//! evicts in its own transaction (a covering index makes that a read of one
//! index range); more (a large batch into a full NPC, a lowered budget) is
//! left to the housekeeping job ([`MemoryStore::enforce_budgets`]), so a store
//! never waits for a large eviction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::MemoryError;
use super::forgotten::Reason;
use super::kind::MemoryKind;
use super::store::MemoryStore;
use crate::db::{Alias, Args, SqlValue, Tx, now_micros};

/// Half-life of the recency decay when a policy sets none: a week, as the
/// blended search ranking's default.
pub const DEFAULT_HALF_LIFE_HOURS: f64 = 168.0;

/// Importance of a memory stored without one: the middle of the 0–1 scale, so
/// unrated memories outlive small talk rated low and yield to what was rated high.
pub const DEFAULT_IMPORTANCE: f64 = 0.5;

/// Most memories a write evicts in its own transaction (about a millisecond of
/// deletes with their log entries); beyond, housekeeping evicts.
pub const INLINE_MAX_EXCESS: i64 = 32;

/// Memories one housekeeping transaction evicts at most.
const SWEEP_BATCH: i64 = 500;

/// An NPC's memory policy as stored.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct MemoryPolicy {
    pub npc_id: i64,
    /// `None`: the service default (`MNEMO_NPC_MEMORY_BUDGET`); 0: unlimited.
    pub max_memories: Option<i64>,
    /// `None`: [`DEFAULT_HALF_LIFE_HOURS`].
    pub half_life_hours: Option<f64>,
    /// The newest this many memories are never evicted.
    pub keep_newest: i64,
    /// `None` while the NPC has no policy of its own.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The body of `PUT /v1/npcs/{npc_id}/memory-policy`: every field optional,
/// an absent one takes its default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMemoryPolicy {
    #[serde(default)]
    pub max_memories: Option<i64>,
    #[serde(default)]
    pub half_life_hours: Option<f64>,
    #[serde(default)]
    pub keep_newest: Option<i64>,
}

/// A policy and what it comes to with the service default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyView {
    #[serde(flatten)]
    pub policy: MemoryPolicy,
    /// The budget in force: `None` is unlimited.
    pub budget: Option<i64>,
    /// The half-life in force.
    pub effective_half_life_hours: f64,
}

impl MemoryPolicy {
    fn none(npc_id: i64) -> Self {
        Self {
            npc_id,
            max_memories: None,
            half_life_hours: None,
            keep_newest: 0,
            updated_at: None,
        }
    }

    /// The budget in force given the service default.
    fn budget(&self, default: Option<u64>) -> Option<i64> {
        match self.max_memories {
            Some(0) => None,
            Some(n) => Some(n),
            None => default.map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
        }
    }
}

/// Retention of a memory `age_hours` old.
pub fn retention(importance: Option<f64>, age_hours: f64, half_life_hours: f64) -> f64 {
    importance.unwrap_or(DEFAULT_IMPORTANCE) * 0.5f64.powf(age_hours.max(0.0) / half_life_hours)
}

/// A candidate for eviction: id, importance, stored at.
type Candidate = (i64, Option<f64>, DateTime<Utc>);

impl MemoryStore {
    /// An NPC's policy with the service default applied.
    pub async fn memory_policy(&self, npc_id: i64) -> Result<PolicyView, MemoryError> {
        let policy = self.stored_policy(npc_id).await?;
        Ok(self.view(policy))
    }

    fn view(&self, policy: MemoryPolicy) -> PolicyView {
        PolicyView {
            budget: policy.budget(self.settings.npc_budget),
            effective_half_life_hours: policy.half_life_hours.unwrap_or(DEFAULT_HALF_LIFE_HOURS),
            policy,
        }
    }

    async fn stored_policy(&self, npc_id: i64) -> Result<MemoryPolicy, MemoryError> {
        let mut args = Args::new();
        let sql = format!(
            "SELECT npc_id, max_memories, half_life_hours, keep_newest, updated_at
             FROM ai_memory_npc_policy WHERE npc_id = {}",
            args.push(npc_id)
        );
        let found: Option<MemoryPolicy> = self
            .db
            .pool(Alias::AiMemory)
            .fetch_optional(&sql, args)
            .await?;
        Ok(found.unwrap_or_else(|| MemoryPolicy::none(npc_id)))
    }

    /// Set an NPC's policy (replacing any it had). Memories over a lowered
    /// budget go at the next write or housekeeping run.
    pub async fn set_memory_policy(
        &self,
        npc_id: i64,
        new: NewMemoryPolicy,
    ) -> Result<PolicyView, MemoryError> {
        if new.max_memories.is_some_and(|m| m < 0) {
            return Err(MemoryError::invalid(
                "max_memories",
                "must be 0 (unlimited) or more",
            ));
        }
        if new
            .half_life_hours
            .is_some_and(|h| !(h.is_finite() && h > 0.0))
        {
            return Err(MemoryError::invalid("half_life_hours", "must be positive"));
        }
        let keep_newest = new.keep_newest.unwrap_or(0);
        if keep_newest < 0 {
            return Err(MemoryError::invalid("keep_newest", "must not be negative"));
        }
        if let Some(max) = new.max_memories
            && max > 0
            && keep_newest > max
        {
            return Err(MemoryError::invalid(
                "keep_newest",
                "must not be more than max_memories",
            ));
        }
        let mut args = Args::new();
        let sql = format!(
            "INSERT INTO ai_memory_npc_policy (npc_id, max_memories, half_life_hours, keep_newest, updated_at)
             VALUES ({}, {}, {}, {}, {})
             ON CONFLICT (npc_id) DO UPDATE SET max_memories = excluded.max_memories,
               half_life_hours = excluded.half_life_hours, keep_newest = excluded.keep_newest,
               updated_at = excluded.updated_at
             RETURNING npc_id, max_memories, half_life_hours, keep_newest, updated_at",
            args.push(npc_id),
            args.push(new.max_memories),
            args.push(new.half_life_hours),
            args.push(keep_newest),
            args.push(now_micros())
        );
        let mut tx = self.db.pool(Alias::AiMemory).begin().await?;
        let policy: MemoryPolicy = tx.fetch_one(&sql, args).await?;
        tx.commit().await?;
        Ok(self.view(policy))
    }

    /// Inside a write's transaction: evict over the budgets of `npcs` (of
    /// `kind`) when each is at most [`INLINE_MAX_EXCESS`] over. Returns how
    /// many memories went.
    pub(crate) async fn evict_inline(
        &self,
        tx: &mut Tx,
        kind: MemoryKind,
        npcs: &[i64],
    ) -> Result<usize, MemoryError> {
        let Some(column) = kind.spec().npc_column else {
            return Ok(0);
        };
        let mut evicted = 0;
        for &npc in npcs {
            let policy = self.policy_in(tx, npc).await?;
            let Some(budget) = policy.budget(self.settings.npc_budget) else {
                continue;
            };
            let excess = self.live_count(tx, kind, column, npc).await? - budget;
            if excess > INLINE_MAX_EXCESS {
                tracing::debug!(
                    npc,
                    excess,
                    "over budget; leaving the eviction to housekeeping"
                );
            } else if excess > 0 {
                evicted += self.evict(tx, kind, column, &policy, excess).await?;
            }
        }
        Ok(evicted)
    }

    /// Evict every NPC over its budget, in transactions of at most
    /// [`SWEEP_BATCH`] memories (the housekeeping job). Returns how many went.
    pub async fn enforce_budgets(&self) -> Result<u64, MemoryError> {
        let kind = MemoryKind::Npc;
        let Some(column) = kind.spec().npc_column else {
            return Ok(0);
        };
        let pool = self.db.pool(Alias::AiMemory);
        let policies: Vec<MemoryPolicy> = pool
            .fetch_all(
                "SELECT npc_id, max_memories, half_life_hours, keep_newest, updated_at FROM ai_memory_npc_policy",
                Args::new(),
            )
            .await?;
        if self.settings.npc_budget.is_none()
            && policies
                .iter()
                .all(|p| p.max_memories.is_none_or(|m| m == 0))
        {
            return Ok(0);
        }
        let mut args = Args::new();
        let sql = format!(
            "SELECT {column}, COUNT(*) FROM {} WHERE (expires_at IS NULL OR expires_at > {})
             GROUP BY {column}",
            kind.table(),
            args.push(now_micros())
        );
        let counts: Vec<(i64, i64)> = pool.fetch_all(&sql, args).await?;
        let mut total = 0u64;
        for (npc, count) in counts {
            let policy = policies
                .iter()
                .find(|p| p.npc_id == npc)
                .cloned()
                .unwrap_or_else(|| MemoryPolicy::none(npc));
            let Some(budget) = policy.budget(self.settings.npc_budget) else {
                continue;
            };
            if count <= budget {
                continue;
            }
            loop {
                let mut tx = pool.begin().await?;
                self.lock_npc(&mut tx, kind, npc).await?;
                let excess = self.live_count(&mut tx, kind, column, npc).await? - budget;
                let gone = if excess > 0 {
                    self.evict(&mut tx, kind, column, &policy, excess.min(SWEEP_BATCH))
                        .await?
                } else {
                    0
                };
                tx.commit().await?;
                self.forgets.add(Reason::Budget, gone);
                total += gone as u64;
                if gone == 0 || excess <= SWEEP_BATCH {
                    break;
                }
            }
        }
        if total > 0 {
            self.engine.sync().await?;
        }
        Ok(total)
    }

    async fn policy_in(&self, tx: &mut Tx, npc_id: i64) -> Result<MemoryPolicy, MemoryError> {
        let mut args = Args::new();
        let sql = format!(
            "SELECT npc_id, max_memories, half_life_hours, keep_newest, updated_at
             FROM ai_memory_npc_policy WHERE npc_id = {}",
            args.push(npc_id)
        );
        let found: Option<MemoryPolicy> = tx.fetch_optional(&sql, args).await?;
        Ok(found.unwrap_or_else(|| MemoryPolicy::none(npc_id)))
    }

    /// Postgres: serialise budget enforcement per NPC with the writes to it
    /// (an advisory lock on the NPC until `tx` ends); SQLite's writes are
    /// serialised already.
    pub(crate) async fn lock_npc(
        &self,
        tx: &mut Tx,
        kind: MemoryKind,
        npc: i64,
    ) -> Result<(), MemoryError> {
        if tx.dialect().0 == crate::db::Backend::Postgres {
            let mut args = Args::new();
            let sql = format!(
                "SELECT pg_advisory_xact_lock({}, {})",
                args.push(SqlValue::Int32(Some(kind as i32 + 1))),
                args.push(SqlValue::Int32(Some(npc as i32)))
            );
            tx.execute(&sql, args).await?;
        }
        Ok(())
    }

    async fn live_count(
        &self,
        tx: &mut Tx,
        kind: MemoryKind,
        column: &str,
        npc: i64,
    ) -> Result<i64, MemoryError> {
        let mut args = Args::new();
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE {column} = {} AND (expires_at IS NULL OR expires_at > {})",
            kind.table(),
            args.push(npc),
            args.push(now_micros())
        );
        let (n,): (i64,) = tx.fetch_one(&sql, args).await?;
        Ok(n)
    }

    /// Forget the `excess` memories of `policy`'s NPC with the lowest
    /// retention, never one of its newest `keep_newest`. O(n log n) in the
    /// NPC's memories, read from the covering retention index.
    async fn evict(
        &self,
        tx: &mut Tx,
        kind: MemoryKind,
        column: &str,
        policy: &MemoryPolicy,
        excess: i64,
    ) -> Result<usize, MemoryError> {
        let now = now_micros();
        let mut args = Args::new();
        let sql = format!(
            "SELECT id, importance, created_at FROM {} WHERE {column} = {}
               AND (expires_at IS NULL OR expires_at > {})
             ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {}",
            kind.table(),
            args.push(policy.npc_id),
            args.push(now),
            args.push(i64::MAX),
            args.push(policy.keep_newest)
        );
        let candidates: Vec<Candidate> = tx.fetch_all(&sql, args).await?;
        let half_life = policy.half_life_hours.unwrap_or(DEFAULT_HALF_LIFE_HOURS);
        let mut ranked: Vec<(f64, DateTime<Utc>, i64)> = candidates
            .into_iter()
            .map(|(id, importance, at)| {
                let age_hours = (now - at).num_milliseconds() as f64 / 3_600_000.0;
                (retention(importance, age_hours, half_life), at, id)
            })
            .collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let ids: Vec<i64> = ranked
            .into_iter()
            .take(usize::try_from(excess).unwrap_or(0))
            .map(|(_, _, id)| id)
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let mut args = Args::new();
        let list = args.push(SqlValue::Ints(ids));
        let condition = tx.dialect().in_list("id", &list);
        self.forget_rows(tx, kind, &condition, args, Reason::Budget)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_halves_every_half_life_and_scales_with_importance() {
        assert!((retention(Some(1.0), 0.0, 10.0) - 1.0).abs() < 1e-12);
        assert!((retention(Some(1.0), 10.0, 10.0) - 0.5).abs() < 1e-12);
        assert!((retention(Some(0.8), 20.0, 10.0) - 0.2).abs() < 1e-12);
        assert!((retention(None, 0.0, 10.0) - DEFAULT_IMPORTANCE).abs() < 1e-12);
        assert_eq!(
            retention(Some(1.0), -5.0, 10.0),
            1.0,
            "a future time counts as now"
        );
    }

    #[test]
    fn a_policy_of_zero_is_unlimited_and_none_follows_the_default() {
        let mut p = MemoryPolicy::none(1);
        assert_eq!(p.budget(None), None);
        assert_eq!(p.budget(Some(50)), Some(50));
        p.max_memories = Some(0);
        assert_eq!(p.budget(Some(50)), None);
        p.max_memories = Some(7);
        assert_eq!(p.budget(Some(50)), Some(7));
    }
}
