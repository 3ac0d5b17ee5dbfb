//! Importing lore files: the original's YAML format (or its JSON twin),
//!
//! ```yaml
//! source: world.yaml            # entries are upserted by (source, title)
//! entries:
//!   - title: The Old Bridge
//!     scope_level: regional     # continental | regional | local | faction
//!     scope_tags: [riverlands]  # optional; an NPC needs every tag to read the entry
//!     content: The bridge over the Grey River fell in the spring floods.
//! ```
//!
//! applied entry by entry with [`MemoryStore::upsert_lore`], optionally pruning
//! the source's entries the file no longer has, or only reporting what would
//! happen (`dry_run`). Used by `POST /v1/memories/lore/import` and
//! `mnemo lore import`.

use serde::{Deserialize, Serialize};

use super::error::MemoryError;
use super::kinds::NewLoreMemory;
use super::model::UpsertOutcome;
use super::store::MemoryStore;

/// One lore file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoreFile {
    /// Names the file's entries; the CLI defaults it to the file name.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub entries: Vec<LoreEntry>,
}

/// One entry of a lore file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoreEntry {
    pub title: String,
    pub scope_level: String,
    #[serde(default)]
    pub scope_tags: Vec<String>,
    pub content: String,
}

/// How to apply a file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Delete the source's entries whose title the file does not list.
    pub prune: bool,
    /// Report what would happen; write and embed nothing.
    pub dry_run: bool,
}

/// An entry that could not be applied, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportFailure {
    pub title: String,
    /// The offending field, when the entry was invalid.
    pub field: Option<String>,
    pub message: String,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    pub source: String,
    pub dry_run: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: usize,
    pub failures: Vec<ImportFailure>,
    /// Titles deleted by `prune` (or that would be, with `dry_run`).
    pub pruned: Vec<String>,
}

impl ImportReport {
    /// Add another file's report (the CLI imports a directory).
    pub fn absorb(&mut self, other: ImportReport) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.failed += other.failed;
        self.failures.extend(other.failures);
        self.pruned.extend(other.pruned);
    }
}

impl LoreFile {
    /// Parse the YAML format. Errors name `body`.
    pub fn from_yaml(text: &str) -> Result<Self, MemoryError> {
        serde_norway::from_str(text).map_err(|e| MemoryError::invalid("body", e.to_string()))
    }

    /// Parse the JSON twin. Errors name `body`.
    pub fn from_json(text: &str) -> Result<Self, MemoryError> {
        serde_json::from_str(text).map_err(|e| MemoryError::invalid("body", e.to_string()))
    }
}

/// Most entries one file may hold.
pub const MAX_IMPORT_ENTRIES: usize = 10_000;

impl MemoryStore {
    /// Apply `file` entry by entry (each its own upsert: an invalid entry, or one
    /// whose re-embedding fails, is counted as failed and the rest still go in).
    /// With `prune`, entries of the source that the file does not list are
    /// deleted; an entry that failed is listed, so it is never pruned.
    /// `on_entry` is called after each entry (progress bars).
    pub async fn import_lore(
        &self,
        file: &LoreFile,
        options: ImportOptions,
        mut on_entry: impl FnMut(&str),
    ) -> Result<ImportReport, MemoryError> {
        let source = file
            .source
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| MemoryError::invalid("source", "the file must name its source"))?
            .to_owned();
        if source.chars().count() > 200 {
            return Err(MemoryError::invalid("source", "at most 200 characters"));
        }
        if file.entries.len() > MAX_IMPORT_ENTRIES {
            return Err(MemoryError::invalid(
                "entries",
                format!("at most {MAX_IMPORT_ENTRIES} entries per file"),
            ));
        }
        let mut report = ImportReport {
            source: source.clone(),
            dry_run: options.dry_run,
            ..ImportReport::default()
        };
        for entry in &file.entries {
            let new = NewLoreMemory {
                title: entry.title.clone(),
                content: entry.content.clone(),
                scope_level: entry.scope_level.clone(),
                scope_tags: entry.scope_tags.clone(),
                source: source.clone(),
                ..NewLoreMemory::default()
            };
            let outcome = if options.dry_run {
                self.preview_lore(&new).await
            } else {
                self.upsert_lore(new).await.map(|(_, outcome)| outcome)
            };
            match outcome {
                Ok(UpsertOutcome::Created) => report.created += 1,
                Ok(UpsertOutcome::Updated) => report.updated += 1,
                Ok(UpsertOutcome::Unchanged) => report.unchanged += 1,
                Err(MemoryError::Invalid { field, message }) => {
                    report.failed += 1;
                    report.failures.push(ImportFailure {
                        title: entry.title.clone(),
                        field: Some(field.to_owned()),
                        message,
                    });
                }
                Err(e @ MemoryError::EmbeddingUnavailable(_)) => {
                    report.failed += 1;
                    report.failures.push(ImportFailure {
                        title: entry.title.clone(),
                        field: None,
                        message: e.to_string(),
                    });
                }
                Err(other) => return Err(other),
            }
            on_entry(&entry.title);
        }
        if options.prune {
            let keep: Vec<String> = file.entries.iter().map(|e| e.title.clone()).collect();
            report.pruned = if options.dry_run {
                self.lore_titles(&source)
                    .await?
                    .into_iter()
                    .map(|(_, title)| title)
                    .filter(|t| !keep.contains(t))
                    .collect()
            } else {
                self.prune_lore(&source, &keep).await?
            };
        }
        Ok(report)
    }
}
