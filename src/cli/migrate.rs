//! `mnemo migrate` and `mnemo deploy-migrate`.

use clap::Args;

use super::settings::Settings;
use super::{CliError, parse_alias};
use crate::config::DatabaseTarget;
use crate::db::migrate::{self, AliasStatus};
use crate::db::{Alias, Db, introspect};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Only this alias: default, xrpl, ai_memory or subscriptions.
    #[arg(long, value_parser = parse_alias)]
    pub database: Option<Alias>,
    /// Show applied and pending migrations instead of applying them.
    #[arg(long, visible_alias = "showmigrations")]
    pub list: bool,
    /// Stop after this migration (e.g. 0001_initial); needs --database.
    #[arg(long, requires = "database")]
    pub to: Option<String>,
}

pub async fn migrate(settings: &Settings, args: &MigrateArgs) -> Result<(), CliError> {
    let db = settings.open(false).await?;
    let aliases: Vec<Alias> = match args.database {
        Some(alias) => vec![alias],
        None => Alias::ALL.to_vec(),
    };
    println!("Backend: {}", db.describe());
    if args.list {
        print_status(&migrate::status(&db, &aliases).await?);
        return Ok(());
    }
    apply(&db, &aliases, settings, args.to.as_deref()).await
}

async fn apply(
    db: &Db,
    aliases: &[Alias],
    settings: &Settings,
    to: Option<&str>,
) -> Result<(), CliError> {
    let applied = migrate::migrate(db, aliases, &settings.migrate_params(), to).await?;
    if applied.is_empty() {
        println!("No migrations to apply.");
    }
    for (alias, name) in &applied {
        println!("  Applied {alias}/{name}");
    }
    Ok(())
}

fn print_status(statuses: &[AliasStatus]) {
    for status in statuses {
        println!("{}", status.alias);
        for (name, at) in &status.applied {
            println!("  [X] {name}  (applied {at})");
        }
        for name in &status.pending {
            println!("  [ ] {name}");
        }
    }
}

/// The deployment path of the original `deploy_migrate.py`, for Postgres.
pub async fn deploy_migrate(settings: &Settings) -> Result<(), CliError> {
    let target = settings.database.clone();
    println!("Backend: {}", target.describe());
    if !matches!(target, DatabaseTarget::Postgres { .. }) {
        return Err(CliError(
            "deploy-migrate needs DATABASE_URL set to a postgres:// URL; for SQLite use `mnemo migrate`"
                .into(),
        ));
    }
    let db = Db::open(&target).await?;
    println!("Connection: ok");
    ensure_vector_extension(&db).await?;
    println!("pgvector extension: ok");
    let before = introspect::count_tables(&db).await?;
    println!("Tables before: {before}");
    apply(&db, &Alias::ALL, settings, None).await?;
    let after = introspect::count_tables(&db).await?;
    println!("Tables after: {after}");
    if after == 0 {
        return Err(CliError("no tables exist after migrating".into()));
    }
    Ok(())
}

async fn ensure_vector_extension(db: &Db) -> Result<(), CliError> {
    let crate::db::Pool::Postgres(pool) = db.pool(Alias::AiMemory) else {
        return Ok(());
    };
    sqlx::query("CREATE EXTENSION IF NOT EXISTS vector")
        .execute(pool)
        .await
        .map_err(|e| CliError(format!("cannot create the pgvector extension: {e}")))?;
    Ok(())
}
