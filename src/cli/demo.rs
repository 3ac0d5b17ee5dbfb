//! `mnemo demo load`: fills the databases with the demo game world of `fixtures/`.
//!
//! The fixtures are compiled into the binary (so the command works from any directory);
//! `--fixtures DIR` reads another copy. Lore is upserted by (source, title), so loading
//! twice changes nothing; dialogue and combat records are appended, so they are skipped
//! when the fixture's first record is already stored.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use include_dir::{Dir, include_dir};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

use super::CliError;
use super::settings::Settings;
use crate::db::{Alias, migrate};
use crate::embed::Embedder;
use crate::memory::{
    Combat, Cond, Filter, LoreSearch, MemoryKind, MemorySettings, MemoryStore, NewCombatMemory,
    NewLoreMemory, NewNpcMemory, Npc, NpcSearch, UpsertOutcome,
};

static FIXTURES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/fixtures");

/// Marks every dialogue and combat record the demo stores (in `metadata`).
const DEMO_SOURCE: &str = "mnemo-demo";
/// NPC memories per provider call and transaction.
const CHUNK: usize = 64;

/// The sample searches printed after loading: they show the data answering.
const SAMPLE_LORE_QUERY: &str = "Who keeps the harbour lamps burning at night?";
const SAMPLE_LORE_TAGS: [&str; 3] = ["saltreach_coast", "tidegate_docks", "lantern_watch"];
const SAMPLE_NPC_QUERY: &str = "Can you sharpen my sword before I go to the barrows?";

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(subcommand)]
    pub command: DemoCommand,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Migrate if needed, then load the demo lore, NPC dialogue and combat records.
    Load {
        /// Read the fixtures from this directory instead of the copy built into mnemo
        /// (it holds `lore/*.yaml`, `npc_dialogue.jsonl` and `combat.jsonl`).
        #[arg(long)]
        fixtures: Option<PathBuf>,
    },
}

/// One lore file, in the format of the original game's lore repository.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoreFile {
    source: String,
    entries: Vec<LoreEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoreEntry {
    title: String,
    scope_level: String,
    #[serde(default)]
    scope_tags: Vec<String>,
    content: String,
}

/// One line of `npc_dialogue.jsonl`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DialogueLine {
    npc_id: i64,
    npc_name: String,
    speaker_id: i64,
    speaker_name: String,
    user_message: String,
    assistant_message: String,
    #[serde(default)]
    interaction_type: Option<String>,
}

/// The parsed fixtures.
struct Fixtures {
    lore: Vec<LoreFile>,
    dialogue: Vec<DialogueLine>,
    combat: Vec<NewCombatMemory>,
}

impl Fixtures {
    /// Parses a set of (path, text) files; every error names its file and line.
    fn parse(files: Vec<(String, String)>) -> Result<Self, CliError> {
        let mut lore = Vec::new();
        let mut dialogue = None;
        let mut combat = None;
        for (path, text) in files {
            if path.starts_with("lore/") && (path.ends_with(".yaml") || path.ends_with(".yml")) {
                let file: LoreFile = serde_norway::from_str(&text)
                    .map_err(|e| CliError(format!("fixtures/{path}: {e}")))?;
                lore.push(file);
            } else if path == "npc_dialogue.jsonl" {
                dialogue = Some(jsonl::<DialogueLine>(&path, &text)?);
            } else if path == "combat.jsonl" {
                combat = Some(jsonl::<NewCombatMemory>(&path, &text)?);
            }
        }
        let missing = |name: &str| CliError(format!("the fixtures lack {name}"));
        if lore.is_empty() {
            return Err(missing("lore/*.yaml"));
        }
        Ok(Self {
            lore,
            dialogue: dialogue.ok_or_else(|| missing("npc_dialogue.jsonl"))?,
            combat: combat.ok_or_else(|| missing("combat.jsonl"))?,
        })
    }

    fn built_in() -> Result<Self, CliError> {
        let mut files = Vec::new();
        collect_embedded(&FIXTURES, &mut files);
        Self::parse(files)
    }

