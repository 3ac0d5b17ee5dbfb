//! Accounts and their characters (the `default` database). Memories and payments
//! refer to them by id or key; there are no foreign keys across databases.

pub mod import;
pub mod tokens;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::{Alias, Args, Db, is_unique_violation, now_micros};

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub wallet_address: Option<String>,
    pub is_superuser: bool,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

/// Fields of a new account.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewAccount {
    pub username: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub wallet_address: Option<String>,
    #[serde(default)]
    pub is_superuser: bool,
}

/// A partial update: absent fields keep their value; `wallet_address: Some(None)` clears it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccountUpdate {
    pub username: Option<String>,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub wallet_address: Option<Option<String>>,
    pub is_superuser: Option<bool>,
    pub is_active: Option<bool>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Character {
    pub id: i64,
    pub account_id: i64,
    pub key: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{field} {value:?} is already taken")]
    Duplicate { field: &'static str, value: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// One page of a listing, ordered by id; pass `next_after` back to get the next page.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<i64>,
}

/// Largest page a listing returns.
pub const MAX_PAGE: i64 = 500;

fn check_name(field: &'static str, value: &str, max: usize) -> Result<(), AccountError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(AccountError::Invalid {
            field,
            message: format!("must be 1 to {max} characters"),
        });
    }
    // SQLite's length() stops at a NUL and Postgres text cannot hold one.
    if value.contains('\0') {
        return Err(AccountError::Invalid {
            field,
            message: "must not contain NUL characters".into(),
        });
    }
    Ok(())
}

/// The page of `items` read with `limit`: `next_after` is the last item's id
/// when the page is full (there may be more), `None` when it is not.
pub fn page<T>(items: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> Page<T> {
    let next_after = if items.len() as i64 == limit {
        items.last().map(id)
    } else {
        None
    };
    Page { items, next_after }
}

fn clamp_limit(limit: i64) -> Result<i64, AccountError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AccountError::Invalid {
            field: "limit",
            message: format!("must be between 1 and {MAX_PAGE}"),
        });
    }
    Ok(limit)
}

const ACCOUNT_COLUMNS: &str =
    "id, username, email, wallet_address, is_superuser, is_active, created_at";

const CHARACTER_COLUMNS: &str = "id, account_id, key, created_at";

pub async fn create_account(db: &Db, new: &NewAccount) -> Result<Account, AccountError> {
    check_name("username", &new.username, 150)?;
    let mut args = Args::new();
    args.push(new.username.as_str());
    args.push(new.email.as_str());
    args.push(new.wallet_address.clone());
    args.push(new.is_superuser);
    args.push(now_micros());
    let sql = format!(
        "INSERT INTO accounts_account (username, email, wallet_address, is_superuser, is_active, created_at)
         VALUES ($1, $2, $3, $4, TRUE, $5)
         RETURNING {ACCOUNT_COLUMNS}"
    );
    let result = db.pool(Alias::Default).fetch_one(&sql, args).await;
    result.map_err(|e| duplicate_or(e, "username", &new.username))
}

fn duplicate_or(e: sqlx::Error, field: &'static str, value: &str) -> AccountError {
    if is_unique_violation(&e) {
        AccountError::Duplicate {
            field,
            value: value.to_owned(),
        }
    } else {
        AccountError::Database(e)
    }
}

pub async fn get_account(db: &Db, id: i64) -> Result<Account, AccountError> {
    let mut args = Args::new();
    args.push(id);
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts_account WHERE id = $1");
    let row: Option<Account> = db.pool(Alias::Default).fetch_optional(&sql, args).await?;
    row.ok_or(AccountError::NotFound("account"))
}

/// Accounts with id greater than `after`, at most `limit`.
pub async fn list_accounts(db: &Db, after: i64, limit: i64) -> Result<Page<Account>, AccountError> {
    let limit = clamp_limit(limit)?;
    let mut args = Args::new();
    args.push(after);
    args.push(limit);
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts_account WHERE id > $1 ORDER BY id LIMIT $2"
    );
    let rows: Vec<Account> = db.pool(Alias::Default).fetch_all(&sql, args).await?;
    Ok(page(rows, limit, |a| a.id))
}

