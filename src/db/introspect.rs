//! What tables and columns exist: used by `deploy-migrate`'s census and the
//! backend parity test.

use std::collections::BTreeMap;

use super::{Alias, Args, Db};

/// Table name -> column names (sorted), for the tables an alias owns.
pub type Schema = BTreeMap<String, Vec<String>>;

/// The tables (with their columns) of `alias`, excluding mnemo's own bookkeeping.
pub async fn schema(db: &Db, alias: Alias) -> Result<Schema, sqlx::Error> {
    let pattern = format!("{}%", alias.table_prefix());
    let pool = db.pool(alias);
    let mut args = Args::new();
    let like = args.push(pattern);
    let sql = pool.dialect().pick(
        "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c
         WHERE m.type = 'table' AND m.name LIKE $1",
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name LIKE $1",
    );
    debug_assert_eq!(like, "$1");
    let rows: Vec<(String, String)> = pool.fetch_all(sql, args).await?;
    let mut out = Schema::new();
    for (table, column) in rows {
        out.entry(table).or_default().push(column);
    }
    for columns in out.values_mut() {
        columns.sort();
    }
    Ok(out)
}

/// Number of tables of every alias, the migration history included.
pub async fn count_tables(db: &Db) -> Result<usize, sqlx::Error> {
    let mut total = 0;
    let aliases: &[Alias] = match db.backend() {
        super::Backend::Sqlite => &Alias::ALL,
        // One database: counting per alias would count it four times.
        super::Backend::Postgres => &[Alias::Default],
    };
    for &alias in aliases {
        let pool = db.pool(alias);
        let sql = pool.dialect().pick(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
        );
        let (n,): (i64,) = pool.fetch_one(sql, Args::new()).await?;
        total += usize::try_from(n).unwrap_or(0);
    }
    Ok(total)
}
