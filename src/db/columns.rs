//! Typed column lists of tables copied from another database into mnemo's
//! (`mnemo import original`): what the reader selects from the source, how it
//! turns each value into a [`SqlValue`](super::SqlValue), and which target
//! column receives it. Declared by the domain that owns the target table
//! (`xrpl::import`, `subscriptions::import`, `accounts::import`), read by the
//! one reader of the source.

use super::Alias;
use super::bulk::NaturalKey;

/// How a source column is read and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int,
    Float,
    Text,
    Bool,
    /// A timestamp (naive text in UTC on the original's SQLite, `timestamptz` on its Postgres).
    Time,
    /// JSON (text on SQLite, `jsonb` on Postgres).
    Json,
    /// An exact decimal with this many places (SQLite's numeric affinity may
    /// have stored it as an integer or a float; it is rounded to the scale).
    Decimal(u32),
    /// The id of a row of another source table, translated to the id that row
    /// got here; an id that table never had is kept as it was.
    Ref(&'static str),
    /// A memory's vector: the `embedding` blob of little-endian f32 (SQLite),
    /// `embedding_vector` (Postgres, with the blob where the vector is NULL).
    Vector,
}

/// One column copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The source column; `None` for a column the importing domain fills itself.
    pub source: Option<&'static str>,
    /// The target column.
    pub target: &'static str,
    pub ty: ColType,
}

impl Column {
    /// A column of the same name on both sides.
    pub const fn same(name: &'static str, ty: ColType) -> Self {
        Self {
            source: Some(name),
            target: name,
            ty,
        }
    }

    /// A source column written under another name.
    pub const fn renamed(source: &'static str, target: &'static str, ty: ColType) -> Self {
        Self {
            source: Some(source),
            target,
            ty,
        }
    }

    /// A target column with no source column (filled by the importing domain).
    pub const fn derived(target: &'static str, ty: ColType) -> Self {
        Self {
            source: None,
            target,
            ty,
        }
    }
}

/// A source table and where its rows go.
#[derive(Debug, Clone, Copy)]
pub struct CopySpec {
    /// The table in the source.
    pub source: &'static str,
    /// The table here.
    pub target: &'static str,
    pub alias: Alias,
    pub columns: &'static [Column],
    pub key: Option<NaturalKey>,
    /// Rows keep their source id where it is free (see [`Target::keep_ids`](super::bulk::Target)).
    pub keep_ids: bool,
}

impl CopySpec {
    /// The bulk writer's view of the target.
    pub fn target(&self) -> super::bulk::Target {
        super::bulk::Target {
            table: self.target,
            alias: self.alias,
            columns: self.columns.iter().map(|c| c.target).collect(),
            key: self.key,
            keep_ids: self.keep_ids,
        }
    }

    /// Where `target` sits among the columns (and so in a row's values).
    pub fn index_of(&self, target: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c.target == target)
            .unwrap_or_else(|| panic!("{} has no column {target}", self.target))
    }
}
