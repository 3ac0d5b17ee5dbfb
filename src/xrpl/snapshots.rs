//! Hourly telemetry: the economy snapshot (`xrpl_economysnapshot`, one row
//! per hour) and a resource snapshot per currency (`xrpl_resourcesnapshot`),
//! measured from the database as the original's `TelemetryService.take_snapshot`
//! measures them (see [`measure`](super::measure)), and read back over time ranges.
//!
//! Taking the snapshot of an hour that already has one changes nothing and
//! returns the first: a cron job that runs twice, or two that overlap, record
//! one hour once.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;

use super::measure;
use super::tx::{XrplTx, with_tx, write};
use super::{XrplError, ranged_page};
use crate::db::Db;

/// What an economy snapshot measures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct EconomyFigures {
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
}

/// A recorded economy snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct EconomySnapshot {
    pub id: i64,
    /// The hour bucket (minutes, seconds and fractions zero).
    pub hour: DateTime<Utc>,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub figures: EconomyFigures,
    pub created_at: DateTime<Utc>,
}

/// What a resource snapshot measures of one currency: decimal texts with six
/// places. For a proxy token the `in_*` figures count NFTs of the item type
/// it tracks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ResourceFigures {
    pub in_character: String,
    pub in_account: String,
    pub in_spawned: String,
    pub in_reserve: String,
    pub in_sink: String,
    pub produced_1h: String,
    pub consumed_1h: String,
    pub traded_1h: String,
    pub exported_1h: String,
    pub imported_1h: String,
}

/// A recorded per-currency snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ResourceSnapshot {
    pub id: i64,
    pub hour: DateTime<Utc>,
    pub currency_code: String,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub figures: ResourceFigures,
    /// AMM prices come from the chain, which mnemo does not reach: always `null`.
    pub amm_buy_price: Option<String>,
    pub amm_sell_price: Option<String>,
    pub spawn_budget: i32,
    pub spawn_quest_debt: i32,
    pub spawn_placed: i32,
    pub spawn_dropped: i32,
    pub created_at: DateTime<Utc>,
}

/// What taking the snapshot of an hour gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshots {
    /// False when the hour already had its snapshot (returned unchanged).
    pub created: bool,
    pub economy: EconomySnapshot,
    /// Resource snapshots of the hour (one per currency).
    pub resource_snapshots: i64,
}

/// Which snapshots to list; `None` matches everything. The range is
/// half-open on the hour: `since <= hour < until`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotFilter {
    /// Resource snapshots only.
    pub currency_code: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

macro_rules! economy_columns {
    () => {
        "id, hour, players_online, unique_players_1h, unique_players_24h, unique_players_7d,
         CAST(gold_circulation AS TEXT) AS gold_circulation, CAST(gold_reserve AS TEXT) AS gold_reserve,
         CAST(gold_sinks_1h AS TEXT) AS gold_sinks_1h, CAST(gold_spawned_1h AS TEXT) AS gold_spawned_1h,
         amm_trades_1h, CAST(amm_volume_gold_1h AS TEXT) AS amm_volume_gold_1h, imports_1h, exports_1h, created_at"
    };
}

macro_rules! resource_columns {
    () => {
        "id, hour, currency_code, CAST(in_character AS TEXT) AS in_character,
         CAST(in_account AS TEXT) AS in_account, CAST(in_spawned AS TEXT) AS in_spawned,
         CAST(in_reserve AS TEXT) AS in_reserve, CAST(in_sink AS TEXT) AS in_sink,
         CAST(produced_1h AS TEXT) AS produced_1h, CAST(consumed_1h AS TEXT) AS consumed_1h,
         CAST(traded_1h AS TEXT) AS traded_1h, CAST(exported_1h AS TEXT) AS exported_1h,
         CAST(imported_1h AS TEXT) AS imported_1h, CAST(amm_buy_price AS TEXT) AS amm_buy_price,
         CAST(amm_sell_price AS TEXT) AS amm_sell_price, spawn_budget, spawn_quest_debt,
         spawn_placed, spawn_dropped, created_at"
    };
}

/// The hour bucket of `now`.
fn hour_of(now: DateTime<Utc>) -> Result<DateTime<Utc>, XrplError> {
    now.duration_trunc(Duration::hours(1))
        .map_err(|e| XrplError::invalid("hour", e.to_string()))
}

