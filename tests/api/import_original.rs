//! `mnemo import original` as a library call, into both backends, from the
//! generated original set (`fixtures/original/generate.py`, see
//! `support::original`): counts, a memory found by its own vector, a second
//! run that changes nothing, an interrupted run that continues, refusals
//! before anything is written, replays reported once, dry runs.

use mnemo::db::migrate;
use mnemo::db::{Alias, Args, Db};
use mnemo::memory::{CombatSearch, LoreSearch, MemoryStore, NpcSearch};
use mnemo::original::{ImportError, Report};
use sqlx::SqlitePool;

use crate::support::db::{TestDb, memory_store_with};
use crate::support::embedders::Named;
use crate::support::original::{self, import, import_with, options};

/// (source table, imported, matched with a row here, duplicates, pending) of the generated set.
const EXPECTED: [(&str, u64, u64, u64, u64); 20] = [
    ("accounts_accountdb", 150, 0, 0, 0),
    ("ai_memory_npcmemory", 2400, 0, 0, 96),
    ("ai_memory_combatmemory", 600, 0, 0, 30),
    ("ai_memory_lorememory", 300, 0, 0, 10),
    ("xrpl_currencytype", 0, 136, 0, 0),
    ("xrpl_nftitemtype", 0, 391, 0, 0),
    ("xrpl_fungiblegamestate", 474, 136, 0, 0),
    ("xrpl_nftgamestate", 300, 200, 0, 0),
    ("xrpl_fungibletransferlog", 1500, 0, 0, 0),
    ("xrpl_nfttransferlog", 600, 0, 0, 0),
    ("xrpl_xrpltransactionlog", 300, 0, 0, 0),
    ("xrpl_playersession", 400, 0, 0, 0),
    ("xrpl_economysnapshot", 168, 0, 0, 0),
    ("xrpl_resourcesnapshot", 480, 0, 0, 0),
    ("xrpl_saturationsnapshot", 240, 0, 0, 0),
    ("xrpl_bulletinlisting", 60, 0, 0, 0),
    ("xrpl_enchantmentslot", 20, 0, 0, 0),
    ("xrpl_reconciliationfailure", 12, 0, 0, 0),
    ("subscriptions_subscriptionplan", 2, 1, 0, 0),
    ("subscriptions_subscriptionpayment", 388, 0, 12, 0),
];

/// (alias, SQL counting rows here, expected) after importing the generated set.
const COUNTS: [(Alias, &str, i64); 10] = [
    (
        Alias::AiMemory,
        "SELECT count(*) FROM ai_memory_npcmemory",
        2400,
    ),
    (
        Alias::AiMemory,
        "SELECT count(*) FROM ai_memory_npcmemory WHERE embedding_model IS NULL",
        96,
    ),
    (
        Alias::AiMemory,
        "SELECT count(*) FROM ai_memory_combatmemory WHERE embedding_model = 'text-embedding-3-small'",
        570,
    ),
    (
        Alias::AiMemory,
        "SELECT count(*) FROM ai_memory_lorememory",
        300,
    ),
    (Alias::Default, "SELECT count(*) FROM accounts_account", 150),
    (
        Alias::Xrpl,
        "SELECT count(*) FROM xrpl_fungiblegamestate",
        610,
    ),
    (Alias::Xrpl, "SELECT count(*) FROM xrpl_nftgamestate", 500),
    (
        Alias::Xrpl,
        "SELECT count(*) FROM xrpl_import_origin WHERE source_table = 'xrpl_fungibletransferlog'",
        1500,
    ),
    (
        Alias::Subscriptions,
        "SELECT count(*) FROM subscriptions_subscriptionpayment",
        388,
    ),
    (
        Alias::Subscriptions,
        "SELECT count(*) FROM subscriptions_subscriptionplan",
        3,
    ),
];

pub async fn count(db: &Db, alias: Alias, sql: &str) -> i64 {
    let (n,): (i64,) = db
        .pool(alias)
        .fetch_one(sql, Args::new())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    n
}