    fn from_dir(dir: &Path) -> Result<Self, CliError> {
        let mut files = Vec::new();
        collect_dir(dir, dir, &mut files)?;
        Self::parse(files)
    }

    fn lore_entries(&self) -> usize {
        self.lore.iter().map(|f| f.entries.len()).sum()
    }
}

fn jsonl<T: serde::de::DeserializeOwned>(path: &str, text: &str) -> Result<Vec<T>, CliError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| CliError(format!("fixtures/{path} line {}: {e}", i + 1)))
        })
        .collect()
}

fn collect_embedded(dir: &Dir<'_>, out: &mut Vec<(String, String)>) {
    for file in dir.files() {
        if let Some(text) = file.contents_utf8() {
            out.push((slash_path(file.path()), text.to_owned()));
        }
    }
    for sub in dir.dirs() {
        collect_embedded(sub, out);
    }
    out.sort();
}

fn collect_dir(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), CliError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CliError(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry
            .map_err(|e| CliError(format!("cannot read {}: {e}", dir.display())))?
            .path();
        if path.is_dir() {
            collect_dir(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
            out.push((slash_path(rel), text));
        }
    }
    out.sort();
    Ok(())
}

fn slash_path(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

pub async fn demo(settings: &Settings, args: &DemoArgs) -> Result<(), CliError> {
    let DemoCommand::Load { fixtures } = &args.command;
    let fixtures = match fixtures {
        Some(dir) => Fixtures::from_dir(dir)?,
        None => Fixtures::built_in()?,
    };
    // Build the embedder before touching the database: a missing model stops us early.
    let embedder = settings.embedder()?;
    let db = settings.open(false).await?;
    println!("Backend: {}", db.describe());
    let applied = migrate::migrate(&db, &Alias::ALL, &settings.migrate_params(), None).await?;
    if !applied.is_empty() {
        println!("Applied {} pending migration(s)", applied.len());
    }
    let store = MemoryStore::open_lazily(db, embedder.clone(), MemorySettings::default()).await?;
    println!(
        "Embedding with {} ({} dimensions)",
        embedder.model(),
        embedder.dimension()
    );

    let dialogue_loaded = match fixtures.dialogue.first() {
        Some(first) => npc_fixture_stored(&store, first).await?,
        None => false,
    };
    let combat_loaded = match fixtures.combat.first() {
        Some(first) => combat_fixture_stored(&store, first).await?,
        None => false,
    };
    let total = fixtures.lore_entries()
        + if dialogue_loaded {
            0
        } else {
            fixtures.dialogue.len()
        }
        + if combat_loaded {
            0
        } else {
            fixtures.combat.len()
        };
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );

    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    bar.set_message("lore");
    for file in fixtures.lore {
        for e in file.entries {
            let title = e.title.clone();
            let (_, outcome) = store
                .upsert_lore(NewLoreMemory {
                    title: e.title,
                    content: e.content.trim().to_owned(),
                    scope_level: e.scope_level,
                    scope_tags: e.scope_tags,
                    source: file.source.clone(),
                    ..NewLoreMemory::default()
                })
                .await
                .map_err(|err| CliError(format!("lore {:?} ({title}): {err}", file.source)))?;
            match outcome {
                UpsertOutcome::Created => created += 1,
                UpsertOutcome::Updated => updated += 1,
                UpsertOutcome::Unchanged => unchanged += 1,
            }
            bar.inc(1);
        }
    }

    let mut dialogue_stored = 0;
    if !dialogue_loaded {
        bar.set_message("dialogue");
        let mut lines = fixtures.dialogue.into_iter().peekable();
        while lines.peek().is_some() {
            let chunk: Vec<NewNpcMemory> = lines.by_ref().take(CHUNK).map(npc_memory).collect();
            let n = chunk.len();
            store.store_batch::<Npc>(chunk).await?;
            dialogue_stored += n;
            bar.inc(n as u64);
        }
    }

    let mut combat_stored = 0;
    if !combat_loaded {
        bar.set_message("combat");
        for mut m in fixtures.combat {
            m.metadata = Some(with_source(m.metadata.take()));
            store.store::<Combat>(m).await?;
            combat_stored += 1;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    println!("Lore: {created} created, {updated} updated, {unchanged} unchanged");
    if dialogue_loaded {
        println!("NPC dialogue: already loaded, skipped");
    } else {
        println!("NPC dialogue: {dialogue_stored} memories stored");
    }
    if combat_loaded {
        println!("Combat: already loaded, skipped");
    } else {
        println!("Combat: {combat_stored} encounters stored");
    }
    let (npc, combat, lore) = counts(&store).await?;
    println!("Totals: {npc} NPC memories, {combat} combat memories, {lore} lore entries");
    sample_searches(&store).await
}

fn with_source(metadata: Option<serde_json::Value>) -> serde_json::Value {
    let mut metadata = match metadata {
        Some(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    metadata.insert("source".into(), DEMO_SOURCE.into());
    serde_json::Value::Object(metadata)
}

fn npc_memory(line: DialogueLine) -> NewNpcMemory {
    NewNpcMemory {
        npc_id: line.npc_id,
        speaker_id: line.speaker_id,
        speaker_name: line.speaker_name,
        npc_name: line.npc_name,
        user_message: line.user_message,
        assistant_message: line.assistant_message,
        interaction_type: line.interaction_type,
        metadata: Some(with_source(None)),
        ..NewNpcMemory::default()
    }
}

/// True when the fixture's first dialogue line is already stored.
async fn npc_fixture_stored(store: &MemoryStore, first: &DialogueLine) -> Result<bool, CliError> {
    let same = Filter::all()
        .and(Cond::Eq("npc_id", first.npc_id.into()))
        .and(Cond::Eq("speaker_id", first.speaker_id.into()))
        .and(Cond::Eq("user_message", first.user_message.as_str().into()))
        .and(Cond::Eq(
            "assistant_message",
            first.assistant_message.as_str().into(),
        ));
    Ok(store.count(MemoryKind::Npc, &same).await? > 0)
}

/// True when the fixture's first combat record is already stored.
async fn combat_fixture_stored(
    store: &MemoryStore,
    first: &NewCombatMemory,
) -> Result<bool, CliError> {
    let same = Filter::all()
        .and(Cond::Eq("mob_type", first.mob_type.as_str().into()))
        .and(Cond::Eq("summary", first.summary.as_str().into()));
    Ok(store.count(MemoryKind::Combat, &same).await? > 0)
}

async fn counts(store: &MemoryStore) -> Result<(u64, u64, u64), CliError> {
    let all = Filter::all();
    Ok((
        store.count(MemoryKind::Npc, &all).await?,
        store.count(MemoryKind::Combat, &all).await?,
        store.count(MemoryKind::Lore, &all).await?,
    ))
}

fn preview(text: &str, chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= chars {
        flat
    } else {
        format!("{}...", flat.chars().take(chars).collect::<String>())
    }
}

/// Two searches a new user can repeat over the API.
async fn sample_searches(store: &MemoryStore) -> Result<(), CliError> {
    let tags: Vec<String> = SAMPLE_LORE_TAGS.iter().map(|t| (*t).to_owned()).collect();
    println!();
    println!(
        "Lore search {SAMPLE_LORE_QUERY:?} for an NPC tagged {}:",
        tags.join(", ")
    );
    let lore = store
        .search_lore(&LoreSearch {
            query: Some(SAMPLE_LORE_QUERY.into()),
            npc_tags: tags,
            top_k: 3,
            ..LoreSearch::default()
        })
        .await?;
    for hit in &lore.items {
        println!(
            "  {:.3}  {}: {}",
            hit.score,
            hit.memory.title,
            preview(&hit.memory.content, 70)
        );
    }
    // The blacksmith of the demo world: npc 101.
    println!("NPC 101 (the smith) remembers, for {SAMPLE_NPC_QUERY:?}:");
    let npc = store
        .search_npc(&NpcSearch {
            npc_id: 101,
            query: Some(SAMPLE_NPC_QUERY.into()),
            top_k: 3,
            ..NpcSearch::default()
        })
        .await?;
    for hit in &npc.items {
        println!("  {:.3}  {}", hit.score, preview(&hit.memory.summary, 90));
    }
    Ok(())
}
