//! API tokens (the `default` database, table `accounts_apitoken`).
//!
//! A token is `mnemo_` followed by 32 random bytes in unpadded base64url. Only its
//! SHA-256 (hex) is stored: a leaked database does not leak usable tokens, and a
//! token is shown exactly once, when it is created.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use super::AccountError;
use crate::db::{Alias, Args, Db, is_unique_violation, now_micros};

/// Every token starts with this, so a leaked one is easy to recognise (secret scanners).
pub const TOKEN_PREFIX: &str = "mnemo_";
/// Random bytes per token.
const TOKEN_BYTES: usize = 32;
/// Length of a well-formed token: the prefix plus 43 base64url characters.
const TOKEN_LEN: usize = TOKEN_PREFIX.len() + (TOKEN_BYTES * 4).div_ceil(3);
/// Longest token name (the Postgres column is VARCHAR(100)).
pub const MAX_NAME: usize = 100;
/// Name of the admin token `mnemo serve` creates when no active token exists.
pub const BOOTSTRAP_NAME: &str = "bootstrap-admin";

/// What a token may do. `Admin` implies every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Scope {
    #[serde(rename = "memory:read")]
    MemoryRead,
    #[serde(rename = "memory:write")]
    MemoryWrite,
    /// Economy reads: catalogue, balances, NFTs, logs, snapshots, sessions.
    #[serde(rename = "economy:read")]
    EconomyRead,
    /// Economy writes: credits, debits, transfers, NFT moves, chain moves, telemetry.
    #[serde(rename = "economy:write")]
    EconomyWrite,
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::MemoryRead,
        Scope::MemoryWrite,
        Scope::EconomyRead,
        Scope::EconomyWrite,
        Scope::Admin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::MemoryRead => "memory:read",
            Scope::MemoryWrite => "memory:write",
            Scope::EconomyRead => "economy:read",
            Scope::EconomyWrite => "economy:write",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scope {
    type Err = AccountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.name() == s)
            .ok_or_else(|| AccountError::Invalid {
                field: "scopes",
                message: format!(
                    "unknown scope {s:?}; expected memory:read, memory:write, economy:read, economy:write or admin"
                ),
            })
    }
}

/// Parse a comma-separated scope list (`memory:read,memory:write`). At least one scope.
pub fn parse_scopes(text: &str) -> Result<BTreeSet<Scope>, AccountError> {
    let scopes = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Scope::from_str)
        .collect::<Result<BTreeSet<_>, _>>()?;
    if scopes.is_empty() {
        return Err(AccountError::Invalid {
            field: "scopes",
            message: "at least one scope is required (memory:read, memory:write, economy:read, economy:write, admin)"
                .into(),
        });
    }
    Ok(scopes)
}

fn scopes_text(scopes: &BTreeSet<Scope>) -> String {
    scopes
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// A stored token, without its secret or hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scopes: BTreeSet<Scope>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Whether this token may act with `required` (admin implies everything).
    pub fn allows(&self, required: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&required)
    }

    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    name: String,
    token_hash: String,
    scopes: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TokenRow {
    fn into_token(self) -> ApiToken {
        // A scope this build does not know (written by a newer version) grants
        // nothing here rather than failing every request made with the token.
        let scopes = self
            .scopes
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        ApiToken {
            id: self.id,
            name: self.name,
            scopes,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        }
    }
}

const COLUMNS: &str = "id, name, token_hash, scopes, created_at, revoked_at";