/// Inside a transaction: the snapshot of `hour` if there is one, evaluating
/// to `Option<Snapshots>` (with `created: false`).
macro_rules! recorded {
    ($conn:ident, $hour:expr) => {{
        let economy: Option<EconomySnapshot> = sqlx::query_as(concat!(
            "SELECT ",
            economy_columns!(),
            " FROM xrpl_economysnapshot WHERE hour = $1"
        ))
        .bind($hour)
        .fetch_optional(&mut *$conn)
        .await?;
        match economy {
            Some(economy) => {
                let (resource_snapshots,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM xrpl_resourcesnapshot WHERE hour = $1")
                        .bind($hour)
                        .fetch_one(&mut *$conn)
                        .await?;
                Some(Snapshots {
                    created: false,
                    economy,
                    resource_snapshots,
                })
            }
            None => None,
        }
    }};
}

/// Take the snapshot of the hour `now` falls in: measure, then write the
/// economy row and a resource row per currency. When the hour already has
/// its snapshot, nothing is written and the first is returned; two takers at
/// once meet on the unique hour and the second returns the first's.
pub async fn take_snapshot_in(tx: &mut XrplTx, now: DateTime<Utc>) -> Result<Snapshots, XrplError> {
    let hour = hour_of(now)?;
    let raw = with_tx!(tx, |p, conn| {
        if let Some(first) = recorded!(conn, hour) {
            return Ok(first);
        }
        measure::read_raw!(conn, hour, now)
    });
    let (economy, resources) = measure::measure(&raw)?;
    let e = &economy;
    let taken = with_tx!(tx, |p, conn| {
        let inserted: Option<EconomySnapshot> = sqlx::query_as(p.pick(
            concat!(
                "INSERT INTO xrpl_economysnapshot
                   (hour, players_online, unique_players_1h, unique_players_24h, unique_players_7d,
                    gold_circulation, gold_reserve, gold_sinks_1h, gold_spawned_1h,
                    amm_trades_1h, amm_volume_gold_1h, imports_1h, exports_1h, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT (hour) DO NOTHING RETURNING ",
                economy_columns!()
            ),
            concat!(
                "INSERT INTO xrpl_economysnapshot
                   (hour, players_online, unique_players_1h, unique_players_24h, unique_players_7d,
                    gold_circulation, gold_reserve, gold_sinks_1h, gold_spawned_1h,
                    amm_trades_1h, amm_volume_gold_1h, imports_1h, exports_1h, created_at)
                 VALUES ($1, $2, $3, $4, $5, CAST($6 AS NUMERIC), CAST($7 AS NUMERIC), CAST($8 AS NUMERIC),
                         CAST($9 AS NUMERIC), $10, CAST($11 AS NUMERIC), $12, $13, $14)
                 ON CONFLICT (hour) DO NOTHING RETURNING ",
                economy_columns!()
            ),
        ))
        .bind(hour)
        .bind(e.players_online)
        .bind(e.unique_players_1h)
        .bind(e.unique_players_24h)
        .bind(e.unique_players_7d)
        .bind(&e.gold_circulation)
        .bind(&e.gold_reserve)
        .bind(&e.gold_sinks_1h)
        .bind(&e.gold_spawned_1h)
        .bind(e.amm_trades_1h)
        .bind(&e.amm_volume_gold_1h)
        .bind(e.imports_1h)
        .bind(e.exports_1h)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(inserted) = inserted else {
            return recorded!(conn, hour).ok_or_else(|| {
                XrplError::Corrupt(format!(
                    "the snapshot of {hour} conflicted but is not there"
                ))
            });
        };
        for (code, r) in &resources {
            sqlx::query(p.pick(
                "INSERT INTO xrpl_resourcesnapshot
                   (hour, currency_code, in_character, in_account, in_spawned, in_reserve, in_sink,
                    produced_1h, consumed_1h, traded_1h, exported_1h, imported_1h, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                "INSERT INTO xrpl_resourcesnapshot
                   (hour, currency_code, in_character, in_account, in_spawned, in_reserve, in_sink,
                    produced_1h, consumed_1h, traded_1h, exported_1h, imported_1h, created_at)
                 VALUES ($1, $2, CAST($3 AS NUMERIC), CAST($4 AS NUMERIC), CAST($5 AS NUMERIC),
                         CAST($6 AS NUMERIC), CAST($7 AS NUMERIC), CAST($8 AS NUMERIC), CAST($9 AS NUMERIC),
                         CAST($10 AS NUMERIC), CAST($11 AS NUMERIC), CAST($12 AS NUMERIC), $13)",
            ))
            .bind(hour)
            .bind(code)
            .bind(&r.in_character)
            .bind(&r.in_account)
            .bind(&r.in_spawned)
            .bind(&r.in_reserve)
            .bind(&r.in_sink)
            .bind(&r.produced_1h)
            .bind(&r.consumed_1h)
            .bind(&r.traded_1h)
            .bind(&r.exported_1h)
            .bind(&r.imported_1h)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Snapshots {
            created: true,
            economy: inserted,
            resource_snapshots: resources.len() as i64,
        }
    });
    Ok(taken)
}

/// [`take_snapshot_in`] in a transaction of its own.
pub async fn take_snapshot(db: &Db, now: DateTime<Utc>) -> Result<Snapshots, XrplError> {
    write(db, async |tx| take_snapshot_in(tx, now).await).await
}

/// A page of economy snapshots in the time range, by id (which is hour
/// order): ids above `after`, at most `limit`.
pub async fn economy_snapshots(
    db: &Db,
    filter: &SnapshotFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<EconomySnapshot>, XrplError> {
    ranged_page(
        db,
        concat!(
            "SELECT ",
            economy_columns!(),
            " FROM xrpl_economysnapshot
              WHERE id > $1 AND ($2 IS NULL OR hour >= $2) AND ($3 IS NULL OR hour < $3)
              ORDER BY id LIMIT $4"
        ),
        &[],
        filter.since,
        filter.until,
        after,
        limit,
    )
    .await
}

/// A page of resource snapshots in the time range (of one currency, when
/// given), by id: ids above `after`, at most `limit`.
pub async fn resource_snapshots(
    db: &Db,
    filter: &SnapshotFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<ResourceSnapshot>, XrplError> {
    ranged_page(
        db,
        concat!(
            "SELECT ",
            resource_columns!(),
            " FROM xrpl_resourcesnapshot
              WHERE id > $1 AND ($2 IS NULL OR currency_code = $2)
                AND ($3 IS NULL OR hour >= $3) AND ($4 IS NULL OR hour < $4)
              ORDER BY id LIMIT $5"
        ),
        &[filter.currency_code.as_deref()],
        filter.since,
        filter.until,
        after,
        limit,
    )
    .await
}
