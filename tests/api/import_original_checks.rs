//! `mnemo import original`, continued: dry runs, the vault refusal, accounts
//! and the payments that name them across a world rebuild, the values the
//! original stored differently, and the command itself (its summary, a
//! failed row listed with exit 1, the dimension refusal before any write).

use std::path::Path;

use mnemo::db::migrate::{self, MigrateParams};
use mnemo::db::{Alias, Args};
use mnemo::original::ImportError;
use sqlx::SqlitePool;

use crate::import_original::{count, original_file, target_of};
use crate::support::db::{TestDb, memory_store_with};
use crate::support::embedders::Named;
use crate::support::original::{self, VAULT, import, import_with, options};

/// A database migrated for the original's vault.
async fn migrated_for_the_original(backend: &str) -> TestDb {
    let t = TestDb::empty(backend).await;
    let params = MigrateParams {
        vault_address: VAULT.into(),
        ..MigrateParams::default()
    };
    migrate::migrate(&t.db, &Alias::ALL, &params, None)
        .await
        .unwrap();
    t
}

async fn a_dry_run_counts_everything_and_writes_nothing(backend: &str) {
    let t = migrated_for_the_original(backend).await;
    let source = original::source("sqlite").await;
    let dry = mnemo::original::ImportOptions {
        dry_run: true,
        ..options()
    };

    let report = import_with(&t.db, &source, &dry).await.unwrap();

    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let npc = report.table("ai_memory_npcmemory").unwrap();
    assert_eq!((npc.imported, npc.pending), (2400, 96));
    let payments = report.table("subscriptions_subscriptionpayment").unwrap();
    assert_eq!((payments.imported, payments.duplicates), (388, 12));
    assert_eq!(report.rows_written(), 9258);
    assert!(report.to_string().contains("dry run"));
    for (alias, table) in [
        (Alias::AiMemory, "ai_memory_npcmemory"),
        (Alias::AiMemory, "ai_memory_import_origin"),
        (Alias::Default, "accounts_account"),
        (Alias::Xrpl, "xrpl_import_origin"),
        (Alias::Subscriptions, "subscriptions_subscriptionpayment"),
        (Alias::Subscriptions, "subscriptions_import_origin"),
    ] {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(count(&t.db, alias, &sql).await, 0, "{table}");
    }
}

async fn a_dry_run_needs_a_migrated_database(backend: &str) {
    let t = TestDb::empty(backend).await;
    let source = original::source("sqlite").await;
    let dry = mnemo::original::ImportOptions {
        dry_run: true,
        ..options()
    };

    let err = import_with(&t.db, &source, &dry).await.unwrap_err();

    assert!(matches!(err, ImportError::NotMigrated(_)), "{err}");
    assert!(err.to_string().contains("mnemo migrate"));
}

async fn a_database_seeded_for_another_vault_is_refused(backend: &str) {
    let t = TestDb::migrated(backend).await;

    let err = import_with(&t.db, &original::source("sqlite").await, &options())
        .await
        .unwrap_err();

    let message = err.to_string();
    assert!(matches!(err, ImportError::Vault { .. }), "{message}");
    assert!(message.contains(VAULT), "{message}");
    assert!(
        message.contains(migrate::DEFAULT_VAULT_ADDRESS),
        "{message}"
    );
    assert!(message.contains("nothing was imported"), "{message}");
    for (alias, table) in [
        (Alias::AiMemory, "ai_memory_npcmemory"),
        (Alias::Default, "accounts_account"),
    ] {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(count(&t.db, alias, &sql).await, 0, "{table}");
    }
}

