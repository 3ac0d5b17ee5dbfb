//! Accounts and their characters (the `default` database). Memories and payments
//! refer to them by id or key; there are no foreign keys across databases.

pub mod import;
pub mod tokens;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::{Alias, Db, is_unique_violation, now_micros};
use crate::with_pool;

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

fn page<T>(items: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> Page<T> {
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

pub async fn create_account(db: &Db, new: &NewAccount) -> Result<Account, AccountError> {
    check_name("username", &new.username, 150)?;
    let result = with_pool!(db.pool(Alias::Default), |p| {
        sqlx::query_as::<_, Account>(
            "INSERT INTO accounts_account (username, email, wallet_address, is_superuser, is_active, created_at)
             VALUES ($1, $2, $3, $4, TRUE, $5)
             RETURNING id, username, email, wallet_address, is_superuser, is_active, created_at",
        )
        .bind(&new.username)
        .bind(&new.email)
        .bind(&new.wallet_address)
        .bind(new.is_superuser)
        .bind(now_micros())
        .fetch_one(p)
        .await
    });
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
    let row = with_pool!(db.pool(Alias::Default), |p| {
        sqlx::query_as::<_, Account>(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts_account WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(p)
        .await?
    });
    row.ok_or(AccountError::NotFound("account"))
}

/// Accounts with id greater than `after`, at most `limit`.
pub async fn list_accounts(db: &Db, after: i64, limit: i64) -> Result<Page<Account>, AccountError> {
    let limit = clamp_limit(limit)?;
    let rows = with_pool!(db.pool(Alias::Default), |p| {
        sqlx::query_as::<_, Account>(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts_account WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after)
        .bind(limit)
        .fetch_all(p)
        .await?
    });
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
    let result = with_pool!(db.pool(Alias::Default), |p| {
        sqlx::query_as::<_, Account>(
            "UPDATE accounts_account SET username = $1, email = $2, wallet_address = $3, is_superuser = $4, is_active = $5
             WHERE id = $6
             RETURNING id, username, email, wallet_address, is_superuser, is_active, created_at",
        )
        .bind(&username)
        .bind(update.email.clone().unwrap_or(current.email))
        .bind(&wallet)
        .bind(update.is_superuser.unwrap_or(current.is_superuser))
        .bind(update.is_active.unwrap_or(current.is_active))
        .bind(id)
        .fetch_optional(p)
        .await
    });
    result
        .map_err(|e| duplicate_or(e, "username", &username))?
        .ok_or(AccountError::NotFound("account"))
}

/// Delete an account and (by cascade) its characters.
pub async fn delete_account(db: &Db, id: i64) -> Result<(), AccountError> {
    let done = with_pool!(db.pool(Alias::Default), |p| {
        sqlx::query("DELETE FROM accounts_account WHERE id = $1")
            .bind(id)
            .execute(p)
            .await?
            .rows_affected()
    });
    if done == 0 {
        return Err(AccountError::NotFound("account"));
    }
    Ok(())
}

pub async fn create_character(
    db: &Db,
    account_id: i64,
    key: &str,
) -> Result<Character, AccountError> {
    check_name("key", key, 80)?;
    get_account(db, account_id).await?;
    let result = with_pool!(db.pool(Alias::Default), |p| {
        sqlx::query_as::<_, Character>(
            "INSERT INTO accounts_character (account_id, key, created_at) VALUES ($1, $2, $3)
             RETURNING id, account_id, key, created_at",
        )
        .bind(account_id)
        .bind(key)
        .bind(now_micros())
        .fetch_one(p)
        .await
    });
    result.map_err(|e| duplicate_or(e, "key", key))
}

pub async fn get_character(db: &Db, id: i64) -> Result<Character, AccountError> {
    let row = with_pool!(db.pool(Alias::Default), |p| {
        sqlx::query_as::<_, Character>(
            "SELECT id, account_id, key, created_at FROM accounts_character WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(p)
        .await?
    });
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
    let rows = with_pool!(db.pool(Alias::Default), |p| {
        sqlx::query_as::<_, Character>(
            "SELECT id, account_id, key, created_at FROM accounts_character
             WHERE id > $1 AND ($2 IS NULL OR account_id = $2) ORDER BY id LIMIT $3",
        )
        .bind(after)
        .bind(account_id)
        .bind(limit)
        .fetch_all(p)
        .await?
    });
    Ok(page(rows, limit, |c| c.id))
}

/// Rename a character (its key).
pub async fn rename_character(db: &Db, id: i64, key: &str) -> Result<Character, AccountError> {
    check_name("key", key, 80)?;
    let result = with_pool!(db.pool(Alias::Default), |p| {
        sqlx::query_as::<_, Character>(
            "UPDATE accounts_character SET key = $1 WHERE id = $2 RETURNING id, account_id, key, created_at",
        )
        .bind(key)
        .bind(id)
        .fetch_optional(p)
        .await
    });
    result
        .map_err(|e| duplicate_or(e, "key", key))?
        .ok_or(AccountError::NotFound("character"))
}

pub async fn delete_character(db: &Db, id: i64) -> Result<(), AccountError> {
    let done = with_pool!(db.pool(Alias::Default), |p| {
        sqlx::query("DELETE FROM accounts_character WHERE id = $1")
            .bind(id)
            .execute(p)
            .await?
            .rows_affected()
    });
    if done == 0 {
        return Err(AccountError::NotFound("character"));
    }
    Ok(())
}
