//! `mnemo token`: create, list and revoke API tokens.

use clap::{Args, Subcommand};

use super::CliError;
use super::settings::Settings;
use crate::accounts::AccountError;
use crate::accounts::tokens::{self, ApiToken};
use crate::db::{Alias, Db, migrate};

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (it is stored hashed and cannot be shown again).
    Create {
        /// Unique name (letters, digits, '-', '_', '.', ':'), e.g. the client it is for.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: memory:read, memory:write, economy:read, economy:write,
        /// admin (admin implies all).
        #[arg(long)]
        scopes: String,
    },
    /// List tokens (names, scopes, dates; never the secrets).
    List,
    /// Revoke a token by name. Running servers stop accepting it within their
    /// token cache time (MNEMO_AUTH_CACHE_SECONDS, default 5 s).
    Revoke {
        /// Name of the token.
        name: String,
    },
}

pub async fn token(settings: &Settings, args: &TokenArgs) -> Result<(), CliError> {
    let db = settings.open(false).await?;
    let result = run(&db, &args.command).await;
    db.close().await;
    result
}

async fn run(db: &Db, command: &TokenCommand) -> Result<(), CliError> {
    // Tokens live in the default database: refuse to guess on an unmigrated one.
    let status = migrate::status(db, &[Alias::Default]).await?;
    if status.iter().any(|s| !s.pending.is_empty()) {
        return Err(CliError(
            "the default database has pending migrations; run `mnemo migrate` first".into(),
        ));
    }
    match command {
        TokenCommand::Create { name, scopes } => {
            let scopes = tokens::parse_scopes(scopes).map_err(explain)?;
            let (token, secret) = tokens::create_token(db, name, &scopes)
                .await
                .map_err(explain)?;
            eprintln!(
                "Created token {:?} with scopes {}. It is shown once, below; store it now.",
                token.name,
                scopes_list(&token)
            );
            println!("{secret}");
        }
        TokenCommand::List => {
            let all = tokens::list_tokens(db).await.map_err(explain)?;
            if all.is_empty() {
                println!("No tokens.");
            }
            for t in &all {
                let state = match t.revoked_at {
                    Some(at) => format!("revoked {}", at.to_rfc3339()),
                    None => "active".to_owned(),
                };
                println!(
                    "{:<32} {:<36} created {}  {state}",
                    t.name,
                    scopes_list(t),
                    t.created_at.to_rfc3339()
                );
            }
        }
        TokenCommand::Revoke { name } => {
            let t = tokens::revoke_token(db, name).await.map_err(explain)?;
            let at = t.revoked_at.map(|at| at.to_rfc3339()).unwrap_or_default();
            println!("Token {:?} revoked (at {at}).", t.name);
        }
    }
    Ok(())
}

fn scopes_list(t: &ApiToken) -> String {
    t.scopes
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// Messages for an operator at a terminal.
fn explain(e: AccountError) -> CliError {
    CliError(match e {
        AccountError::Invalid { field, message } => format!("invalid --{field}: {message}"),
        AccountError::Duplicate { value, .. } => {
            format!("a token named {value:?} already exists; pick another name or revoke it")
        }
        AccountError::NotFound(_) => "no token with that name (see `mnemo token list`)".into(),
        AccountError::Database(e) => format!("database error: {e}"),
    })
}
