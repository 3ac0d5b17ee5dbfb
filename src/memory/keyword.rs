//! Keyword search over the text each kind embeds: the database finds the rows
//! in the scope that pass the filters and contain any word of the query
//! (SQLite: the kind's FTS5 table; Postgres: its `keyword_tsv` column and GIN
//! index, both kept in sync within each write's transaction by the
//! `0009_memory_lifecycle` migration), and they are ranked here by BM25, so
//! both backends rank the same rows the same way.
//!
//! Words are runs of letters and digits, lowercased, as the indexes cut them
//! (no stemming: "sword" does not find "swords"; runs over
//! [`MAX_WORD_CHARS`] are cut into pieces, as the indexes cut them). Common
//! English function words are left out of a query that has other words.
//!
//! BM25 (k1 = 1.2, b = 0.75, the usual values) takes its document frequencies
//! and average length from the matching rows, at most [`MAX_MATCHES`] of
//! them (the newest): a word found in most of them weighs little, a rare name
//! weighs much. Ties go to the newer row, then the larger id.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::engine::Scope;
use super::error::MemoryError;
use super::expiry::live;
use super::filter::Filter;
use super::kind::MemoryKind;
use super::modes::Hit;
use super::store::MemoryStore;
use crate::db::{Alias, Args, Backend};
use crate::embed::is_stopword;

/// Longest word the indexes keep whole (a Postgres lexeme has a size limit).
pub const MAX_WORD_CHARS: usize = 100;

/// Most words of a query searched for.
pub const MAX_QUERY_WORDS: usize = 32;

/// Most matching rows read and ranked for one search: the newest this many.
/// 5,000 is one NPC's memories in the 100k benchmark set, ranked in about a
/// millisecond.
pub const MAX_MATCHES: i64 = 5_000;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// The words of `text` as the indexes cut them, in order, repeats kept.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for run in text.split(|c: char| !c.is_alphanumeric()) {
        if run.is_empty() {
            continue;
        }
        let lower: Vec<char> = run.to_lowercase().chars().collect();
        out.extend(
            lower
                .chunks(MAX_WORD_CHARS)
                .map(|c| c.iter().collect::<String>()),
        );
    }
    out
}

/// The distinct words a query searches for: its words without function
/// words (unless it has nothing else), at most [`MAX_QUERY_WORDS`].
pub fn query_terms(text: &str) -> Vec<String> {
    let mut all = words(text);
    let mut seen = std::collections::HashSet::new();
    all.retain(|w| seen.insert(w.clone()));
    if all.iter().any(|w| !is_stopword(w)) {
        all.retain(|w| !is_stopword(w));
    }
    all.truncate(MAX_QUERY_WORDS);
    all
}

/// SQLite: the FTS5 `part` tokens of a search's partitions, as the
/// `0009_memory_lifecycle` migration's triggers write them ('p' and the hex of
/// the partition value's text, one token whatever the value holds); `None`
/// when the search is not confined to partitions. Only a shortcut for FTS5:
/// the statement tests the scope on the table too.
fn fts_parts(kind: MemoryKind, scope: &Scope) -> Option<Vec<String>> {
    kind.spec().partition?;
    let token = |value: String| format!("p{}", hex::encode(value));
    match scope {
        Scope::Whole => None,
        Scope::Ints(ids) if ids.is_empty() => None,
        Scope::Ints(ids) => Some(ids.iter().map(|id| token(id.to_string())).collect()),
        Scope::Text(value) => Some(vec![token(value.clone())]),
    }
}

/// A matching row: id, creation time, text.
type Matched = (i64, DateTime<Utc>, String);

/// A matching row as BM25 sees it: id, creation time, the count of each query
/// term in it, its length in words.
type Doc<'t> = (i64, DateTime<Utc>, HashMap<&'t str, f64>, f64);

