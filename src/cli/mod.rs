//! The `mnemo` command line: one module per command, and the settings every
//! command reads ([`settings`]: the environment, with flags taking precedence).

mod demo;
mod economy;
mod import;
mod index;
mod kind_arg;
mod lore;
mod migrate;
mod model;
mod reembed;
mod serve;
pub mod settings;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::db::migrate::MigrateParams;
use crate::db::{Alias, Db};
use crate::embed::{self, CachedEmbedder};
use settings::{Settings, vars};

/// mnemo: vector memory for game NPCs.
#[derive(Debug, Parser)]
#[command(name = "mnemo", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub flags: GlobalFlags,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes; each is the environment variable it names,
/// given on the command line instead (the flag wins).
#[derive(Debug, Default, Args)]
pub struct GlobalFlags {
    /// DATABASE_URL: Postgres URL (postgres:// or postgresql://). Unset: SQLite files.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// MNEMO_DATA_DIR: directory of the SQLite files (default ./data).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// MNEMO_XRPL_VAULT_ADDRESS: the vault wallet owning the seeded RESERVE balances.
    #[arg(long, global = true)]
    pub vault_address: Option<String>,
    /// MNEMO_EMBEDDING_PROVIDER: `hash` (offline, lexical), `openai`, or `minilm` (local model).
    #[arg(long, global = true)]
    pub embedding_provider: Option<String>,
    /// OPENAI_API_KEY: key of the `openai` provider.
    #[arg(long, global = true)]
    pub openai_api_key: Option<String>,
    /// OPENAI_BASE_URL: base URL of an OpenAI-compatible server.
    #[arg(long, global = true)]
    pub openai_base_url: Option<String>,
    /// MNEMO_MODEL_DIR: directory of the local model files (provider `minilm`).
    #[arg(long, global = true)]
    pub model_dir: Option<PathBuf>,
}

impl GlobalFlags {
    /// The flags given, as (variable, value).
    fn given(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        [
            (vars::DATABASE_URL, self.database_url.clone()),
            (vars::MNEMO_DATA_DIR, path(&self.data_dir)),
            (vars::MNEMO_XRPL_VAULT_ADDRESS, self.vault_address.clone()),
            (
                vars::MNEMO_EMBEDDING_PROVIDER,
                self.embedding_provider.clone(),
            ),
            (vars::OPENAI_API_KEY, self.openai_api_key.clone()),
            (vars::OPENAI_BASE_URL, self.openai_base_url.clone()),
            (vars::MNEMO_MODEL_DIR, path(&self.model_dir)),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
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
    /// The economy: hourly snapshot, a wallet's balances, the conservation audit.
    Economy(economy::EconomyArgs),
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
    /// The settings: this command's flags, then the environment.
    pub fn settings(&self) -> Result<Settings, CliError> {
        let mut flags = self.flags.given();
        if let Command::Serve(args) = &self.command {
            flags.extend(args.given());
        }
        Ok(Settings::from_lookup(|name| {
            flags
                .iter()
                .find(|(flag, _)| *flag == name)
                .map(|(_, value)| value.clone())
                .or_else(|| std::env::var(name).ok())
        })?)
    }
}

impl Settings {
    /// The databases as a command uses them (no statement timeout), or as
    /// `mnemo serve` does (`serving`).
    async fn open(&self, serving: bool) -> Result<Db, CliError> {
        Ok(Db::open_with(&self.database, &self.pool_for(serving)).await?)
    }

    /// Migration parameters; the vector columns take the configured provider's dimension.
    fn migrate_params(&self) -> MigrateParams {
        let defaults = MigrateParams::default();
        let dim = embed::dimension_of(&self.embedding.provider, &self.embedding.provider_settings);
        MigrateParams {
            vault_address: self.vault_address.clone(),
            embedding_dim: dim.unwrap_or(defaults.embedding_dim),
        }
    }

    /// The configured provider behind the query cache, the request budget and the breaker.
    fn embedder(&self) -> Result<Arc<CachedEmbedder>, embed::EmbedError> {
        let e = &self.embedding;
        let provider = embed::build(&e.provider, &e.provider_settings)?;
        Ok(Arc::new(
            CachedEmbedder::new(provider, e.query_cache).with_guard(e.guard),
        ))
    }
}

/// Run the parsed command line; the binary maps the result to an exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.settings() {
        Ok(settings) => dispatch(&settings, &cli.command).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(settings: &Settings, command: &Command) -> Result<(), CliError> {
    match command {
        Command::Migrate(args) => migrate::migrate(settings, args).await,
        Command::DeployMigrate => migrate::deploy_migrate(settings).await,
        Command::Serve(args) => serve::serve(settings, args).await,
        Command::Reembed(args) => reembed::reembed(settings, args).await,
        Command::Token(args) => token::token(settings, args).await,
        Command::Model(args) => model::model(settings, args).await,
        Command::Demo(args) => demo::demo(settings, args).await,
        Command::Lore(args) => lore::lore(settings, args).await,
        Command::Index(args) => index::index(settings, args).await,
        Command::Economy(args) => economy::economy(settings, args).await,
        Command::Import(args) => import::import(settings, args).await,
    }
}

fn parse_alias(s: &str) -> Result<Alias, String> {
    s.parse()
}