async fn accounts_keep_their_ids_and_payments_follow_them_across_a_rebuild(backend: &str) {
    let t = TestDb::empty(backend).await;
    import(&t.db, "sqlite").await;

    let evennia = original_file("evennia.db3").await;
    let accounts: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, username FROM accounts_accountdb ORDER BY id")
            .fetch_all(&evennia)
            .await
            .unwrap();
    let here: Vec<(i64, String)> =
        t.db.pool(Alias::Default)
            .fetch_all(
                "SELECT id, username FROM accounts_account ORDER BY id",
                Args::new(),
            )
            .await
            .unwrap();
    assert_eq!(here, accounts);

    // A payment from before the rebuild names an account id that no longer exists.
    let subscriptions = original_file("subscriptions.db3").await;
    let (payment, old_id, name, wallet): (i64, i64, String, String) = sqlx::query_as(
        "SELECT id, account_id, account_name, wallet_address FROM subscriptions_subscriptionpayment
         WHERE account_id NOT IN (SELECT value FROM json_each($1)) ORDER BY id LIMIT 1",
    )
    .bind(serde_json::to_string(&accounts.iter().map(|a| a.0).collect::<Vec<_>>()).unwrap())
    .fetch_one(&subscriptions)
    .await
    .unwrap();
    let current = accounts.iter().find(|a| a.1 == name).unwrap().0;
    assert_ne!(old_id, current);
    let payment_here = target_of(
        &t.db,
        Alias::Subscriptions,
        "subscriptions_subscriptionpayment",
        payment,
    )
    .await;
    let mut args = Args::new();
    let sql = format!(
        "SELECT account_id FROM subscriptions_subscriptionpayment WHERE id = {}",
        args.push(payment_here)
    );
    let (account_here,): (i64,) =
        t.db.pool(Alias::Subscriptions)
            .fetch_one(&sql, args)
            .await
            .unwrap();
    assert_eq!(account_here, current);
    let account = mnemo::accounts::get_account(&t.db, current).await.unwrap();
    assert_eq!(account.wallet_address.as_deref(), Some(wallet.as_str()));

    // Ids kept from the original never collide with the next account's.
    let next = mnemo::accounts::create_account(
        &t.db,
        &mnemo::accounts::NewAccount {
            username: "newcomer".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(next.id > 150, "{}", next.id);
}

async fn what_the_original_stored_differently_is_converted(backend: &str) {
    let t = TestDb::empty(backend).await;
    import(&t.db, "sqlite").await;
    let file = original_file("ai_memory.db3").await;
    let store = memory_store_with(&t.db, Named::new("text-embedding-3-small")).await;

    // Hit points: a fraction there, a percentage here.
    let fights: Vec<(i64, f64)> = sqlx::query_as(
        "SELECT id, hp_remaining_pct FROM ai_memory_combatmemory WHERE hp_remaining_pct > 0 LIMIT 5",
    )
    .fetch_all(&file)
    .await
    .unwrap();
    for (id, fraction) in fights {
        let here = target_of(&t.db, Alias::AiMemory, "ai_memory_combatmemory", id).await;
        let fight = store.get::<mnemo::memory::Combat>(here).await.unwrap();
        assert!(
            (fight.hp_remaining_pct - fraction * 100.0).abs() < 1e-9,
            "#{id}"
        );
    }

    // Tags as the files wrote them there; sorted here, as every lore write stores them.
    let (id, tags): (i64, String) = sqlx::query_as(
        "SELECT id, scope_tags FROM ai_memory_lorememory WHERE json_array_length(scope_tags) = 2 LIMIT 1",
    )
    .fetch_one(&file)
    .await
    .unwrap();
    let mut expected: Vec<String> = serde_json::from_str(&tags).unwrap();
    let written = expected.clone();
    expected.sort();
    assert_ne!(written, expected, "the generator writes some tags unsorted");
    let here = target_of(&t.db, Alias::AiMemory, "ai_memory_lorememory", id).await;
    let lore = store.get::<mnemo::memory::Lore>(here).await.unwrap();
    assert_eq!(lore.scope_tags.0, expected);

    // Text, ids of NPCs and speakers, and times stay as they were.
    let (npc_id, speaker_id, summary, created): (i64, i64, String, String) = sqlx::query_as(
        "SELECT npc_id, speaker_id, summary, created_at FROM ai_memory_npcmemory WHERE id = 7",
    )
    .fetch_one(&file)
    .await
    .unwrap();
    let here = target_of(&t.db, Alias::AiMemory, "ai_memory_npcmemory", 7).await;
    let npc = store.get::<mnemo::memory::Npc>(here).await.unwrap();
    assert_eq!(
        (npc.npc_id, npc.speaker_id, npc.summary),
        (npc_id, speaker_id, summary)
    );
    assert_eq!(
        npc.created_at,
        mnemo::original::source::parse_time(&created).unwrap()
    );
}

async fn the_imported_economy_passes_the_conservation_audit(backend: &str) {
    let t = TestDb::empty(backend).await;
    let report = import(&t.db, "sqlite").await;

    let audit = mnemo::xrpl::audit(&t.db).await.unwrap();
    assert!(audit.is_sound(), "{:?}", audit.problems);
    assert!(
        report.notes.iter().any(|n| n.contains("opening entries")),
        "{:?}",
        report.notes
    );
    let sql =
        "SELECT count(*) FROM xrpl_fungibletransferlog WHERE transfer_type = 'original_import'";
    let opening = count(&t.db, Alias::Xrpl, sql).await;
    assert!(opening > 0);

    import(&t.db, "sqlite").await;
    assert_eq!(count(&t.db, Alias::Xrpl, sql).await, opening);
    assert!(mnemo::xrpl::audit(&t.db).await.unwrap().is_sound());
}

/// A copy of the original's SQLite set that a test may change.
async fn copy_of_the_set(dir: &Path) -> SqlitePool {
    for file in [
        "ai_memory.db3",
        "xrpl.db3",
        "subscriptions.db3",
        "evennia.db3",
    ] {
        std::fs::copy(original::sqlite_dir().join(file), dir.join(file)).unwrap();
    }
    SqlitePool::connect(&format!("sqlite://{}", dir.join("ai_memory.db3").display()))
        .await
        .unwrap()
}

async fn the_command_lists_each_failed_row_and_exits_1(backend: &str) {
    let t = TestDb::empty(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let memories = copy_of_the_set(dir.path()).await;
    for sql in [
        "UPDATE ai_memory_combatmemory SET outcome = 'victory' WHERE id = 7",
        "UPDATE ai_memory_combatmemory SET hp_remaining_pct = 55 WHERE id = 8",
    ] {
        sqlx::query(sql).execute(&memories).await.unwrap();
    }
    memories.close().await;
    let run = || {
        t.mnemo(&["import", "original", "--sqlite-dir"])
            .arg(dir.path())
            .output()
            .unwrap()
    };

    let out = run();

    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("failed: ai_memory_combatmemory #7: outcome:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("failed: ai_memory_combatmemory #8: hp_remaining_pct:"),
        "{stderr}"
    );
    assert!(stderr.contains("2 row(s) failed"), "{stderr}");
    let combat = stdout
        .lines()
        .find(|l| l.starts_with("ai_memory_combatmemory"))
        .unwrap_or_else(|| panic!("no summary line: {stdout}"));
    let cells: Vec<&str> = combat.split_whitespace().collect();
    assert_eq!(cells[1..3], ["600", "598"], "{combat}");
    assert_eq!(cells[6], "2", "{combat}");
    assert!(stdout.contains("rows/s"), "{stdout}");
    assert!(stdout.contains("12 duplicate(s)"), "{stdout}");

    // The rest is in; a second run tries only the two again.
    let again = run();
    assert_eq!(again.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains(" 0 written"), "{stdout}");
}

async fn the_command_refuses_another_dimension_before_writing(backend: &str) {
    let t = TestDb::empty(backend).await;

    let out = t
        .mnemo(&["import", "original", "--sqlite-dir"])
        .arg(original::sqlite_dir())
        .env("MNEMO_EMBEDDING_PROVIDER", "minilm")
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("mnemo reembed"), "{stderr}");
    let status = migrate::status(&t.db, &Alias::ALL).await.unwrap();
    assert!(status.iter().all(|s| s.applied.is_empty()), "{status:?}");
}

on_both_backends!(
    a_dry_run_counts_everything_and_writes_nothing,
    a_dry_run_needs_a_migrated_database,
    a_database_seeded_for_another_vault_is_refused,
    accounts_keep_their_ids_and_payments_follow_them_across_a_rebuild,
    what_the_original_stored_differently_is_converted,
    the_imported_economy_passes_the_conservation_audit,
    the_command_lists_each_failed_row_and_exits_1,
    the_command_refuses_another_dimension_before_writing,
);