pub async fn update_account(
    db: &Db,
    id: i64,
    update: &AccountUpdate,
) -> Result<Account, AccountError> {
    let current = get_account(db, id).await?;
    let username = update.username.clone().unwrap_or(current.username);
    check_name("username", &username, 150)?;
    let wallet = update
        .wallet_address
        .clone()
        .unwrap_or(current.wallet_address);
    let mut args = Args::new();
    args.push(username.as_str());
    args.push(update.email.clone().unwrap_or(current.email));
    args.push(wallet);
    args.push(update.is_superuser.unwrap_or(current.is_superuser));
    args.push(update.is_active.unwrap_or(current.is_active));
    args.push(id);
    let sql = format!(
        "UPDATE accounts_account SET username = $1, email = $2, wallet_address = $3, is_superuser = $4, is_active = $5
         WHERE id = $6
         RETURNING {ACCOUNT_COLUMNS}"
    );
    let result: Result<Option<Account>, _> =
        db.pool(Alias::Default).fetch_optional(&sql, args).await;
    result
        .map_err(|e| duplicate_or(e, "username", &username))?
        .ok_or(AccountError::NotFound("account"))
}

/// Delete an account and (by cascade) its characters.
pub async fn delete_account(db: &Db, id: i64) -> Result<(), AccountError> {
    delete_by_id(db, "accounts_account", id, "account").await
}

pub async fn create_character(
    db: &Db,
    account_id: i64,
    key: &str,
) -> Result<Character, AccountError> {
    check_name("key", key, 80)?;
    get_account(db, account_id).await?;
    let mut args = Args::new();
    args.push(account_id);
    args.push(key);
    args.push(now_micros());
    let sql = format!(
        "INSERT INTO accounts_character (account_id, key, created_at) VALUES ($1, $2, $3)
         RETURNING {CHARACTER_COLUMNS}"
    );
    let result = db.pool(Alias::Default).fetch_one(&sql, args).await;
    result.map_err(|e| duplicate_or(e, "key", key))
}

pub async fn get_character(db: &Db, id: i64) -> Result<Character, AccountError> {
    let mut args = Args::new();
    args.push(id);
    let sql = format!("SELECT {CHARACTER_COLUMNS} FROM accounts_character WHERE id = $1");
    let row: Option<Character> = db.pool(Alias::Default).fetch_optional(&sql, args).await?;
    row.ok_or(AccountError::NotFound("character"))
}

/// Characters (of one account, or all), id greater than `after`, at most `limit`.
pub async fn list_characters(
    db: &Db,
    account_id: Option<i64>,
    after: i64,
    limit: i64,
) -> Result<Page<Character>, AccountError> {
    let limit = clamp_limit(limit)?;
    let mut args = Args::new();
    args.push(after);
    args.push(account_id);
    args.push(limit);
    let sql = format!(
        "SELECT {CHARACTER_COLUMNS} FROM accounts_character
         WHERE id > $1 AND ($2 IS NULL OR account_id = $2) ORDER BY id LIMIT $3"
    );
    let rows: Vec<Character> = db.pool(Alias::Default).fetch_all(&sql, args).await?;
    Ok(page(rows, limit, |c| c.id))
}

/// Rename a character (its key).
pub async fn rename_character(db: &Db, id: i64, key: &str) -> Result<Character, AccountError> {
    check_name("key", key, 80)?;
    let mut args = Args::new();
    args.push(key);
    args.push(id);
    let sql = format!(
        "UPDATE accounts_character SET key = $1 WHERE id = $2 RETURNING {CHARACTER_COLUMNS}"
    );
    let result: Result<Option<Character>, _> =
        db.pool(Alias::Default).fetch_optional(&sql, args).await;
    result
        .map_err(|e| duplicate_or(e, "key", key))?
        .ok_or(AccountError::NotFound("character"))
}

pub async fn delete_character(db: &Db, id: i64) -> Result<(), AccountError> {
    delete_by_id(db, "accounts_character", id, "character").await
}

/// Delete the row of `table` with this id; [`AccountError::NotFound`] naming
/// `noun` when there is none.
async fn delete_by_id(
    db: &Db,
    table: &'static str,
    id: i64,
    noun: &'static str,
) -> Result<(), AccountError> {
    let mut args = Args::new();
    args.push(id);
    let sql = format!("DELETE FROM {table} WHERE id = $1");
    match db.pool(Alias::Default).execute(&sql, args).await? {
        0 => Err(AccountError::NotFound(noun)),
        _ => Ok(()),
    }
}