#[track_caller]
fn assert_counts(report: &Report) {
    for (table, imported, matched, duplicates, pending) in EXPECTED {
        let t = report
            .table(table)
            .unwrap_or_else(|| panic!("{table} not in the report"));
        assert_eq!(
            (
                t.read,
                t.imported,
                t.matched,
                t.duplicates,
                t.pending,
                t.failed
            ),
            (
                imported + matched + duplicates,
                imported,
                matched,
                duplicates,
                pending,
                0
            ),
            "{table}"
        );
    }
}

async fn assert_rows_here(db: &Db) {
    for (alias, sql, expected) in COUNTS {
        assert_eq!(count(db, alias, sql).await, expected, "{sql}");
    }
}

/// The original's SQLite file of `alias`, opened read-only.
pub async fn original_file(file: &str) -> SqlitePool {
    let path = original::sqlite_dir().join(file);
    SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .expect("open the original's file")
}

/// Where the original's row `id` of `source_table` went (via the origin table of `alias`).
pub async fn target_of(db: &Db, alias: Alias, source_table: &str, id: i64) -> i64 {
    let mut args = Args::new();
    let sql = format!(
        "SELECT target_id FROM {}import_origin WHERE source_table = {} AND original_id = {}",
        alias.table_prefix(),
        args.push(source_table),
        args.push(id)
    );
    let (target,): (i64,) = db.pool(alias).fetch_one(&sql, args).await.unwrap();
    target
}

async fn the_sqlite_set_comes_in_whole(backend: &str) {
    let t = TestDb::empty(backend).await;
    let report = import(&t.db, "sqlite").await;
    assert_counts(&report);
    assert_rows_here(&t.db).await;
}

async fn the_postgres_set_comes_in_whole(backend: &str) {
    let t = TestDb::empty(backend).await;
    let report = import(&t.db, "postgres").await;
    assert_counts(&report);
    assert_rows_here(&t.db).await;
}

