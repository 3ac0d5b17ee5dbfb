//! Ordered, checksummed migrations for the four aliases on both backends.
//!
//! Files live in `migrations/{sqlite,postgres,common}/<alias>/NNNN_name.sql` and are
//! compiled into the binary. `common/` holds dialect-neutral SQL (the seed data)
//! that both backends run unchanged. SQLite keeps one history per alias file;
//! Postgres keeps one history for the one database. A file may use two
//! placeholders, filled at apply time: `{{vault_address}}` (a quoted SQL string)
//! and `{{embedding_dim}}` (an integer). The checksum covers the file as written.

use std::collections::BTreeMap;

use chrono::Utc;
use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;

use super::{Alias, Args, Backend, Db};

static MIGRATIONS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// The address of XRPL's "account zero", a well-known black hole: the default
/// vault wallet for the seeded RESERVE balances when none is configured.
pub const DEFAULT_VAULT_ADDRESS: &str = "rrrrrrrrrrrrrrrrrrrrrhoLvTp";

/// One migration file.
#[derive(Debug, Clone)]
pub struct Migration {
    pub alias: Alias,
    /// File stem, e.g. `0001_initial`; the same on both backends.
    pub name: String,
    /// First line of the file without `-- `.
    pub description: String,
    pub sql: &'static str,
    /// Hex SHA-256 of the file.
    pub checksum: String,
    /// The file declares `-- destructive: <reason>`.
    pub destructive: bool,
}

/// Values substituted into migrations when they are applied.
#[derive(Debug, Clone)]
pub struct MigrateParams {
    pub vault_address: String,
    pub embedding_dim: usize,
}

impl Default for MigrateParams {
    fn default() -> Self {
        Self {
            vault_address: DEFAULT_VAULT_ADDRESS.to_owned(),
            embedding_dim: 1536,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "migration {alias}/{name} was applied with checksum {applied} but the file now has {current}; applied migrations must not change: add a new migration instead"
    )]
    ChecksumMismatch {
        alias: Alias,
        name: String,
        applied: String,
        current: String,
    },
    #[error(
        "migration {alias}/{name} is recorded as applied but no such file exists in this build"
    )]
    UnknownApplied { alias: Alias, name: String },
    #[error("bad migration file {path}: {reason}")]
    BadFile { path: String, reason: String },
    #[error("unknown migration target {target:?} for {alias}")]
    UnknownTarget { alias: Alias, target: String },
    #[error(
        "MNEMO_XRPL_VAULT_ADDRESS {0:?} is not an XRPL classic address (r followed by 24-34 base58 characters)"
    )]
    BadVaultAddress(String),
    #[error("migration {alias}/{name} failed: {source}")]
    Apply {
        alias: Alias,
        name: String,
        source: sqlx::Error,
    },
    #[error(
        "migration {alias}/{name} would size the vector columns for {expected} dimensions (the configured \
         embedding provider), but {table} holds embeddings of {found} dimensions, which cannot fill them: \
         run `mnemo migrate` with the provider they were written with, then switch providers with `mnemo reembed`"
    )]
    EmbeddingDimension {
        alias: Alias,
        name: String,
        table: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("reading the migration history of {alias} failed: {source}")]
    History { alias: Alias, source: sqlx::Error },
}

/// The migrations of one alias for one backend, in order.
pub fn migrations_for(backend: Backend, alias: Alias) -> Result<Vec<Migration>, MigrateError> {
    let mut by_name: BTreeMap<String, Migration> = BTreeMap::new();
    for folder in [backend.name(), "common"] {
        let Some(dir) = MIGRATIONS.get_dir(format!("{folder}/{}", alias.name())) else {
            continue;
        };
        for file in dir.files() {
            let path = file.path().display().to_string();
            let bad = |reason: &str| MigrateError::BadFile {
                path: path.clone(),
                reason: reason.to_owned(),
            };
            if file.path().extension().and_then(|e| e.to_str()) != Some("sql") {
                continue;
            }
            let name = file
                .path()
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or_else(|| bad("file name is not UTF-8"))?
                .to_owned();
            let numbered = name.len() > 5
                && name.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                && name.as_bytes()[4] == b'_';
            if !numbered {
                return Err(bad("name must look like NNNN_description.sql"));
            }
            let sql = file
                .contents_utf8()
                .ok_or_else(|| bad("file is not UTF-8"))?;
            let description = sql
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("-- "))
                .ok_or_else(|| bad("first line must be `-- <description>`"))?
                .to_owned();
            let destructive = sql.lines().any(|l| l.starts_with("-- destructive:"));
            let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
            let migration = Migration {
                alias,
                name: name.clone(),
                description,
                sql,
                checksum,
                destructive,
            };
            if by_name.insert(name, migration).is_some() {
                return Err(bad(
                    "the same migration name exists in common/ and in a backend folder",
                ));
            }
        }
    }
    Ok(by_name.into_values().collect())
}