/// SHA-256 of a presented token, lower-case hex: the form stored and looked up.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` has the shape of a mnemo token. Lets callers refuse garbage
/// without a database round trip.
pub fn looks_like_token(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token.starts_with(TOKEN_PREFIX)
        && token[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn generate() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn check_token_name(name: &str) -> Result<(), AccountError> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !ok {
        return Err(AccountError::Invalid {
            field: "name",
            message: format!(
                "must be 1 to {MAX_NAME} characters of letters, digits, '-', '_', '.' or ':'"
            ),
        });
    }
    Ok(())
}

/// Create a token. Returns the stored token and its secret, which is not kept
/// anywhere and cannot be shown again.
pub async fn create_token(
    db: &Db,
    name: &str,
    scopes: &BTreeSet<Scope>,
) -> Result<(ApiToken, String), AccountError> {
    check_token_name(name)?;
    if scopes.is_empty() {
        return Err(AccountError::Invalid {
            field: "scopes",
            message: "at least one scope is required".into(),
        });
    }
    let secret = generate();
    let mut args = Args::new();
    args.push(name);
    args.push(hash_token(&secret));
    args.push(scopes_text(scopes));
    args.push(now_micros());
    let sql = format!(
        "INSERT INTO accounts_apitoken (name, token_hash, scopes, created_at)
         VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    );
    let result: Result<TokenRow, _> = db.pool(Alias::Default).fetch_one(&sql, args).await;
    match result {
        Ok(row) => Ok((row.into_token(), secret)),
        Err(e) if is_unique_violation(&e) => Err(AccountError::Duplicate {
            field: "name",
            value: name.to_owned(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Every token, revoked ones included, oldest first.
pub async fn list_tokens(db: &Db) -> Result<Vec<ApiToken>, AccountError> {
    let sql = format!("SELECT {COLUMNS} FROM accounts_apitoken ORDER BY id");
    let rows: Vec<TokenRow> = db.pool(Alias::Default).fetch_all(&sql, Args::new()).await?;
    Ok(rows.into_iter().map(TokenRow::into_token).collect())
}

/// Revoke the token called `name`. Revoking a revoked token changes nothing and
/// returns it with its original `revoked_at`.
pub async fn revoke_token(db: &Db, name: &str) -> Result<ApiToken, AccountError> {
    let mut args = Args::new();
    args.push(now_micros());
    args.push(name);
    db.pool(Alias::Default)
        .execute(
            "UPDATE accounts_apitoken SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
            args,
        )
        .await?;
    let row = token_where(db, "name", name).await?;
    row.map(TokenRow::into_token)
        .ok_or(AccountError::NotFound("token"))
}

/// The active token whose secret is `presented`, or `None` (unknown, malformed or revoked).
pub async fn verify_token(db: &Db, presented: &str) -> Result<Option<ApiToken>, AccountError> {
    if !looks_like_token(presented) {
        return Ok(None);
    }
    let hash = hash_token(presented);
    let row = token_where(db, "token_hash", &hash).await?;
    // The lookup is by hash, so its timing says nothing about the secret; the
    // constant-time compare guards against an index or collation that matches
    // loosely (case folding, trailing spaces) ever accepting a different hash.
    Ok(row
        .filter(|r| bool::from(r.token_hash.as_bytes().ct_eq(hash.as_bytes())))
        .map(TokenRow::into_token)
        .filter(ApiToken::is_active))
}

/// The token whose `column` (`name` or `token_hash`, both unique) is `value`.
async fn token_where(
    db: &Db,
    column: &'static str,
    value: &str,
) -> Result<Option<TokenRow>, AccountError> {
    let mut args = Args::new();
    args.push(value);
    let sql = format!("SELECT {COLUMNS} FROM accounts_apitoken WHERE {column} = $1");
    Ok(db.pool(Alias::Default).fetch_optional(&sql, args).await?)
}

/// Whether a token exists (`active`: one not revoked).
async fn any_token(db: &Db, active: bool) -> Result<bool, AccountError> {
    let sql = if active {
        "SELECT id FROM accounts_apitoken WHERE revoked_at IS NULL LIMIT 1"
    } else {
        "SELECT id FROM accounts_apitoken LIMIT 1"
    };
    let found: Option<(i64,)> = db
        .pool(Alias::Default)
        .fetch_optional(sql, Args::new())
        .await?;
    Ok(found.is_some())
}

/// Whether any token is active.
pub async fn any_active(db: &Db) -> Result<bool, AccountError> {
    any_token(db, true).await
}

/// On a database that has never had a token, create an `admin` token and
/// return it with its secret, so that a fresh installation can be administered
/// at all. A database whose tokens were all revoked gets none: an admin who
/// revoked them meant it (`mnemo token create` makes a new one from the shell).
pub async fn ensure_bootstrap_admin(db: &Db) -> Result<Option<(ApiToken, String)>, AccountError> {
    if any_token(db, false).await? {
        if !any_active(db).await? {
            tracing::warn!(
                "every API token is revoked: create one with `mnemo token create --name NAME --scopes admin`"
            );
        }
        return Ok(None);
    }
    let admin = BTreeSet::from([Scope::Admin]);
    match create_token(db, BOOTSTRAP_NAME, &admin).await {
        Ok(created) => Ok(Some(created)),
        // Another server starting at the same moment created it.
        Err(AccountError::Duplicate { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(looks_like_token(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(hash_token(&a).len(), 64);
        assert!(!looks_like_token("mnemo_short"));
        assert!(!looks_like_token(&a.replace("mnemo_", "other_")));
    }

    #[test]
    fn scopes_parse_and_admin_implies_all() {
        let scopes = parse_scopes("memory:read, memory:write").unwrap();
        assert_eq!(scopes.len(), 2);
        assert!(parse_scopes("memory:read,root").is_err());
        assert!(parse_scopes(" , ").is_err());
        let token = ApiToken {
            id: 1,
            name: "x".into(),
            scopes: BTreeSet::from([Scope::Admin]),
            created_at: Utc::now(),
            revoked_at: None,
        };
        assert!(Scope::ALL.iter().all(|s| token.allows(*s)));
        let reader = ApiToken {
            scopes: BTreeSet::from([Scope::MemoryRead]),
            ..token
        };
        assert!(reader.allows(Scope::MemoryRead));
        assert!(!reader.allows(Scope::MemoryWrite) && !reader.allows(Scope::Admin));
    }

    #[test]
    fn economy_scopes_parse_and_grant_only_themselves() {
        let scopes = parse_scopes("economy:read,economy:write").unwrap();
        assert_eq!(
            scopes,
            BTreeSet::from([Scope::EconomyRead, Scope::EconomyWrite])
        );
        let reader = ApiToken {
            id: 1,
            name: "game".into(),
            scopes: BTreeSet::from([Scope::EconomyRead]),
            created_at: Utc::now(),
            revoked_at: None,
        };
        assert!(reader.allows(Scope::EconomyRead));
        assert!(!reader.allows(Scope::EconomyWrite));
        assert!(!reader.allows(Scope::MemoryRead) && !reader.allows(Scope::Admin));
    }
}
