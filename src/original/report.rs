//! What an import did, per source table and in all: the counts of the
//! summary table, each failed row (table, original id, why), each duplicate
//! the original let through, and notes on what the original's data could not
//! say in mnemo's terms.

use std::fmt;
use std::time::Duration;

use crate::db::bulk::{Outcome, Written};

/// The counts of one source table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableReport {
    pub table: String,
    /// The table does not exist in the source (a file not given, a table its
    /// later migrations dropped).
    pub absent: bool,
    pub read: u64,
    /// Written as new rows.
    pub imported: u64,
    /// Matched to a row here with the same natural key, which took its values.
    pub matched: u64,
    /// The same as another row: reported, not written.
    pub duplicates: u64,
    /// Recorded by an earlier run: skipped.
    pub already: u64,
    pub failed: u64,
    /// Memories written without a vector: pending until embedded.
    pub pending: u64,
}

impl TableReport {
    pub fn new(table: &str) -> Self {
        Self {
            table: table.to_owned(),
            ..Self::default()
        }
    }

    /// Count what a batch wrote.
    pub fn absorb(&mut self, written: &[Written]) {
        for w in written {
            match w.outcome {
                Outcome::Imported => self.imported += 1,
                Outcome::Matched => self.matched += 1,
                Outcome::Duplicate => self.duplicates += 1,
            }
        }
    }

    /// Rows this run wrote (new or matched).
    pub fn changed(&self) -> u64 {
        self.imported + self.matched
    }
}

/// One row named in the report: its table, its id in the original, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    pub table: String,
    pub original_id: i64,
    pub message: String,
}

impl fmt::Display for RowIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{}: {}", self.table, self.original_id, self.message)
    }
}

/// The whole import.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub dry_run: bool,
    pub tables: Vec<TableReport>,
    pub failures: Vec<RowIssue>,
    pub duplicates: Vec<RowIssue>,
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    pub fn table(&self, name: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.table == name)
    }

    fn total(&self) -> TableReport {
        let mut all = TableReport::new("total");
        for t in &self.tables {
            all.read += t.read;
            all.imported += t.imported;
            all.matched += t.matched;
            all.duplicates += t.duplicates;
            all.already += t.already;
            all.failed += t.failed;
            all.pending += t.pending;
        }
        all
    }

    /// Rows read from the source.
    pub fn rows_read(&self) -> u64 {
        self.total().read
    }

    /// Rows written (new or matched).
    pub fn rows_written(&self) -> u64 {
        self.total().changed()
    }

    /// Whether every row was there already (a second run).
    pub fn nothing_to_import(&self) -> bool {
        let t = self.total();
        t.read > 0 && t.already == t.read
    }

    /// Rows read per second.
    pub fn rows_per_second(&self) -> f64 {
        self.rows_read() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Report {
    /// The summary table and the closing line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .tables
            .iter()
            .map(|t| t.table.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let row = |f: &mut fmt::Formatter<'_>, t: &TableReport| {
            if t.absent {
                return writeln!(f, "{:width$}  (not in the original)", t.table);
            }
            writeln!(
                f,
                "{:width$} {:>7} {:>8} {:>7} {:>9} {:>7} {:>6} {:>7}",
                t.table,
                t.read,
                t.imported,
                t.matched,
                t.duplicates,
                t.already,
                t.failed,
                t.pending
            )
        };
        writeln!(
            f,
            "{:width$} {:>7} {:>8} {:>7} {:>9} {:>7} {:>6} {:>7}",
            "table", "read", "imported", "matched", "duplicate", "already", "failed", "pending"
        )?;
        for t in &self.tables {
            row(f, t)?;
        }
        row(f, &self.total())?;
        let written = if self.dry_run {
            format!(
                "{} would be written (dry run: nothing was)",
                self.rows_written()
            )
        } else {
            format!("{} written", self.rows_written())
        };
        write!(
            f,
            "{} rows read, {written}, in {:.1} s ({:.0} rows/s)",
            self.rows_read(),
            self.elapsed.as_secs_f64(),
            self.rows_per_second()
        )?;
        if self.nothing_to_import() {
            write!(f, "\nnothing to import: an earlier run imported every row")?;
        }
        Ok(())
    }
}