/// Applied and pending migrations of one alias.
#[derive(Debug, Clone)]
pub struct AliasStatus {
    pub alias: Alias,
    /// (name, applied_at) for applied ones, in order.
    pub applied: Vec<(String, String)>,
    pub pending: Vec<String>,
}

const HISTORY_DDL: &str = "CREATE TABLE IF NOT EXISTS mnemo_migrations (
    alias TEXT NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (alias, name)
)";

/// The applied migrations of `alias`. Only a migrating run creates the
/// history table (`create`); a status read, which `/readyz` makes on every
/// probe, only reads, so it runs no DDL and needs no privilege to create tables
/// (without the table nothing is applied yet).
async fn history(
    db: &Db,
    alias: Alias,
    create: bool,
) -> Result<BTreeMap<String, (String, String)>, MigrateError> {
    let wrap = |source| MigrateError::History { alias, source };
    let pool = db.pool(alias);
    if create {
        pool.execute(HISTORY_DDL, Args::new()).await.map_err(wrap)?;
    } else {
        let exists: Option<(String,)> = pool
            .fetch_optional(
                pool.dialect().pick(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'mnemo_migrations'",
                    "SELECT CAST(to_regclass('mnemo_migrations') AS TEXT) WHERE to_regclass('mnemo_migrations') IS NOT NULL",
                ),
                Args::new(),
            )
            .await
            .map_err(wrap)?;
        if exists.is_none() {
            return Ok(BTreeMap::new());
        }
    }
    let mut args = Args::new();
    args.push(alias.name());
    let rows: Vec<(String, String, String)> = pool
        .fetch_all(
            "SELECT name, checksum, applied_at FROM mnemo_migrations WHERE alias = $1",
            args,
        )
        .await
        .map_err(wrap)?;
    Ok(rows
        .into_iter()
        .map(|(name, checksum, at)| (name, (checksum, at)))
        .collect())
}

