//! The original game's databases for the import tests, built once per test
//! process by `fixtures/original/generate.py` (the same deterministic rows
//! every time): its SQLite set in a temporary directory, needing only
//! `python3` and its standard library, and its Postgres database in the test
//! cluster, loaded through `psql` from `MNEMO_PG_BIN` (which `source
//! scripts/pg-env.sh` exports beside `TEST_DATABASE_URL`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use mnemo::db::Db;
use mnemo::embed::{CachedEmbedder, HashEmbedder};
use mnemo::memory::{MemorySettings, MemoryStore};
use mnemo::original::{self, ImportError, ImportOptions, Quiet, Report, Source};

/// The generator's vault: the wallet of every RESERVE row of the set.
pub const VAULT: &str = "rUhDrgwMwrLc9sRPn43woHhe5gC9q8fVTZ";

fn generate(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/original/generate.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .expect("run python3 fixtures/original/generate.py");
    assert!(
        out.status.success(),
        "generate.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The directory of the original-shaped SQLite files: under cargo's
/// directory for test files, made afresh once per test run.
pub fn sqlite_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("original-sqlite");
        std::fs::create_dir_all(&dir).expect("create the directory of the original set");
        generate(&[
            "--sqlite-dir",
            dir.to_str().expect("utf-8 path"),
            "--replace",
        ]);
        dir
    })
}

/// The URL of the original-shaped Postgres database.
pub fn postgres_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let mut url = url::Url::parse(&super::db::cluster_url()).expect("TEST_DATABASE_URL");
        let name = format!("original_{:016x}", rand::random::<u64>());
        url.set_path(&format!("/{name}"));
        generate(&["--pg-url", url.as_str(), "--pg-create"]);
        url.to_string()
    })
}

/// The source of `kind`: `"sqlite"` or `"postgres"`.
pub async fn source(kind: &str) -> Source {
    match kind {
        "sqlite" => Source::sqlite_dir(sqlite_dir())
            .await
            .expect("open the SQLite set"),
        "postgres" => Source::postgres(postgres_url())
            .await
            .expect("open the original's Postgres database"),
        other => panic!("unknown source {other}"),
    }
}

/// The options of a plain run: vectors of 1536 dimensions, as the default provider's.
pub fn options() -> ImportOptions {
    ImportOptions {
        model: "text-embedding-3-small".into(),
        provider: "hash".into(),
        dimension: 1536,
        vault_address: mnemo::db::migrate::DEFAULT_VAULT_ADDRESS.into(),
        dry_run: false,
        batch: 500,
    }
}

/// Import `source` into `db` with `options`.
pub async fn import_with(
    db: &Db,
    source: &Source,
    options: &ImportOptions,
) -> Result<Report, ImportError> {
    let embedder = Arc::new(CachedEmbedder::new(Arc::new(HashEmbedder::new(1536)), 0));
    let store = MemoryStore::open_unchecked(db.clone(), embedder, MemorySettings::default())
        .await
        .expect("open the memory store");
    original::import(&store, source, options, &Quiet).await
}

/// Import the set of `kind` into `db`; a failed row fails the test.
pub async fn import(db: &Db, kind: &str) -> Report {
    let report = import_with(db, &source(kind).await, &options())
        .await
        .expect("import");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    report
}
