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
use super::tx::write;
use super::{XrplError, ranged_page};
use crate::db::{Args, Db, Tx};

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

/// The columns of an [`EconomySnapshot`].
const ECONOMY_COLUMNS: &str = "id, hour, players_online, unique_players_1h, unique_players_24h, unique_players_7d,
     CAST(gold_circulation AS TEXT) AS gold_circulation, CAST(gold_reserve AS TEXT) AS gold_reserve,
     CAST(gold_sinks_1h AS TEXT) AS gold_sinks_1h, CAST(gold_spawned_1h AS TEXT) AS gold_spawned_1h,
     amm_trades_1h, CAST(amm_volume_gold_1h AS TEXT) AS amm_volume_gold_1h, imports_1h, exports_1h, created_at";

/// The columns of a [`ResourceSnapshot`].
const RESOURCE_COLUMNS: &str =
    "id, hour, currency_code, CAST(in_character AS TEXT) AS in_character,
     CAST(in_account AS TEXT) AS in_account, CAST(in_spawned AS TEXT) AS in_spawned,
     CAST(in_reserve AS TEXT) AS in_reserve, CAST(in_sink AS TEXT) AS in_sink,
     CAST(produced_1h AS TEXT) AS produced_1h, CAST(consumed_1h AS TEXT) AS consumed_1h,
     CAST(traded_1h AS TEXT) AS traded_1h, CAST(exported_1h AS TEXT) AS exported_1h,
     CAST(imported_1h AS TEXT) AS imported_1h, CAST(amm_buy_price AS TEXT) AS amm_buy_price,
     CAST(amm_sell_price AS TEXT) AS amm_sell_price, spawn_budget, spawn_quest_debt,
     spawn_placed, spawn_dropped, created_at";

/// The hour bucket of `now`.
fn hour_of(now: DateTime<Utc>) -> Result<DateTime<Utc>, XrplError> {
    now.duration_trunc(Duration::hours(1))
        .map_err(|e| XrplError::invalid("hour", e.to_string()))
}

/// Inside a transaction: the snapshot of `hour` if there is one (with
/// `created: false`).
async fn recorded(tx: &mut Tx, hour: DateTime<Utc>) -> Result<Option<Snapshots>, XrplError> {
    let mut args = Args::new();
    args.push(hour);
    let sql = format!("SELECT {ECONOMY_COLUMNS} FROM xrpl_economysnapshot WHERE hour = $1");
    let Some(economy) = tx.fetch_optional(&sql, args.clone()).await? else {
        return Ok(None);
    };
    let (resource_snapshots,): (i64,) = tx
        .fetch_one(
            "SELECT COUNT(*) FROM xrpl_resourcesnapshot WHERE hour = $1",
            args,
        )
        .await?;
    Ok(Some(Snapshots {
        created: false,
        economy,
        resource_snapshots,
    }))
}

/// Take the snapshot of the hour `now` falls in: measure, then write the
/// economy row and a resource row per currency. When the hour already has
/// its snapshot, nothing is written and the first is returned; two takers at
/// once meet on the unique hour and the second returns the first's.
pub async fn take_snapshot_in(tx: &mut Tx, now: DateTime<Utc>) -> Result<Snapshots, XrplError> {
    let hour = hour_of(now)?;
    if let Some(first) = recorded(tx, hour).await? {
        return Ok(first);
    }
    let raw = measure::read_raw(tx, hour, now).await?;
    let (economy, resources) = measure::measure(&raw)?;
    let Some(inserted) = insert_economy(tx, hour, &economy, now).await? else {
        return recorded(tx, hour).await?.ok_or_else(|| {
            XrplError::Corrupt(format!(
                "the snapshot of {hour} conflicted but is not there"
            ))
        });
    };
    for (code, figures) in &resources {
        insert_resource(tx, hour, code, figures, now).await?;
    }
    Ok(Snapshots {
        created: true,
        economy: inserted,
        resource_snapshots: resources.len() as i64,
    })
}

/// The economy row of `hour`, or `None` when a concurrent taker wrote it first.
async fn insert_economy(
    tx: &mut Tx,
    hour: DateTime<Utc>,
    e: &EconomyFigures,
    now: DateTime<Utc>,
) -> Result<Option<EconomySnapshot>, XrplError> {
    let d = tx.dialect();
    let mut args = Args::new();
    let sql = format!(
        "INSERT INTO xrpl_economysnapshot
           (hour, players_online, unique_players_1h, unique_players_24h, unique_players_7d,
            gold_circulation, gold_reserve, gold_sinks_1h, gold_spawned_1h,
            amm_trades_1h, amm_volume_gold_1h, imports_1h, exports_1h, created_at)
         VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})
         ON CONFLICT (hour) DO NOTHING RETURNING {ECONOMY_COLUMNS}",
        args.push(hour),
        args.push(e.players_online),
        args.push(e.unique_players_1h),
        args.push(e.unique_players_24h),
        args.push(e.unique_players_7d),
        d.numeric(&args.push(e.gold_circulation.as_str())),
        d.numeric(&args.push(e.gold_reserve.as_str())),
        d.numeric(&args.push(e.gold_sinks_1h.as_str())),
        d.numeric(&args.push(e.gold_spawned_1h.as_str())),
        args.push(e.amm_trades_1h),
        d.numeric(&args.push(e.amm_volume_gold_1h.as_str())),
        args.push(e.imports_1h),
        args.push(e.exports_1h),
        args.push(now),
    );
    Ok(tx.fetch_optional(&sql, args).await?)
}

/// One currency's row of the snapshot of `hour`.
async fn insert_resource(
    tx: &mut Tx,
    hour: DateTime<Utc>,
    code: &str,
    r: &ResourceFigures,
    now: DateTime<Utc>,
) -> Result<(), XrplError> {
    let d = tx.dialect();
    let mut args = Args::new();
    let hour_param = args.push(hour);
    let code_param = args.push(code);
    let figures: Vec<String> = [
        &r.in_character,
        &r.in_account,
        &r.in_spawned,
        &r.in_reserve,
        &r.in_sink,
        &r.produced_1h,
        &r.consumed_1h,
        &r.traded_1h,
        &r.exported_1h,
        &r.imported_1h,
    ]
    .into_iter()
    .map(|figure| d.numeric(&args.push(figure.as_str())))
    .collect();
    let sql = format!(
        "INSERT INTO xrpl_resourcesnapshot
           (hour, currency_code, in_character, in_account, in_spawned, in_reserve, in_sink,
            produced_1h, consumed_1h, traded_1h, exported_1h, imported_1h, created_at)
         VALUES ({hour_param}, {code_param}, {}, {})",
        figures.join(", "),
        args.push(now)
    );
    tx.execute(&sql, args).await?;
    Ok(())
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
        &format!(
            "SELECT {ECONOMY_COLUMNS} FROM xrpl_economysnapshot
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
        &format!(
            "SELECT {RESOURCE_COLUMNS} FROM xrpl_resourcesnapshot
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
