//! The `mnemo` binary: the backend switch and the migration commands, as an admin runs them.

use std::process::{Command, Output};

fn mnemo(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mnemo"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env("MNEMO_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run mnemo")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A Postgres that is not there (port 1 refuses at once), with the password in
/// each form sqlx accepts: no command prints it, whatever fails.
#[test]
fn a_postgres_password_is_never_printed_in_any_form() {
    for url in [
        "postgres://mnemo:hunter2@127.0.0.1:1/game",
        "postgres://mnemo@127.0.0.1:1/game?password=hunter2",
        "postgresql://127.0.0.1:1/game?user=mnemo&password=hunter2&sslmode=disable",
    ] {
        for args in [
            &["migrate"][..],
            &["deploy-migrate"],
            &["serve", "--bind", "127.0.0.1:0"],
        ] {
            let out = mnemo(
                args,
                &[
                    ("DATABASE_URL", url),
                    ("MNEMO_DB_ACQUIRE_TIMEOUT_MS", "200"),
                ],
            );
            let all = text(&out);
            assert!(!out.status.success(), "{args:?}: {all}");
            assert!(
                all.contains("127.0.0.1:1"),
                "{args:?} names the host: {all}"
            );
            assert!(!all.contains("hunter2"), "{args:?} with {url}: {all}");
        }
    }
}

#[test]
fn unsupported_database_url_is_refused_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for url in ["mysql://root:hunter2@db:3306/game", "not a url:hunter2@x"] {
        let out = mnemo(
            &["migrate"],
            &[("DATABASE_URL", url), ("MNEMO_DATA_DIR", data)],
        );
        let all = text(&out);
        assert!(!out.status.success());
        assert!(all.contains("DATABASE_URL"), "{all}");
        assert!(!all.contains("hunter2"), "{all}");
    }
}

#[test]
fn sqlite_migrate_list_and_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [("MNEMO_DATA_DIR", data.to_str().unwrap())];

    let before = mnemo(&["migrate", "--list"], &env);
    assert!(before.status.success(), "{}", text(&before));
    assert!(text(&before).contains("[ ] 0001_initial"));
    assert!(!text(&before).contains("[X]"));

    let first = mnemo(&["migrate"], &env);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("Applied xrpl/0001_initial"),
        "{}",
        text(&first)
    );
    for alias in ["default", "xrpl", "ai_memory", "subscriptions"] {
        assert!(data.join(format!("{alias}.db3")).exists(), "{alias}.db3");
    }

    let second = mnemo(&["migrate"], &env);
    assert!(second.status.success());
    assert!(
        text(&second).contains("No migrations to apply."),
        "{}",
        text(&second)
    );

    let after = mnemo(&["migrate", "--list"], &env);
    assert!(!text(&after).contains("[ ]"), "{}", text(&after));
    assert!(
        text(&after).contains("[X] 0002_pgvector"),
        "{}",
        text(&after)
    );
}

#[test]
fn migrate_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("MNEMO_DATA_DIR", dir.path().to_str().unwrap())];
    let out = mnemo(&["migrate", "--database", "subscriptions"], &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Applied subscriptions/0001_initial"));
    assert!(!text(&out).contains("Applied default/"));

    let bad = mnemo(&["migrate", "--database", "nope"], &env);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("unknown database alias"),
        "{}",
        text(&bad)
    );
}

