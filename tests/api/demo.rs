//! `mnemo demo load` on a fresh SQLite data dir with the default `hash` provider: it
//! migrates, loads every fixture once, is a no-op the second time, and the data answers
//! searches.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use mnemo::config::DatabaseTarget;
use mnemo::db::Db;
use mnemo::embed::{self, CachedEmbedder, EmbedSettings};
use mnemo::memory::{LoreSearch, MemorySettings, MemoryStore, NpcSearch};

fn mnemo(args: &[&str], data: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mnemo"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("MNEMO_EMBEDDING_PROVIDER")
        .env("MNEMO_DATA_DIR", data)
        .env("MNEMO_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run mnemo")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn lines(name: &str) -> usize {
    std::fs::read_to_string(fixtures().join(name))
        .expect("fixture")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

fn lore_entries() -> usize {
    fn walk(dir: &Path, n: &mut usize) {
        for entry in std::fs::read_dir(dir).expect("lore dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, n);
            } else {
                let doc: serde_norway::Value =
                    serde_norway::from_str(&std::fs::read_to_string(&path).expect("read"))
                        .expect("yaml");
                *n += doc["entries"].as_sequence().expect("entries").len();
            }
        }
    }
    let mut n = 0;
    walk(&fixtures().join("lore"), &mut n);
    n
}

#[test]
fn the_fixtures_are_a_world_of_the_promised_size() {
    let lore = lore_entries();
    assert!(lore >= 100, "{lore} lore entries");
    assert!(lines("npc_dialogue.jsonl") >= 250);
    assert!(lines("combat.jsonl") >= 100);
}

#[tokio::test]
async fn demo_load_fills_a_fresh_data_dir_once_and_answers_searches() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (lore, dialogue, combat) = (
        lore_entries(),
        lines("npc_dialogue.jsonl"),
        lines("combat.jsonl"),
    );

    let first = mnemo(&["demo", "load"], &data, &[]);
    let out = text(&first);
    assert!(first.status.success(), "{out}");
    assert!(out.contains("Applied"), "migrates a fresh dir: {out}");
    assert!(
        out.contains(&format!("Lore: {lore} created, 0 updated, 0 unchanged")),
        "{out}"
    );
    assert!(
        out.contains(&format!("NPC dialogue: {dialogue} memories stored")),
        "{out}"
    );
    assert!(
        out.contains(&format!("Combat: {combat} encounters stored")),
        "{out}"
    );
    let totals =
        format!("Totals: {dialogue} NPC memories, {combat} combat memories, {lore} lore entries");
    assert!(out.contains(&totals), "{out}");
    // The sample search finds the lamplighters.
    assert!(out.contains("The Lamplighters of Tidegate"), "{out}");

    // Again, from the directory copy: nothing changes.
    let fixtures = fixtures();
    let second = mnemo(
        &["demo", "load", "--fixtures", fixtures.to_str().unwrap()],
        &data,
        &[],
    );
    let out = text(&second);
    assert!(second.status.success(), "{out}");
    assert!(
        out.contains(&format!("Lore: 0 created, 0 updated, {lore} unchanged")),
        "{out}"
    );
    assert!(
        out.contains("NPC dialogue: already loaded, skipped"),
        "{out}"
    );
    assert!(out.contains("Combat: already loaded, skipped"), "{out}");
    assert!(out.contains(&totals), "{out}");

    // The loaded data through the library, as the service would search it.
    let db = Db::open(&DatabaseTarget::Sqlite { data_dir: data })
        .await
        .expect("open");
    let provider = embed::build("hash", &EmbedSettings::default()).expect("hash");
    let store = MemoryStore::open(
        db,
        Arc::new(CachedEmbedder::new(provider, 0)),
        MemorySettings::default(),
    )
    .await
    .expect("store");

    let hits = store
        .search_lore(&LoreSearch {
            query: Some("who keeps the harbour lamps burning until dawn".into()),
            npc_tags: vec!["saltreach_coast".into(), "tidegate_docks".into()],
            top_k: 3,
            ..LoreSearch::default()
        })
        .await
        .expect("lore search");
    assert_eq!(hits[0].memory.title, "The Lamplighters of Tidegate");
    assert!(
        hits.iter().all(|h| h
            .memory
            .scope_tags
            .0
            .iter()
            .all(|t| t == "saltreach_coast" || t == "tidegate_docks")),
        "the scope rule holds"
    );

    let hits = store
        .search_npc(&NpcSearch {
            npc_id: 104,
            query: Some("A lurker bit my leg on the causeway.".into()),
            top_k: 3,
            ..NpcSearch::default()
        })
        .await
        .expect("npc search");
    assert_eq!(
        hits[0].memory.user_message,
        "A lurker bit my leg on the causeway."
    );
    assert_eq!(hits[0].memory.npc_name, "Old Tamsin");
    assert_eq!(hits[0].memory.metadata.0["source"], "mnemo-demo");
}

#[test]
fn demo_with_a_broken_fixture_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("fixtures");
    std::fs::create_dir_all(fx.join("lore")).unwrap();
    std::fs::write(
        fx.join("lore/a.yaml"),
        "source: a\nentries:\n  - title: T\n    scope_level: local\n    content: x\n",
    )
    .unwrap();
    std::fs::write(fx.join("combat.jsonl"), "").unwrap();
    std::fs::write(fx.join("npc_dialogue.jsonl"), "{\"npc_id\": 1}\n").unwrap();
    let out = mnemo(
        &["demo", "load", "--fixtures", fx.to_str().unwrap()],
        &dir.path().join("data"),
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("npc_dialogue.jsonl line 1"),
        "{}",
        text(&out)
    );
}

#[test]
fn minilm_without_its_model_or_feature_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = mnemo(
        &["demo", "load"],
        &dir.path().join("data"),
        &[
            ("MNEMO_EMBEDDING_PROVIDER", "minilm"),
            (
                "MNEMO_MODEL_DIR",
                dir.path().join("no-model").to_str().unwrap(),
            ),
        ],
    );
    assert!(!out.status.success());
    let expected = if cfg!(feature = "minilm") {
        "mnemo model fetch"
    } else {
        "--features minilm"
    };
    assert!(text(&out).contains(expected), "{}", text(&out));
    // Nothing was written: the embedder is built before the database is touched.
    assert!(!dir.path().join("data").join("ai_memory.db3").exists());
}
