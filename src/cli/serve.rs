//! `mnemo serve`.

use clap::Args;

use super::{Cli, CliError};
use crate::db::migrate;

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
    crate::http::run(db, &args.bind)
        .await
        .map_err(CliError::from)
}
