//! The provider switch as an admin runs it, with the `mnemo` binary on both
//! backends: `serve` refuses data of another dimension naming `mnemo reembed`,
//! `reembed` says what it changed, `migrate` still has nothing to do, and
//! `serve` then starts.

use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use crate::support::db::TestDb;
use crate::support::reembed as rc;
use crate::support::serve::ServeProcess;
use mnemo::db::Alias;
use mnemo::db::migrate::{self, MigrateParams};
use mnemo::embed::{Embedder, HashEmbedder};
use mnemo::memory::MemoryKind;

/// `mnemo` on the database of `t`, with extra environment.
fn command(t: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = t.mnemo(args);
    cmd.env_remove("MNEMO_EMBEDDING_PROVIDER")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(t: &TestDb, args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let out = command(t, args, env).output().expect("run mnemo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// `mnemo serve` gets ready (the memory stores opened) and says so on
/// `/readyz`, then stops cleanly on SIGTERM.
async fn serve_starts(t: &TestDb, env: &[(&str, &str)]) {
    let mut cmd = command(t, &["serve", "--bind", "127.0.0.1:0"], env);
    cmd.stdout(Stdio::null());
    let server = ServeProcess::start(cmd);
    let ready = reqwest::get(format!("http://{}/readyz", server.addr))
        .await
        .expect("GET /readyz");
    assert_eq!(ready.status(), 200);
    let status = server.stop();
    assert!(status.success(), "graceful exit, got {status}");
}

/// Data stored by a `small`-d provider, a binary configured by `env` for a
/// `big`-d one: refused, re-embedded, migrated again, served.
async fn switch_with_the_binary(
    t: &TestDb,
    small: Arc<dyn Embedder>,
    big: Arc<dyn Embedder>,
    env: &[(&str, &str)],
) {
    let (from, to) = (small.dimension(), big.dimension());
    rc::fill(&rc::open(&t.db, small).await.expect("open")).await;

    let (out, text) = run(t, &["serve", "--bind", "127.0.0.1:0"], env);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("mnemo reembed --kind npc"), "{text}");
    assert!(text.contains(&format!("({to} dimensions)")), "{text}");

    let (out, text) = run(t, &["reembed", "--batch", "2"], env);
    assert!(out.status.success(), "{text}");
    for kind in MemoryKind::ALL {
        let name = kind.name();
        let rows = rc::rows(kind);
        assert!(
            text.contains(&format!(
                "{name}: {rows} rows embedded with {}",
                big.model()
            )),
            "{text}"
        );
        if t.db.backend() == mnemo::db::Backend::Postgres {
            let changed = format!("{name}: column changed from vector({from}) to vector({to})");
            assert!(text.contains(&changed), "{text}");
            let built = format!(
                "{name}: HNSW index {} built",
                mnemo::memory::hnsw_index(kind)
            );
            assert!(text.contains(&built), "{text}");
        }
        rc::assert_dimension(&t.db, kind, to).await;
    }

    let (out, text) = run(t, &["migrate"], env);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("No migrations to apply."), "{text}");

    serve_starts(t, env).await;
    rc::assert_searches(&rc::open(&t.db, big).await.expect("open")).await;
}

/// 384-d hash vectors (Postgres columns migrated at 384) to the default 1536-d
/// hash provider of the binary.
async fn binary_switches_384_to_1536(backend: &str) {
    let t = TestDb::empty(backend).await;
    let params = MigrateParams {
        embedding_dim: 384,
        ..MigrateParams::default()
    };
    migrate::migrate(&t.db, &Alias::ALL, &params, None)
        .await
        .expect("migrate at 384");
    switch_with_the_binary(
        &t,
        Arc::new(HashEmbedder::new(384)),
        Arc::new(HashEmbedder::new(1536)),
        &[],
    )
    .await;
}

/// `reembed` before `migrate` says to migrate first instead of failing on a
/// missing column.
async fn reembed_needs_the_migrations(backend: &str) {
    let t = TestDb::empty(backend).await;
    let (out, text) = run(&t, &["reembed"], &[]);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("run `mnemo migrate` first"), "{text}");
}

on_both_backends!(binary_switches_384_to_1536, reembed_needs_the_migrations);

/// The real switch: 1536-d hash data to the local 384-d model, with the binary.
#[cfg(feature = "minilm")]
mod minilm {
    use std::sync::Arc;

    use mnemo::embed::{EmbedSettings, HashEmbedder};

    async fn binary_switches_hash_to_minilm(backend: &str) {
        let t = super::TestDb::migrated(backend).await;
        let minilm = mnemo::embed::build(
            "minilm",
            &EmbedSettings {
                model_dir: Some(crate::support::minilm::model_dir()),
                ..EmbedSettings::default()
            },
        )
        .expect("the model loads (scripts/fetch-model installs it)");
        super::switch_with_the_binary(
            &t,
            Arc::new(HashEmbedder::new(1536)),
            minilm,
            &[("MNEMO_EMBEDDING_PROVIDER", "minilm")],
        )
        .await;
    }

    on_both_backends!(binary_switches_hash_to_minilm);
}