/// The rows ranked by BM25 over themselves, best `k` first.
fn bm25(terms: &[String], rows: Vec<Matched>, k: usize) -> Vec<Hit> {
    let docs: Vec<Doc<'_>> = rows
        .iter()
        .map(|(id, at, text)| {
            let words = words(text);
            let mut tf: HashMap<&str, f64> = HashMap::new();
            for w in &words {
                if let Some(t) = terms.iter().find(|t| *t == w) {
                    *tf.entry(t.as_str()).or_default() += 1.0;
                }
            }
            (*id, *at, tf, words.len() as f64)
        })
        .collect();
    let n = docs.len() as f64;
    let avg_len = (docs.iter().map(|d| d.3).sum::<f64>() / n.max(1.0)).max(1.0);
    let idf: HashMap<&str, f64> = terms
        .iter()
        .map(|t| {
            let df = docs.iter().filter(|d| d.2.contains_key(t.as_str())).count() as f64;
            (t.as_str(), (1.0 + (n - df + 0.5) / (df + 0.5)).ln())
        })
        .collect();
    let mut scored: Vec<(f64, DateTime<Utc>, i64)> = docs
        .iter()
        .map(|(id, at, tf, len)| {
            let score = tf
                .iter()
                .map(|(t, f)| idf[t] * f * (K1 + 1.0) / (f + K1 * (1.0 - B + B * len / avg_len)))
                .sum();
            (score, *at, *id)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    scored.truncate(k);
    scored
        .into_iter()
        .map(|(score, _, id)| Hit {
            id,
            similarity: None,
            score: score as f32,
        })
        .collect()
}

impl MemoryStore {
    /// The `k` unexpired rows of `kind` in `scope` passing `filter` that best
    /// match the words of `text`, best first (fewer when fewer match).
    pub(crate) async fn keyword_rank(
        &self,
        kind: MemoryKind,
        scope: &Scope,
        filter: &Filter,
        text: &str,
        k: usize,
    ) -> Result<Vec<Hit>, MemoryError> {
        let terms = query_terms(text);
        if terms.is_empty() {
            return Err(MemoryError::invalid(
                "query",
                "has no words to search for (letters or digits)",
            ));
        }
        let pool = self.db.pool(Alias::AiMemory);
        let dialect = pool.dialect();
        let (table, column) = (kind.table(), kind.text_column());
        let mut args = Args::new();
        let matches = match dialect.0 {
            Backend::Sqlite => {
                let query: Vec<String> = terms.iter().map(|t| format!("\"{t}\"")).collect();
                let mut query = format!("body : ({})", query.join(" OR "));
                if let Some(parts) = fts_parts(kind, scope) {
                    query = format!("part : ({}) AND {query}", parts.join(" OR "));
                }
                format!(
                    "id IN (SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH {})",
                    args.push(query)
                )
            }
            Backend::Postgres => {
                // The terms are letters and digits only: quoting them is enough.
                let query: Vec<String> = terms.iter().map(|t| format!("'{t}'")).collect();
                format!(
                    "keyword_tsv @@ CAST({} AS tsquery)",
                    args.push(query.join(" | "))
                )
            }
        };
        let in_scope = scope.sql(kind, dialect, &mut args);
        let passes = live(filter).sql(dialect, &mut args);
        let sql = format!(
            "SELECT id, created_at, {column} FROM {table}
             WHERE {matches} AND {in_scope} AND {passes}
             ORDER BY id DESC LIMIT {MAX_MATCHES}"
        );
        let rows: Vec<Matched> = pool.fetch_all(&sql, args).await?;
        Ok(bm25(&terms, rows, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_runs_of_letters_and_digits() {
        assert_eq!(
            words("Vexmoor's tower, built in 1203-AD!"),
            vec!["vexmoor", "s", "tower", "built", "in", "1203", "ad"]
        );
        assert_eq!(words("Ærøskøbing"), vec!["ærøskøbing"]);
        let long = "x".repeat(250);
        assert_eq!(
            words(&long).iter().map(String::len).collect::<Vec<_>>(),
            vec![100, 100, 50]
        );
    }

    #[test]
    fn function_words_are_dropped_unless_nothing_else_is_left() {
        assert_eq!(
            query_terms("Where is the Tower of the moon"),
            vec!["where", "tower", "moon"]
        );
        assert_eq!(query_terms("to be or not to be"), vec!["not"]);
        assert_eq!(query_terms("the of"), vec!["the", "of"]);
        assert!(query_terms("?!").is_empty());
    }

    #[test]
    fn a_rare_word_outweighs_common_ones() {
        let at = |m: i64| DateTime::from_timestamp(1_700_000_000 + m, 0).unwrap();
        let terms = query_terms("the harbor merchant spoke of Vexmoor");
        let mut rows: Vec<Matched> = (1..=8)
            .map(|i| {
                (
                    i,
                    at(i),
                    format!("The harbor merchant sold fish number {i}"),
                )
            })
            .collect();
        rows.push((9, at(0), "Vexmoor is a cursed name".into()));
        let hits = bm25(&terms, rows, 3);
        assert_eq!(hits[0].id, 9, "{hits:?}");
        assert!(hits.iter().all(|h| h.similarity.is_none()));
        assert!(hits[0].score > hits[1].score);
        assert_eq!(hits[1].id, 8, "equal scores: the newer first");
    }
}