/// Compare the history with the files: every applied migration must still exist unchanged.
fn verify(
    alias: Alias,
    files: &[Migration],
    applied: &BTreeMap<String, (String, String)>,
) -> Result<(), MigrateError> {
    for (name, (checksum, _)) in applied {
        match files.iter().find(|m| &m.name == name) {
            None => {
                return Err(MigrateError::UnknownApplied {
                    alias,
                    name: name.clone(),
                });
            }
            Some(m) if &m.checksum != checksum => {
                return Err(MigrateError::ChecksumMismatch {
                    alias,
                    name: name.clone(),
                    applied: checksum.clone(),
                    current: m.checksum.clone(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Applied and pending migrations of each alias in `aliases`.
pub async fn status(db: &Db, aliases: &[Alias]) -> Result<Vec<AliasStatus>, MigrateError> {
    let mut out = Vec::with_capacity(aliases.len());
    for &alias in aliases {
        let files = migrations_for(db.backend(), alias)?;
        let applied = history(db, alias, false).await?;
        verify(alias, &files, &applied)?;
        let mut status = AliasStatus {
            alias,
            applied: Vec::new(),
            pending: Vec::new(),
        };
        for m in files {
            match applied.get(&m.name) {
                Some((_, at)) => status.applied.push((m.name, at.clone())),
                None => status.pending.push(m.name),
            }
        }
        out.push(status);
    }
    Ok(out)
}

/// Names of pending migrations across every alias, as `alias/name`.
pub async fn pending(db: &Db) -> Result<Vec<String>, MigrateError> {
    Ok(status(db, &Alias::ALL)
        .await?
        .into_iter()
        .flat_map(|s| {
            let alias = s.alias;
            s.pending.into_iter().map(move |n| format!("{alias}/{n}"))
        })
        .collect())
}

fn valid_vault_address(address: &str) -> bool {
    const BASE58_RIPPLE: &str = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz";
    (25..=35).contains(&address.len())
        && address.starts_with('r')
        && address.chars().all(|c| BASE58_RIPPLE.contains(c))
}

fn render(sql: &str, params: &MigrateParams) -> String {
    // The vault address was checked against the base58 alphabet, which has no quote.
    sql.replace("{{vault_address}}", &format!("'{}'", params.vault_address))
        .replace("{{embedding_dim}}", &params.embedding_dim.to_string())
}

/// Apply pending migrations of `aliases` in order, each in its own transaction
/// together with its history row. With `target`, stop after that migration
/// (it must exist). Returns what was applied, as (alias, name).
pub async fn migrate(
    db: &Db,
    aliases: &[Alias],
    params: &MigrateParams,
    target: Option<&str>,
) -> Result<Vec<(Alias, String)>, MigrateError> {
    if !valid_vault_address(&params.vault_address) {
        return Err(MigrateError::BadVaultAddress(params.vault_address.clone()));
    }
    let mut done = Vec::new();
    for &alias in aliases {
        let files = migrations_for(db.backend(), alias)?;
        if let Some(t) = target
            && !files.iter().any(|m| m.name == t)
        {
            return Err(MigrateError::UnknownTarget {
                alias,
                target: t.to_owned(),
            });
        }
        let applied = history(db, alias, true).await?;
        verify(alias, &files, &applied)?;
        for m in files {
            if !applied.contains_key(&m.name) {
                check_blob_dimension(db, &m, params).await?;
                if apply_one(db, &m, params).await? {
                    done.push((alias, m.name.clone()));
                }
            }
            if target == Some(m.name.as_str()) {
                break;
            }
        }
    }
    Ok(done)
}

/// Postgres' pgvector step fills the new `vector({{embedding_dim}})` columns
/// from the f32 blobs of rows stored before it. Blobs of another dimension
/// (written by another provider) make it fail deep inside a SQL function, so
/// they are looked for first and reported with what to do instead. Once the
/// step is applied, the dimension no longer matters to migrations: checksums
/// cover the files as written, not as filled in, and `mnemo reembed` resizes
/// the columns.
async fn check_blob_dimension(
    db: &Db,
    m: &Migration,
    params: &MigrateParams,
) -> Result<(), MigrateError> {
    const TABLES: [&str; 3] = [
        "ai_memory_npcmemory",
        "ai_memory_combatmemory",
        "ai_memory_lorememory",
    ];
    let crate::db::Pool::Postgres(pool) = db.pool(m.alias) else {
        return Ok(());
    };
    if m.alias != Alias::AiMemory || m.name != "0002_pgvector" {
        return Ok(());
    }
    let bytes = i32::try_from(params.embedding_dim * 4).unwrap_or(i32::MAX);
    for table in TABLES {
        let sql = format!(
            "SELECT length(embedding) / 4 FROM {table} WHERE embedding IS NOT NULL AND length(embedding) <> $1 LIMIT 1"
        );
        let found: Option<(i32,)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(bytes)
            .fetch_optional(pool)
            .await
            .map_err(|source| MigrateError::Apply {
                alias: m.alias,
                name: m.name.clone(),
                source,
            })?;
        if let Some((found,)) = found {
            return Err(MigrateError::EmbeddingDimension {
                alias: m.alias,
                name: m.name.clone(),
                table,
                expected: params.embedding_dim,
                found: usize::try_from(found).unwrap_or(0),
            });
        }
    }
    Ok(())
}

/// Apply one migration unless a concurrent migrator got there first. The
/// re-check runs under the write lock (SQLite's `BEGIN IMMEDIATE`, a Postgres
/// advisory lock), so two `mnemo migrate` at once never apply a file twice.
async fn apply_one(db: &Db, m: &Migration, params: &MigrateParams) -> Result<bool, MigrateError> {
    let wrap = |source| MigrateError::Apply {
        alias: m.alias,
        name: m.name.clone(),
        source,
    };
    let sql = render(m.sql, params);
    let pool = db.pool(m.alias);
    let mut tx = pool.begin().await.map_err(wrap)?;
    if pool.dialect().0 == Backend::Postgres {
        // 0x6d6e656d6f = "mnemo": one lock for every migrator of this database.
        // A migration may build an index over a large table: the serving pool's
        // statement timeout is not meant for it.
        tx.raw("SELECT pg_advisory_xact_lock(469853382255); SET LOCAL statement_timeout = 0")
            .await
            .map_err(wrap)?;
    }
    let mut args = Args::new();
    args.push(m.alias.name());
    args.push(m.name.as_str());
    let already: Option<(String,)> = tx
        .fetch_optional(
            "SELECT name FROM mnemo_migrations WHERE alias = $1 AND name = $2",
            args,
        )
        .await
        .map_err(wrap)?;
    if already.is_some() {
        return Ok(false);
    }
    tx.raw(&sql).await.map_err(wrap)?;
    let mut args = Args::new();
    args.push(m.alias.name());
    args.push(m.name.as_str());
    args.push(m.checksum.as_str());
    args.push(Utc::now().to_rfc3339());
    tx.execute(
        "INSERT INTO mnemo_migrations (alias, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        args,
    )
    .await
    .map_err(wrap)?;
    tx.commit().await.map_err(wrap)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_addresses_are_checked() {
        assert!(valid_vault_address(DEFAULT_VAULT_ADDRESS));
        assert!(valid_vault_address("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"));
        assert!(!valid_vault_address("rabc'); DROP TABLE x; --"));
        assert!(!valid_vault_address("xHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"));
        assert!(!valid_vault_address("r0OIl0OIl0OIl0OIl0OIl0OIl"));
    }

    #[test]
    fn placeholders_are_filled() {
        let params = MigrateParams {
            vault_address: DEFAULT_VAULT_ADDRESS.into(),
            embedding_dim: 384,
        };
        assert_eq!(
            render(
                "SELECT {{vault_address}}, vector({{embedding_dim}})",
                &params
            ),
            format!("SELECT '{DEFAULT_VAULT_ADDRESS}', vector(384)")
        );
    }
}