#[test]
fn deploy_migrate_refuses_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let out = mnemo(
        &["deploy-migrate"],
        &[("MNEMO_DATA_DIR", dir.path().to_str().unwrap())],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("postgres://"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_migrate_on_postgres_then_again() {
    let url = crate::support::db::postgres_database().await;
    let env = [("DATABASE_URL", url.as_str())];
    let first = mnemo(&["deploy-migrate"], &env);
    let out = text(&first);
    assert!(first.status.success(), "{out}");
    assert!(out.contains("Backend: postgres"), "{out}");
    assert!(out.contains("Tables before: 0"), "{out}");
    assert!(out.contains("pgvector extension: ok"), "{out}");

    let second = mnemo(&["deploy-migrate"], &env);
    let out = text(&second);
    assert!(second.status.success(), "{out}");
    assert!(out.contains("No migrations to apply."), "{out}");
    assert!(!out.contains("Tables before: 0"), "{out}");

    let list = mnemo(&["migrate", "--list"], &env);
    assert!(!text(&list).contains("[ ]"), "{}", text(&list));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_migrate_reports_an_unreachable_server_without_the_password() {
    let out = mnemo(
        &["deploy-migrate"],
        &[(
            "DATABASE_URL",
            "postgres://mnemo:hunter2@127.0.0.1:1/nothing",
        )],
    );
    assert!(!out.status.success());
    let all = text(&out);
    assert!(all.contains("127.0.0.1:1"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reembed_embeds_pending_rows_and_is_resumable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let env = [("MNEMO_DATA_DIR", data)];
    assert!(mnemo(&["migrate"], &env).status.success());
    let target = mnemo::config::DatabaseTarget::Sqlite {
        data_dir: dir.path().into(),
    };
    let db = mnemo::db::Db::open(&target).await.unwrap();
    let mnemo::db::Pool::Sqlite(pool) = db.pool(mnemo::db::Alias::AiMemory) else {
        unreachable!()
    };
    for i in 0..3 {
        sqlx::query("INSERT INTO ai_memory_npcmemory (npc_id, summary, created_at) VALUES (1, $1, '2026-01-01T00:00:00+00:00')")
            .bind(format!("pending memory {i}"))
            .execute(pool)
            .await
            .unwrap();
    }
    let out = mnemo(
        &["reembed", "--kind", "npc", "--pending", "--batch", "2"],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("npc: 3 rows embedded with mnemo-hash-v1"),
        "{}",
        text(&out)
    );
    let (left,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM ai_memory_npcmemory WHERE embedding IS NULL")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(left, 0);
    let again = mnemo(&["reembed", "--kind", "npc", "--pending"], &env);
    assert!(
        text(&again).contains("npc: 0 rows embedded"),
        "{}",
        text(&again)
    );
}

/// `mnemo lore import DIR`: dry run, import, idempotent rerun, prune, and
/// exit 1 when an entry fails.
#[test]
fn lore_import_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let env = [("MNEMO_DATA_DIR", data)];
    let lore = dir.path().join("lore");
    std::fs::create_dir(&lore).unwrap();
    std::fs::write(
        lore.join("world.yaml"),
        "source: world\nentries:\n  - title: Bridge\n    scope_level: regional\n    scope_tags: [riverlands]\n    content: The bridge fell.\n  - title: Mill\n    scope_level: local\n    content: The mill grinds barley.\n",
    )
    .unwrap();
    std::fs::write(
        lore.join("north.json"),
        r#"{"entries": [{"title": "Dragon", "scope_level": "continental", "content": "A dragon sleeps."}]}"#,
    )
    .unwrap();
    let lore = lore.to_str().unwrap();
    assert!(mnemo(&["migrate"], &env).status.success());

    let out = mnemo(&["lore", "import", lore, "--dry-run"], &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("dry run: 2 file(s): 3 created, 0 updated, 0 unchanged, 0 failed"),
        "{}",
        text(&out)
    );
    let out = mnemo(&["lore", "import", lore], &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("3 created"), "{}", text(&out));
    let out = mnemo(&["lore", "import", lore], &env);
    assert!(
        text(&out).contains("0 created, 0 updated, 3 unchanged"),
        "{}",
        text(&out)
    );

    // The mill is gone from the file, and one entry is invalid.
    std::fs::write(
        std::path::Path::new(lore).join("world.yaml"),
        "source: world\nentries:\n  - title: Bridge\n    scope_level: regional\n    scope_tags: [riverlands]\n    content: The bridge was rebuilt.\n  - title: Void\n    scope_level: cosmic\n    content: x\n",
    )
    .unwrap();
    let out = mnemo(&["lore", "import", lore, "--prune"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("1 updated"), "{all}");
    assert!(all.contains("1 failed, 1 pruned"), "{all}");
    assert!(all.contains("\"Void\" failed: scope_level"), "{all}");
    assert!(all.contains("pruned \"Mill\""), "{all}");

    let out = mnemo(&["lore", "import", "/nonexistent/lore"], &env);
    assert_eq!(out.status.code(), Some(1));
}
