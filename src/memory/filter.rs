//! A kind's search filter, written once as data and read by both engines: as
//! a `WHERE` fragment by Postgres ([`Filter::sql`]) and as a predicate over the
//! rows the in-memory engine keeps ([`Filter::compile`]). The conformance
//! tests run the same filters on both and compare ids and scores.

use std::sync::Arc;

use super::error::MemoryError;
use super::kind::{KindSpec, MetaType};
use crate::db::{Args, Dialect, SqlValue};

/// The in-memory copy of a row's filterable columns (the kind's
/// [`KindSpec::meta`], in that order), its creation and expiry times.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaRow {
    /// Unix microseconds.
    pub created_at: i64,
    /// Unix microseconds; `i64::MAX` for a memory that never expires.
    pub expires_at: i64,
    pub values: Box<[MetaValue]>,
}

impl Default for MetaRow {
    fn default() -> Self {
        Self {
            created_at: 0,
            expires_at: i64::MAX,
            values: Box::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Int(i64),
    Text(Arc<str>),
    Tags(Arc<[String]>),
}

/// One condition on a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `column = value`.
    Eq(&'static str, SqlValue),
    /// `column >= value`.
    AtLeast(&'static str, SqlValue),
    /// `column <= value`.
    AtMost(&'static str, SqlValue),
    /// `column < value`.
    Below(&'static str, SqlValue),
    /// Every tag in the JSON list `column` is one of these (lore's access rule).
    TagsWithin(&'static str, Vec<String>),
    /// The row's id is none of these.
    NotIds(Vec<i64>),
    /// The row has not expired at this time (`expires_at` is null or later).
    Unexpired(SqlValue),
}

/// Conditions that must all hold; empty matches every row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter(Vec<Cond>);

impl Filter {
    pub fn all() -> Self {
        Self::default()
    }

    /// Add a condition.
    pub fn and(mut self, cond: Cond) -> Self {
        self.0.push(cond);
        self
    }

    /// Add a condition when there is one.
    pub fn and_some(self, cond: Option<Cond>) -> Self {
        match cond {
            Some(c) => self.and(c),
            None => self,
        }
    }

    /// The filter as SQL (`TRUE` when empty), its values pushed onto `args`.
    pub fn sql(&self, dialect: Dialect, args: &mut Args) -> String {
        if self.0.is_empty() {
            return "TRUE".into();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|cond| match cond {
                Cond::Eq(c, v) => format!("{c} = {}", args.push(v.clone())),
                Cond::AtLeast(c, v) => format!("{c} >= {}", args.push(v.clone())),
                Cond::AtMost(c, v) => format!("{c} <= {}", args.push(v.clone())),
                Cond::Below(c, v) => format!("{c} < {}", args.push(v.clone())),
                Cond::TagsWithin(c, tags) => {
                    let param = args.push(serde_json::json!(tags));
                    dialect.json_subset(c, &param)
                }
                Cond::NotIds(ids) if ids.is_empty() => "TRUE".into(),
                Cond::NotIds(ids) => {
                    let param = args.push(SqlValue::Ints(ids.clone()));
                    format!("NOT ({})", dialect.in_list("id", &param))
                }
                Cond::Unexpired(at) => {
                    format!(
                        "(expires_at IS NULL OR expires_at > {})",
                        args.push(at.clone())
                    )
                }
            })
            .collect();
        parts.join(" AND ")
    }

    /// The filter as a predicate over `spec`'s in-memory rows. A condition on a
    /// column the kind does not keep in memory is a programming error, reported
    /// as such rather than matching nothing.
    pub fn compile(&self, spec: &KindSpec) -> Result<Predicate, MemoryError> {
        self.0
            .iter()
            .map(|cond| Test::compile(cond, spec))
            .collect::<Result<Vec<_>, _>>()
            .map(Predicate)
    }
}

/// A compiled filter: cheap to evaluate once per scanned row.
#[derive(Debug, Clone, Default)]
pub struct Predicate(Vec<Test>);

impl Predicate {
    pub fn matches(&self, id: i64, row: &MetaRow) -> bool {
        self.0.iter().all(|t| t.holds(id, row))
    }
}

#[derive(Debug, Clone)]
enum Test {
    IntEq(usize, i64),
    IntAtLeast(usize, i64),
    IntAtMost(usize, i64),
    TextEq(usize, String),
    CreatedAtLeast(i64),
    CreatedBelow(i64),
    TagsWithin(usize, Vec<String>),
    NotIds(Vec<i64>),
    Unexpired(i64),
}

impl Test {
    fn compile(cond: &Cond, spec: &KindSpec) -> Result<Self, MemoryError> {
        let column = |name: &str| {
            spec.meta
                .iter()
                .position(|m| m.name == name)
                .map(|i| (i, spec.meta[i].ty))
                .ok_or_else(|| MemoryError::Unfilterable {
                    kind: spec.name,
                    column: name.to_owned(),
                })
        };
        let micros = |column: &str, v: &SqlValue| match v {
            SqlValue::Time(Some(t)) => Ok(t.timestamp_micros()),
            other => Err(MemoryError::Unfilterable {
                kind: spec.name,
                column: format!("{column} compared with {other:?}"),
            }),
        };
        let created = |v: &SqlValue| micros("created_at", v);
        let int = |v: &SqlValue| match v {
            SqlValue::Int(Some(i)) => Some(*i),
            SqlValue::Int32(Some(i)) => Some(i64::from(*i)),
            _ => None,
        };
        let unsupported = |c: &str| MemoryError::Unfilterable {
            kind: spec.name,
            column: c.to_owned(),
        };
        Ok(match cond {
            Cond::AtLeast("created_at", v) => Test::CreatedAtLeast(created(v)?),
            Cond::Below("created_at", v) => Test::CreatedBelow(created(v)?),
            Cond::Eq(c, v) => match (column(c)?, v) {
                ((i, MetaType::Text), SqlValue::Text(Some(s))) => Test::TextEq(i, s.clone()),
                ((i, MetaType::Int), v) => Test::IntEq(i, int(v).ok_or_else(|| unsupported(c))?),
                _ => return Err(unsupported(c)),
            },
            Cond::AtLeast(c, v) => match column(c)? {
                (i, MetaType::Int) => Test::IntAtLeast(i, int(v).ok_or_else(|| unsupported(c))?),
                _ => return Err(unsupported(c)),
            },
            Cond::AtMost(c, v) => match column(c)? {
                (i, MetaType::Int) => Test::IntAtMost(i, int(v).ok_or_else(|| unsupported(c))?),
                _ => return Err(unsupported(c)),
            },
            Cond::Below(c, _) => return Err(unsupported(c)),
            Cond::TagsWithin(c, tags) => match column(c)? {
                (i, MetaType::Tags) => Test::TagsWithin(i, tags.clone()),
                _ => return Err(unsupported(c)),
            },
            Cond::NotIds(ids) => Test::NotIds(ids.clone()),
            Cond::Unexpired(v) => Test::Unexpired(micros("expires_at", v)?),
        })
    }

    fn holds(&self, id: i64, row: &MetaRow) -> bool {
        let value = |i: usize| row.values.get(i);
        match self {
            Test::IntEq(i, want) => matches!(value(*i), Some(MetaValue::Int(v)) if v == want),
            Test::IntAtLeast(i, min) => matches!(value(*i), Some(MetaValue::Int(v)) if v >= min),
            Test::IntAtMost(i, max) => matches!(value(*i), Some(MetaValue::Int(v)) if v <= max),
            Test::TextEq(i, want) => {
                matches!(value(*i), Some(MetaValue::Text(v)) if **v == **want)
            }
            Test::CreatedAtLeast(t) => row.created_at >= *t,
            Test::CreatedBelow(t) => row.created_at < *t,
            Test::TagsWithin(i, allowed) => match value(*i) {
                Some(MetaValue::Tags(tags)) => tags.iter().all(|t| allowed.contains(t)),
                _ => false,
            },
            Test::NotIds(ids) => !ids.contains(&id),
            Test::Unexpired(now) => row.expires_at > *now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Backend;
    use crate::memory::kind::{KeyColumn, MetaColumn};

    const SPEC: KindSpec = KindSpec {
        name: "test",
        table: "t",
        text_column: "summary",
        columns: "id",
        partition: Some(KeyColumn::Int("npc_id")),
        meta: &[
            MetaColumn::int("speaker_id"),
            MetaColumn::text("speaker_name"),
            MetaColumn::tags("scope_tags"),
        ],
        hnsw_index: "t_hnsw",
        unique: &[],
        noun: "test row",
        npc_column: None,
        dedup_by: &[],
    };

    fn row(speaker: i64, name: &str, tags: &[&str], created_at: i64) -> MetaRow {
        MetaRow {
            created_at,
            expires_at: 300,
            values: vec![
                MetaValue::Int(speaker),
                MetaValue::Text(name.into()),
                MetaValue::Tags(tags.iter().map(|t| t.to_string()).collect()),
            ]
            .into(),
        }
    }

    #[test]
    fn conditions_hold_as_their_sql_reads() {
        let t = |s: i64| chrono::DateTime::from_timestamp_micros(s).unwrap();
        let filter = Filter::all()
            .and(Cond::Eq("speaker_id", 7i64.into()))
            .and(Cond::Eq("speaker_name", "Ana".into()))
            .and(Cond::AtLeast("created_at", t(100).into()))
            .and(Cond::Below("created_at", t(200).into()))
            .and(Cond::TagsWithin("scope_tags", vec!["a".into(), "b".into()]))
            .and(Cond::NotIds(vec![3]))
            .and(Cond::Unexpired(t(250).into()));
        let p = filter.compile(&SPEC).unwrap();
        assert!(p.matches(1, &row(7, "Ana", &["a"], 150)));
        assert!(p.matches(1, &row(7, "Ana", &[], 100)));
        assert!(!p.matches(3, &row(7, "Ana", &["a"], 150)), "excluded id");
        assert!(!p.matches(1, &row(8, "Ana", &["a"], 150)), "speaker id");
        assert!(!p.matches(1, &row(7, "Bo", &["a"], 150)), "speaker name");
        assert!(
            !p.matches(1, &row(7, "Ana", &["a", "c"], 150)),
            "a tag not allowed"
        );
        assert!(
            !p.matches(1, &row(7, "Ana", &["a"], 200)),
            "until is exclusive"
        );
        let expired = MetaRow {
            expires_at: 250,
            ..row(7, "Ana", &["a"], 150)
        };
        assert!(!p.matches(1, &expired), "expired at the time asked");

        let mut args = Args::new();
        let sql = filter.sql(Dialect(Backend::Postgres), &mut args);
        assert_eq!(
            sql,
            "speaker_id = $1 AND speaker_name = $2 AND created_at >= $3 AND created_at < $4 \
             AND scope_tags <@ $5 AND NOT (id = ANY($6)) AND (expires_at IS NULL OR expires_at > $7)"
        );
        assert_eq!(args.len(), 7);
        assert_eq!(
            Filter::all().sql(Dialect(Backend::Sqlite), &mut args),
            "TRUE"
        );
    }

    #[test]
    fn a_column_the_kind_does_not_keep_is_an_error() {
        let filter = Filter::all().and(Cond::Eq("outcome", "win".into()));
        assert!(matches!(
            filter.compile(&SPEC),
            Err(MemoryError::Unfilterable { .. })
        ));
    }
}
