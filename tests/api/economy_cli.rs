//! `mnemo economy` and the economy scopes of `mnemo token`, as an admin (or a
//! cron job) runs them, on both backends.

use std::process::Output;

use crate::support::db::TestDb;
use mnemo::db::Alias;
use mnemo::with_pool;
use mnemo::xrpl::{self, FungibleLocation, Holder};

fn run(t: &TestDb, args: &[&str]) -> (Output, String) {
    let out = t.mnemo(args).output().expect("run mnemo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

async fn token_create_takes_the_economy_scopes(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let (out, text) = run(
        &t,
        &[
            "token",
            "create",
            "--name",
            "game",
            "--scopes",
            "economy:read,economy:write",
        ],
    );
    assert!(out.status.success(), "{text}");
    let (_, listed) = run(&t, &["token", "list"]);
    assert!(listed.contains("economy:read,economy:write"), "{listed}");
    let (out, text) = run(
        &t,
        &[
            "token",
            "create",
            "--name",
            "typo",
            "--scopes",
            "economy:spend",
        ],
    );
    assert!(!out.status.success());
    assert!(text.contains("economy:write"), "{text}");
}

async fn snapshot_command_records_the_hour_once(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let (out, first) = run(&t, &["economy", "snapshot"]);
    assert!(out.status.success(), "{first}");
    assert!(first.contains("recorded: 0 players online"), "{first}");
    assert!(first.contains("136 resource snapshots"), "{first}");
    assert!(first.contains("idempotency key"), "{first}");
    let (out, second) = run(&t, &["economy", "snapshot"]);
    assert!(out.status.success(), "{second}");
    let snapshots: i64 = with_pool!(t.db.pool(Alias::Xrpl), |p| {
        sqlx::query_scalar("SELECT COUNT(*) FROM xrpl_economysnapshot")
            .fetch_one(p)
            .await
            .unwrap()
    });
    // Two runs in one hour record one snapshot (two only if the hour turned between them).
    if second.contains("already recorded") {
        assert_eq!(snapshots, 1);
    } else {
        assert_eq!(snapshots, 2, "{second}");
    }
}

async fn balances_command_prints_a_table(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let wallet = "rTableWallet";
    xrpl::credit(
        &t.db,
        "FCMGold",
        &Holder::new(wallet, FungibleLocation::Account),
        "12.5",
    )
    .await
    .unwrap();
    xrpl::credit(&t.db, "FCMSilk", &Holder::character(wallet, "Aldric"), "3")
        .await
        .unwrap();
    let (out, table) = run(&t, &["economy", "balances", "--wallet", wallet]);
    assert!(out.status.success(), "{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("CURRENCY") && lines[0].ends_with("BALANCE"));
    let cells = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(cells(lines[1]), ["FCMGold", "ACCOUNT", "-", "12.500000"]);
    assert_eq!(
        cells(lines[2]),
        ["FCMSilk", "CHARACTER", "Aldric", "3.000000"]
    );
    let (out, empty) = run(&t, &["economy", "balances", "--wallet", "rNobody"]);
    assert!(out.status.success());
    assert_eq!(empty.trim(), "No balances for wallet rNobody.");
}

async fn audit_command_passes_then_reports_a_broken_economy(backend: &str) {
    let t = TestDb::migrated(backend).await;
    xrpl::credit(
        &t.db,
        "FCMGold",
        &Holder::new("rAudited", FungibleLocation::Account),
        "10",
    )
    .await
    .unwrap();
    let (out, sound) = run(&t, &["economy", "audit"]);
    assert!(out.status.success(), "{sound}");
    assert!(sound.contains("Audit passed: 136 currencies"), "{sound}");

    // Units appear without a logged credit.
    with_pool!(t.db.pool(Alias::Xrpl), |p| {
        sqlx::query(p.pick(
            "UPDATE xrpl_fungiblegamestate SET balance = '15.000000' WHERE wallet_address = 'rAudited'",
            "UPDATE xrpl_fungiblegamestate SET balance = 15 WHERE wallet_address = 'rAudited'",
        ))
        .execute(p)
        .await
        .unwrap();
    });
    let (out, broken) = run(&t, &["economy", "audit"]);
    assert_eq!(out.status.code(), Some(1), "{broken}");
    assert!(broken.contains("Audit FAILED: 1 problem(s)"), "{broken}");
    assert!(
        broken.contains("FCMGold: holders have 500015.000000 but the log minted 500010.000000"),
        "{broken}"
    );
    assert!(
        broken.contains("error: the economy audit found 1 problem(s)"),
        "{broken}"
    );
}

on_both_backends!(
    token_create_takes_the_economy_scopes,
    snapshot_command_records_the_hour_once,
    balances_command_prints_a_table,
    audit_command_passes_then_reports_a_broken_economy,
);