/// A blob of little-endian f32 from the original's SQLite file.
async fn original_vector(table: &str, id: i64) -> Vec<f32> {
    let file = original_file("ai_memory.db3").await;
    let (blob,): (Vec<u8>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT embedding FROM {table} WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(&file)
    .await
    .unwrap();
    blob.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

async fn imported_memories_are_found_by_their_own_vectors(backend: &str) {
    let t = TestDb::empty(backend).await;
    import(&t.db, "sqlite").await;
    let store: MemoryStore = memory_store_with(&t.db, Named::new("text-embedding-3-small")).await;

    let npc_here = target_of(&t.db, Alias::AiMemory, "ai_memory_npcmemory", 1).await;
    let npc = store.get::<mnemo::memory::Npc>(npc_here).await.unwrap();
    let hits = store
        .search_npc(&NpcSearch {
            npc_id: npc.npc_id,
            embedding: Some(original_vector("ai_memory_npcmemory", 1).await),
            top_k: 1,
            ..NpcSearch::default()
        })
        .await
        .unwrap();
    assert_eq!(hits[0].memory.id, npc_here);
    assert!(
        hits[0].similarity.is_some_and(|s| s > 0.9999),
        "{:?}",
        hits[0].similarity
    );

    let combat_here = target_of(&t.db, Alias::AiMemory, "ai_memory_combatmemory", 3).await;
    let combat = store
        .get::<mnemo::memory::Combat>(combat_here)
        .await
        .unwrap();
    let hits = store
        .search_combat(&CombatSearch {
            mob_type: combat.mob_type.clone(),
            embedding: Some(original_vector("ai_memory_combatmemory", 3).await),
            top_k: 1,
            ..CombatSearch::default()
        })
        .await
        .unwrap();
    assert_eq!(hits[0].memory.id, combat_here);

    let lore_here = target_of(&t.db, Alias::AiMemory, "ai_memory_lorememory", 2).await;
    let lore = store.get::<mnemo::memory::Lore>(lore_here).await.unwrap();
    let hits = store
        .search_lore(&LoreSearch {
            embedding: Some(original_vector("ai_memory_lorememory", 2).await),
            npc_tags: lore.scope_tags.0.clone(),
            top_k: 1,
            ..LoreSearch::default()
        })
        .await
        .unwrap();
    assert_eq!(hits[0].memory.id, lore_here);
}

/// Rows of every table the import writes, and of the change log.
async fn snapshot(db: &Db) -> Vec<i64> {
    let mut out = Vec::new();
    for (alias, table) in [
        (Alias::AiMemory, "ai_memory_npcmemory"),
        (Alias::AiMemory, "ai_memory_changelog"),
        (Alias::AiMemory, "ai_memory_import_origin"),
        (Alias::Xrpl, "xrpl_fungiblegamestate"),
        (Alias::Xrpl, "xrpl_fungibletransferlog"),
        (Alias::Xrpl, "xrpl_import_origin"),
        (Alias::Default, "accounts_account"),
        (Alias::Subscriptions, "subscriptions_subscriptionpayment"),
        (Alias::Subscriptions, "subscriptions_import_origin"),
    ] {
        out.push(count(db, alias, &format!("SELECT count(*) FROM {table}")).await);
    }
    let (expiries,): (String,) = db
        .pool(Alias::Subscriptions)
        .fetch_one(
            "SELECT COALESCE(CAST(MAX(updated_at) AS TEXT), '') FROM subscriptions_accountsubscription",
            Args::new(),
        )
        .await
        .unwrap();
    out.push(expiries.len() as i64);
    out
}

async fn a_second_run_changes_nothing(backend: &str) {
    let t = TestDb::empty(backend).await;
    import(&t.db, "sqlite").await;
    let before = snapshot(&t.db).await;
    let updated: Vec<(i64, String)> = updated_at(&t.db).await;

    let again = import(&t.db, "sqlite").await;

    assert!(again.nothing_to_import(), "{again}");
    assert_eq!(again.rows_written(), 0);
    assert!(again.duplicates.is_empty());
    assert!(again.to_string().contains("nothing to import"));
    assert_eq!(snapshot(&t.db).await, before);
    assert_eq!(updated_at(&t.db).await, updated);
}

async fn updated_at(db: &Db) -> Vec<(i64, String)> {
    db.pool(Alias::Subscriptions)
        .fetch_all(
            "SELECT account_id, CAST(updated_at AS TEXT) FROM subscriptions_accountsubscription ORDER BY account_id",
            Args::new(),
        )
        .await
        .unwrap()
}

async fn an_interrupted_run_continues_where_it_stopped(backend: &str) {
    let t = TestDb::empty(backend).await;
    import(&t.db, "sqlite").await;
    // A run stopped after its first three batches of NPC memories: the batches
    // after them never committed, so neither their rows nor their origins exist.
    for sql in [
        "DELETE FROM ai_memory_npcmemory WHERE id IN (SELECT target_id FROM ai_memory_import_origin
           WHERE source_table = 'ai_memory_npcmemory' AND original_id > 1500)",
        "DELETE FROM ai_memory_import_origin WHERE source_table = 'ai_memory_npcmemory' AND original_id > 1500",
    ] {
        t.db.pool(Alias::AiMemory)
            .execute(sql, Args::new())
            .await
            .unwrap();
    }

    let resumed = import(&t.db, "sqlite").await;

    let npc = resumed.table("ai_memory_npcmemory").unwrap();
    assert_eq!((npc.imported, npc.already), (900, 1500));
    assert_eq!(resumed.rows_written(), 900);
    assert_rows_here(&t.db).await;
}

async fn a_dimension_mismatch_is_refused_with_nothing_written(backend: &str) {
    let t = TestDb::empty(backend).await;
    let source = original::source("sqlite").await;
    let minilm = mnemo::original::ImportOptions {
        provider: "minilm".into(),
        dimension: 384,
        ..options()
    };

    let err = import_with(&t.db, &source, &minilm).await.unwrap_err();

    assert!(
        matches!(
            err,
            ImportError::Dimension {
                found: 1536,
                configured: 384,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("MNEMO_EMBEDDING_PROVIDER=minilm mnemo reembed"),
        "{message}"
    );
    assert!(message.contains("nothing was imported"), "{message}");
    // Not even the migrations a fresh database would need ran.
    let status = migrate::status(&t.db, &Alias::ALL).await.unwrap();
    assert!(status.iter().all(|s| s.applied.is_empty()), "{status:?}");
}

async fn a_replayed_payment_is_reported_once_and_written_once(backend: &str) {
    let t = TestDb::empty(backend).await;
    let file = original_file("subscriptions.db3").await;
    let replays: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, upper(tx_hash) FROM subscriptions_subscriptionpayment
         WHERE tx_hash <> upper(tx_hash) AND tx_hash NOT LIKE 'trial:%' ORDER BY id",
    )
    .fetch_all(&file)
    .await
    .unwrap();
    assert_eq!(replays.len(), 12);

    let report = import(&t.db, "sqlite").await;

    let reported: Vec<i64> = report.duplicates.iter().map(|d| d.original_id).collect();
    assert_eq!(reported, replays.iter().map(|r| r.0).collect::<Vec<_>>());
    for ((id, hash), d) in replays.iter().zip(&report.duplicates) {
        assert_eq!(d.table, "subscriptions_subscriptionpayment");
        assert!(d.message.contains(hash.as_str()), "{d}");
        let sql = format!(
            "SELECT count(*) FROM subscriptions_subscriptionpayment WHERE tx_hash = '{hash}'"
        );
        assert_eq!(
            count(&t.db, Alias::Subscriptions, &sql).await,
            1,
            "{hash} of #{id}"
        );
    }
    let again = import(&t.db, "sqlite").await;
    assert!(again.duplicates.is_empty(), "{:?}", again.duplicates);
}

async fn a_replay_does_not_extend_a_subscription(backend: &str) {
    let t = TestDb::empty(backend).await;
    let file = original_file("subscriptions.db3").await;
    let (name, replay_until): (String, String) = sqlx::query_as(
        "SELECT account_name, new_expiry FROM subscriptions_subscriptionpayment
         WHERE tx_hash <> upper(tx_hash) AND tx_hash NOT LIKE 'trial:%' ORDER BY id LIMIT 1",
    )
    .fetch_one(&file)
    .await
    .unwrap();
    let (paid_until,): (String,) = sqlx::query_as(
        "SELECT max(new_expiry) FROM subscriptions_subscriptionpayment
         WHERE account_name = $1 AND (tx_hash = upper(tx_hash) OR tx_hash LIKE 'trial:%')",
    )
    .bind(&name)
    .fetch_one(&file)
    .await
    .unwrap();

    let report = import(&t.db, "sqlite").await;

    let mut args = Args::new();
    let sql = format!(
        "SELECT s.expires_at FROM subscriptions_accountsubscription s WHERE s.account_id =
           (SELECT account_id FROM subscriptions_subscriptionpayment WHERE account_name = {} LIMIT 1)",
        args.push(name.as_str())
    );
    let (expires,): (chrono::DateTime<chrono::Utc>,) =
        t.db.pool(Alias::Subscriptions)
            .fetch_one(&sql, args)
            .await
            .unwrap();
    let naive = |s: &str| mnemo::original::source::parse_time(s).unwrap();
    assert_eq!(expires, naive(&paid_until));
    assert!(expires < naive(&replay_until));
    assert!(
        report.notes.iter().any(|n| n.contains("replayed payment")),
        "{:?}",
        report.notes
    );
}

on_both_backends!(
    the_sqlite_set_comes_in_whole,
    the_postgres_set_comes_in_whole,
    imported_memories_are_found_by_their_own_vectors,
    a_second_run_changes_nothing,
    an_interrupted_run_continues_where_it_stopped,
    a_dimension_mismatch_is_refused_with_nothing_written,
    a_replayed_payment_is_reported_once_and_written_once,
    a_replay_does_not_extend_a_subscription,
);
