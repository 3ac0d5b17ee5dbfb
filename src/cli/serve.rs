//! `mnemo serve`.

use clap::Args;

use super::{Cli, CliError};
use crate::accounts::tokens;
use crate::db::migrate;
use crate::http::{AppState, HttpSettings, STARTUP};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MNEMO_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Apply pending migrations before serving instead of refusing to start.
    #[arg(long)]
    pub migrate: bool,
}

pub async fn serve(cli: &Cli, args: &ServeArgs) -> Result<(), CliError> {
    // Settings first: a typo in a variable should stop us before any database work.
    let settings = HttpSettings {
        bind: args.bind.clone(),
        ..HttpSettings::from_env().map_err(CliError)?
    };
    let db = cli.open().await?;
    if args.migrate {
        migrate::migrate(&db, &crate::db::Alias::ALL, &cli.migrate_params(), None).await?;
    }
    let pending = migrate::pending(&db).await?;
    if !pending.is_empty() {
        return Err(CliError(format!(
            "{} pending migration(s): {}; run `mnemo migrate` or start with `mnemo serve --migrate`",
            pending.len(),
            pending.join(", ")
        )));
    }
    // A fresh installation has no token at all, so nobody could create one over
    // the API: make an admin token and show it once, on stdout (logs go to stderr).
    if let Some((token, secret)) = tokens::ensure_bootstrap_admin(&db).await? {
        println!(
            "No active API token existed: created admin token {:?}. It is shown once; store it now:\n{secret}",
            token.name
        );
    }
    let state = AppState::new(db);
    state.readiness.release(STARTUP);
    crate::http::run(state, settings)
        .await
        .map_err(CliError::from)
}
