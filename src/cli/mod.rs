//! The `mnemo` command line: settings from flags and environment, one module per command.

mod demo;
mod embedding;
mod import;
mod index;
mod kind_arg;
mod lore;
mod migrate;
mod model;
mod reembed;
mod serve;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::DatabaseTarget;
use crate::db::migrate::{DEFAULT_VAULT_ADDRESS, MigrateParams};
use crate::db::{Alias, Db, DbSettings};

/// mnemo: vector memory for game NPCs.
#[derive(Debug, Parser)]
#[command(name = "mnemo", version, about)]
pub struct Cli {
    /// Postgres URL (postgres:// or postgresql://). Unset: SQLite files in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory of the SQLite files (used when DATABASE_URL is unset).
    #[arg(long, env = "MNEMO_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Postgres: how long (ms) a request waits for a database connection before
    /// answering 503 database_unavailable.
    #[arg(
        long,
        env = "MNEMO_DB_ACQUIRE_TIMEOUT_MS",
        default_value_t = 2000,
        global = true
    )]
    pub db_acquire_timeout_ms: u64,

    /// Postgres, `mnemo serve`: statement_timeout (ms) of the service's connections, so a
    /// slow query cannot hold a pool slot after its request timed out (0: none).
    #[arg(
        long,
        env = "MNEMO_DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 15_000,
        global = true
    )]
    pub db_statement_timeout_ms: u64,

    /// Vault wallet that owns the seeded RESERVE balances (read at migrate time).
    #[arg(long, env = "MNEMO_XRPL_VAULT_ADDRESS", default_value = DEFAULT_VAULT_ADDRESS, global = true)]
    pub vault_address: String,

    #[command(flatten)]
    pub embedding: embedding::EmbeddingArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations (all aliases, or one with --database).
    Migrate(migrate::MigrateArgs),
    /// Deployment migration for Postgres: probe, ensure pgvector, census, migrate everything.
    DeployMigrate,
    /// Run the HTTP service.
    Serve(serve::ServeArgs),
    /// Embed pending memories, or re-embed those written with another model.
    Reembed(reembed::ReembedArgs),
    /// Manage API tokens: create, list, revoke.
    Token(token::TokenArgs),
    /// The local embedding model (provider `minilm`): fetch, status.
    Model(model::ModelArgs),
    /// Demo data: `demo load` fills the databases with a small game world.
    Demo(demo::DemoArgs),
    /// Lore files: import a directory of them.
    Lore(lore::LoreArgs),
    /// The Postgres HNSW indexes: status, build, drop (around a bulk import).
    Index(index::IndexArgs),
    /// Bring another system's data in: `import original`, the original game's databases.
    Import(import::ImportArgs),
}

/// A command's failure: printed on stderr, exit status 1.
#[derive(Debug)]
pub struct CliError(pub String);

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(err: E) -> Self {
        CliError(err.to_string())
    }
}

impl Cli {
    fn target(&self) -> Result<DatabaseTarget, CliError> {
        Ok(DatabaseTarget::from_env_values(
            self.database_url.as_deref(),
            self.data_dir.clone(),
        )?)
    }

    /// Migration parameters; the vector columns take the configured provider's dimension.
    fn migrate_params(&self) -> MigrateParams {
        let defaults = MigrateParams::default();
        MigrateParams {
            vault_address: self.vault_address.clone(),
            embedding_dim: self.embedding.dimension().unwrap_or(defaults.embedding_dim),
        }
    }

    /// The databases, as a command uses them: no statement timeout (commands build
    /// indexes and rewrite whole tables).
    async fn open(&self) -> Result<Db, CliError> {
        Ok(Db::open_with(&self.target()?, &self.db_settings(false)?).await?)
    }

    /// Pool settings; `serving` adds the statement timeout of `mnemo serve`.
    fn db_settings(&self, serving: bool) -> Result<DbSettings, CliError> {
        if self.db_acquire_timeout_ms == 0 {
            return Err(CliError(
                "MNEMO_DB_ACQUIRE_TIMEOUT_MS must be above 0".into(),
            ));
        }
        Ok(DbSettings {
            acquire_timeout: Duration::from_millis(self.db_acquire_timeout_ms),
            statement_timeout: (serving && self.db_statement_timeout_ms > 0)
                .then(|| Duration::from_millis(self.db_statement_timeout_ms)),
            ..DbSettings::default()
        })
    }
}

/// Run the parsed command line; the binary maps the result to an exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Migrate(args) => migrate::migrate(&cli, args).await,
        Command::DeployMigrate => migrate::deploy_migrate(&cli).await,
        Command::Serve(args) => serve::serve(&cli, args).await,
        Command::Reembed(args) => reembed::reembed(&cli, args).await,
        Command::Token(args) => token::token(&cli, args).await,
        Command::Model(args) => model::model(&cli, args).await,
        Command::Demo(args) => demo::demo(&cli, args).await,
        Command::Lore(args) => lore::lore(&cli, args).await,
        Command::Index(args) => index::index(&cli, args).await,
        Command::Import(args) => import::import(&cli, args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_alias(s: &str) -> Result<Alias, String> {
    s.parse()
}
