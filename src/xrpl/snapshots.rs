//! Hourly economy snapshots (`xrpl_economysnapshot`): one row per hour.

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::{XrplError, amount_text, parse_total};
use crate::db::{Alias, Db, is_unique_violation, now_micros};
use crate::with_pool;

/// The metrics of one hour, as the original's telemetry aggregates them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEconomySnapshot {
    /// The hour bucket: minutes, seconds and fractions must be zero.
    pub hour: DateTime<Utc>,
    pub players_online: i32,
    pub unique_players_1h: i32,
    pub unique_players_24h: i32,
    pub unique_players_7d: i32,
    /// Decimal texts, at least 0, at most six places.
    pub gold_circulation: String,
    pub gold_reserve: String,
    pub gold_sinks_1h: String,
    pub gold_spawned_1h: String,
    pub amm_trades_1h: i32,
    pub amm_volume_gold_1h: String,
    pub imports_1h: i32,
    pub exports_1h: i32,
}

/// A recorded snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct EconomySnapshot {
    pub id: i64,
    pub hour: DateTime<Utc>,
    pub players_online: i32,
    pub unique_players_1h: i32,
    pub unique_players_24h: i32,
    pub unique_players_7d: i32,
    /// Decimal texts with six places.
    pub gold_circulation: String,
    pub gold_reserve: String,
    pub gold_sinks_1h: String,
    pub gold_spawned_1h: String,
    pub amm_trades_1h: i32,
    pub amm_volume_gold_1h: String,
    pub imports_1h: i32,
    pub exports_1h: i32,
    pub created_at: DateTime<Utc>,
}

macro_rules! snapshot_columns {
    () => {
        "id, hour, players_online, unique_players_1h, unique_players_24h, unique_players_7d,
         CAST(gold_circulation AS TEXT) AS gold_circulation, CAST(gold_reserve AS TEXT) AS gold_reserve,
         CAST(gold_sinks_1h AS TEXT) AS gold_sinks_1h, CAST(gold_spawned_1h AS TEXT) AS gold_spawned_1h,
         amm_trades_1h, CAST(amm_volume_gold_1h AS TEXT) AS amm_volume_gold_1h, imports_1h, exports_1h, created_at"
    };
}

/// Largest page of [`economy_snapshots`].
pub const SNAPSHOT_PAGE_MAX: i64 = 1000;

fn check(s: &NewEconomySnapshot) -> Result<[String; 5], XrplError> {
    if s.hour.minute() != 0 || s.hour.second() != 0 || s.hour.nanosecond() != 0 {
        return Err(XrplError::invalid("hour", "must be on the hour (hh:00:00)"));
    }
    let counts = [
        ("players_online", s.players_online),
        ("unique_players_1h", s.unique_players_1h),
        ("unique_players_24h", s.unique_players_24h),
        ("unique_players_7d", s.unique_players_7d),
        ("amm_trades_1h", s.amm_trades_1h),
        ("imports_1h", s.imports_1h),
        ("exports_1h", s.exports_1h),
    ];
    for (field, value) in counts {
        if value < 0 {
            return Err(XrplError::invalid(field, "must not be negative"));
        }
    }
    Ok([
        amount_text(parse_total("gold_circulation", &s.gold_circulation)?),
        amount_text(parse_total("gold_reserve", &s.gold_reserve)?),
        amount_text(parse_total("gold_sinks_1h", &s.gold_sinks_1h)?),
        amount_text(parse_total("gold_spawned_1h", &s.gold_spawned_1h)?),
        amount_text(parse_total("amm_volume_gold_1h", &s.amm_volume_gold_1h)?),
    ])
}

/// Record the snapshot of an hour. A second snapshot of the same hour is
/// refused with [`XrplError::DuplicateSnapshot`].
pub async fn record_economy_snapshot(
    db: &Db,
    s: &NewEconomySnapshot,
) -> Result<EconomySnapshot, XrplError> {
    let [circulation, reserve, sinks, spawned, volume] = check(s)?;
    let now = now_micros();
    let inserted = with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query_as::<_, EconomySnapshot>(p.pick(
            concat!(
                "INSERT INTO xrpl_economysnapshot
                   (hour, players_online, unique_players_1h, unique_players_24h, unique_players_7d,
                    gold_circulation, gold_reserve, gold_sinks_1h, gold_spawned_1h,
                    amm_trades_1h, amm_volume_gold_1h, imports_1h, exports_1h, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ",
                snapshot_columns!()
            ),
            concat!(
                "INSERT INTO xrpl_economysnapshot
                   (hour, players_online, unique_players_1h, unique_players_24h, unique_players_7d,
                    gold_circulation, gold_reserve, gold_sinks_1h, gold_spawned_1h,
                    amm_trades_1h, amm_volume_gold_1h, imports_1h, exports_1h, created_at)
                 VALUES ($1, $2, $3, $4, $5, CAST($6 AS NUMERIC), CAST($7 AS NUMERIC), CAST($8 AS NUMERIC),
                         CAST($9 AS NUMERIC), $10, CAST($11 AS NUMERIC), $12, $13, $14) RETURNING ",
                snapshot_columns!()
            ),
        ))
        .bind(s.hour)
        .bind(s.players_online)
        .bind(s.unique_players_1h)
        .bind(s.unique_players_24h)
        .bind(s.unique_players_7d)
        .bind(&circulation)
        .bind(&reserve)
        .bind(&sinks)
        .bind(&spawned)
        .bind(s.amm_trades_1h)
        .bind(&volume)
        .bind(s.imports_1h)
        .bind(s.exports_1h)
        .bind(now)
        .fetch_one(p)
        .await
    });
    match inserted {
        Ok(row) => Ok(row),
        Err(e) if is_unique_violation(&e) => Err(XrplError::DuplicateSnapshot {
            hour: s.hour.to_rfc3339(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The newest `limit` snapshots, newest first.
pub async fn economy_snapshots(db: &Db, limit: i64) -> Result<Vec<EconomySnapshot>, XrplError> {
    if !(1..=SNAPSHOT_PAGE_MAX).contains(&limit) {
        return Err(XrplError::invalid(
            "limit",
            format!("must be between 1 and {SNAPSHOT_PAGE_MAX}"),
        ));
    }
    let rows = with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query_as::<_, EconomySnapshot>(concat!(
            "SELECT ",
            snapshot_columns!(),
            " FROM xrpl_economysnapshot ORDER BY hour DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(p)
        .await?
    });
    Ok(rows)
}
