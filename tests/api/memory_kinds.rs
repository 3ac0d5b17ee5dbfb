//! Combat and lore stores, the composed context, pending rows and the worker,
//! cross-process visibility, and backend parity.

use std::sync::Arc;
use std::time::Duration;

use crate::support::db::{TestDb, memory_store, memory_store_with, random_vector};
use mnemo::embed::mock::{MockOpenAi, MockReply};
use mnemo::embed::{OpenAiEmbedder, OpenAiSettings};
use mnemo::memory::{Combat, Npc};
use mnemo::memory::{
    CombatScope, CombatSearch, ContextRequest, EmbedScope, EmbeddingState, LoreSearch, MemoryError,
    MemoryKind, NewCombatMemory, NewLoreMemory, NewNpcMemory, NpcSearch, UpsertOutcome,
};

fn fight(
    mob_type: &str,
    mob_name: &str,
    outcome: &str,
    party: i32,
    hp: f64,
    summary: &str,
) -> NewCombatMemory {
    NewCombatMemory {
        mob_type: mob_type.into(),
        mob_name: mob_name.into(),
        outcome: outcome.into(),
        party_size: Some(party),
        hp_remaining_pct: hp,
        summary: summary.into(),
        mob_level: 3,
        ..NewCombatMemory::default()
    }
}

fn lore(title: &str, content: &str, tags: &[&str]) -> NewLoreMemory {
    NewLoreMemory {
        title: title.into(),
        content: content.into(),
        scope_level: "regional".into(),
        scope_tags: tags.iter().map(|t| t.to_string()).collect(),
        source: "world.yaml".into(),
        ..NewLoreMemory::default()
    }
}

async fn combat_scopes_and_filters(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let store = memory_store(&t.db).await;
    let a = store
        .store::<Combat>(fight(
            "wolf",
            "Greyfang",
            "win",
            2,
            80.0,
            "two warriors charged the wolf pack",
        ))
        .await
        .unwrap();
    let b = store
        .store::<Combat>(fight(
            "wolf",
            "Snarl",
            "loss",
            4,
            0.0,
            "four mages burned the wolf pack",
        ))
        .await
        .unwrap();
    let c = store
        .store::<Combat>(fight(
            "wolf",
            "Greyfang",
            "fled",
            5,
            20.0,
            "five rogues ambushed the wolf pack",
        ))
        .await
        .unwrap();
    store
        .store::<Combat>(fight(
            "troll",
            "Ugg",
            "win",
            2,
            90.0,
            "two warriors charged the troll",
        ))
        .await
        .unwrap();
    assert_eq!(a.embedding_state, EmbeddingState::Ready);

    let base = CombatSearch {
        mob_type: "wolf".into(),
        query: Some("warriors charged".into()),
        top_k: 5,
        ..CombatSearch::default()
    };
    let ids = |r: mnemo::memory::SearchResults<mnemo::memory::CombatMemory>| {
        r.iter().map(|x| x.memory.id).collect::<Vec<_>>()
    };
    let all = ids(store.search_combat(&base).await.unwrap());
    assert_eq!(all.len(), 3, "per type: only wolves");
    assert_eq!(all[0], a.memory.id);

    let s = CombatSearch {
        scope: CombatScope::PerInstance,
        mob_name: Some("Greyfang".into()),
        ..base.clone()
    };
    let mut got = ids(store.search_combat(&s).await.unwrap());
    got.sort();
    assert_eq!(got, vec![a.memory.id, c.memory.id]);

    let s = CombatSearch {
        scope: CombatScope::Hybrid,
        mob_name: Some("Snarl".into()),
        top_k: 2,
        ..base.clone()
    };
    let got = ids(store.search_combat(&s).await.unwrap());
    assert_eq!(got[0], b.memory.id, "instance first");
    assert_eq!(got.len(), 2, "topped up from the type");

    let s = CombatSearch {
        party_size_min: Some(3),
        party_size_max: Some(4),
        ..base.clone()
    };
    assert_eq!(
        ids(store.search_combat(&s).await.unwrap()),
        vec![b.memory.id]
    );
    let s = CombatSearch {
        outcome: Some("fled".into()),
        ..base.clone()
    };
    assert_eq!(
        ids(store.search_combat(&s).await.unwrap()),
        vec![c.memory.id]
    );

    let s = CombatSearch {
        query: Some("four mages burned".into()),
        decisiveness_weight: 10.0,
        ..base.clone()
    };
    let got = store.search_combat(&s).await.unwrap();
    assert_eq!(
        got[0].memory.id, a.memory.id,
        "80% hp outweighs similarity at weight 10"
    );

    for (s, field) in [
        (
            CombatSearch {
                outcome: Some("maybe".into()),
                ..base.clone()
            },
            "outcome",
        ),
        (
            CombatSearch {
                scope: CombatScope::PerInstance,
                ..base.clone()
            },
            "mob_name",
        ),
    ] {
        let err = store.search_combat(&s).await.unwrap_err();
        assert!(
            matches!(err, MemoryError::Invalid { field: f, .. } if f == field),
            "{err}"
        );
    }
    let err = store
        .store::<Combat>(fight("wolf", "x", "won", 1, 1.0, "s"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        MemoryError::Invalid {
            field: "outcome",
            ..
        }
    ));
}

async fn lore_upsert_outcomes_and_access_rule(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let store = memory_store(&t.db).await;
    let (open, outcome) = store
        .upsert_lore(lore(
            "The Old Road",
            "the old road runs past the ruined tower",
            &[],
        ))
        .await
        .unwrap();
    assert_eq!(outcome, UpsertOutcome::Created);
    let (_, outcome) = store
        .upsert_lore(lore(
            "The Old Road",
            "the old road runs past the ruined tower",
            &[],
        ))
        .await
        .unwrap();
    assert_eq!(outcome, UpsertOutcome::Unchanged);
    let (updated, outcome) = store
        .upsert_lore(lore(
            "The Old Road",
            "the old road now runs past the rebuilt tower",
            &[],
        ))
        .await
        .unwrap();
    assert_eq!(
        (outcome, updated.memory.id),
        (UpsertOutcome::Updated, open.memory.id)
    );

    // Starvation case of the original: many nearer entries the NPC may not read.
    for i in 0..30 {
        store
            .upsert_lore(lore(
                &format!("Secret {i}"),
                "the ruined tower hides the thieves guild vault",
                &["thieves_guild", "millholm"],
            ))
            .await
            .unwrap();
    }
    let (town, _) = store
        .upsert_lore(lore(
            "Town tower",
            "a tower stands in millholm square",
            &["millholm"],
        ))
        .await
        .unwrap();
    let s = LoreSearch {
        query: Some("ruined tower thieves guild vault".into()),
        npc_tags: vec!["millholm".into()],
        top_k: 3,
        ..LoreSearch::default()
    };
    let found = store.search_lore(&s).await.unwrap();
    let mut ids: Vec<i64> = found.iter().map(|r| r.memory.id).collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![open.memory.id, town.memory.id],
        "every admissible entry, none of the nearer secret ones"
    );
    let s = LoreSearch {
        npc_tags: vec!["millholm".into(), "thieves_guild".into()],
        ..s
    };
    assert_eq!(store.search_lore(&s).await.unwrap().len(), 3);

    let gone = store
        .prune_lore("world.yaml", &["The Old Road".into(), "Town tower".into()])
        .await
        .unwrap();
    assert_eq!(gone.len(), 30);
    let err = store
        .upsert_lore(NewLoreMemory {
            scope_level: "planar".into(),
            ..lore("x", "y", &[])
        })
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        MemoryError::Invalid {
            field: "scope_level",
            ..
        }
    ));
}

async fn context_embeds_once(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let writer = memory_store(&t.db).await;
    for i in 0..3 {
        writer
            .store::<Npc>(NewNpcMemory {
                npc_id: 1,
                speaker_id: 7,
                speaker_name: "Aldric".into(),
                npc_name: "Grimble".into(),
                user_message: format!("tell me about the mine {i}"),
                assistant_message: "it is haunted".into(),
                ..NewNpcMemory::default()
            })
            .await
            .unwrap();
    }
    writer
        .upsert_lore(lore("Mine", "the mine is haunted by miners", &["millholm"]))
        .await
        .unwrap();

    let mock = MockOpenAi::start(1536).unwrap();
    let openai = OpenAiEmbedder::new(OpenAiSettings {
        api_key: "k".into(),
        base_url: Some(mock.base_url()),
        model: "mnemo-hash-v1".into(),
        ..OpenAiSettings::default()
    })
    .unwrap();
    let reader = memory_store_with(&t.db, Arc::new(openai)).await;
    let ctx = reader
        .context(&ContextRequest {
            npc_id: 1,
            speaker_id: 7,
            message: "is the mine safe?".into(),
            lore_tags: vec!["millholm".into()],
            ..ContextRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(
        mock.requests(),
        1,
        "one embedding call for lore and memories"
    );
    assert!(!ctx.degraded);
    assert_eq!(ctx.recent.len(), 3);
    assert!(ctx.recent[0].id < ctx.recent[2].id, "oldest first");
    assert!(ctx.last_interaction.is_some());
    assert_eq!(ctx.lore.len(), 1);

    mock.set_fallback(MockReply::status(503));
    let down = OpenAiEmbedder::new(OpenAiSettings {
        api_key: "k".into(),
        base_url: Some(mock.base_url()),
        model: "mnemo-hash-v1".into(),
        deadline: Duration::from_millis(200),
        ..OpenAiSettings::default()
    })
    .unwrap();
    let degraded = memory_store_with(&t.db, Arc::new(down)).await;
    let ctx = degraded
        .context(&ContextRequest {
            npc_id: 1,
            speaker_id: 7,
            message: "anything new?".into(),
            ..ContextRequest::default()
        })
        .await
        .unwrap();
    assert!(ctx.degraded && ctx.memories.is_empty() && ctx.lore.is_empty());
    assert_eq!(ctx.recent.len(), 3);
}

async fn pending_rows_are_embedded_by_the_worker(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let mock = MockOpenAi::start(1536).unwrap();
    mock.set_fallback(MockReply::status(500));
    let openai = OpenAiEmbedder::new(OpenAiSettings {
        api_key: "k".into(),
        base_url: Some(mock.base_url()),
        model: "mnemo-hash-v1".into(),
        deadline: Duration::from_millis(200),
        ..OpenAiSettings::default()
    })
    .unwrap();
    let down = memory_store_with(&t.db, Arc::new(openai)).await;
    let stored = down
        .store::<Npc>(NewNpcMemory {
            npc_id: 4,
            user_message: "the well is poisoned".into(),
            ..NewNpcMemory::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.embedding_state, EmbeddingState::Pending);
    assert!(
        down.embed_missing(MemoryKind::Npc, 10, EmbedScope::Pending)
            .await
            .is_err(),
        "still down"
    );

    let up = Arc::new(memory_store(&t.db).await);
    let search = NpcSearch {
        npc_id: 4,
        query: Some("poisoned well".into()),
        top_k: 5,
        ..NpcSearch::default()
    };
    assert!(
        up.search_npc(&search).await.unwrap().is_empty(),
        "pending rows are not searchable"
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let worker = mnemo::memory::spawn_pending_worker(
        up.clone(),
        mnemo::memory::WorkerSettings {
            idle: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            ..mnemo::memory::WorkerSettings::default()
        },
        rx,
    );
    let mut found = Vec::new();
    for _ in 0..200 {
        found = up.search_npc(&search).await.unwrap().items;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tx.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].memory.id, stored.memory.id);
    assert_eq!(
        found[0].memory.embedding_model.as_deref(),
        Some("mnemo-hash-v1")
    );
}

on_both_backends!(
    combat_scopes_and_filters,
    lore_upsert_outcomes_and_access_rule,
    context_embeds_once,
    pending_rows_are_embedded_by_the_worker,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sees_writes_from_another_process() {
    let t = TestDb::migrated("sqlite").await;
    let server = memory_store(&t.db).await;
    let search = NpcSearch {
        npc_id: 1,
        query: Some("gate".into()),
        top_k: 5,
        ..NpcSearch::default()
    };
    assert!(server.search_npc(&search).await.unwrap().is_empty());
    // Another process: its own connections to the same files.
    let other_db = mnemo::db::Db::open(&t.target).await.unwrap();
    let other = memory_store(&other_db).await;
    let written = other
        .store::<Npc>(NewNpcMemory {
            npc_id: 1,
            user_message: "open the gate".into(),
            ..NewNpcMemory::default()
        })
        .await
        .unwrap();
    let found = server.search_npc(&search).await.unwrap();
    assert_eq!(
        found.iter().map(|r| r.memory.id).collect::<Vec<_>>(),
        vec![written.memory.id]
    );
    other.delete::<Npc>(written.memory.id).await.unwrap();
    assert!(
        server.search_npc(&search).await.unwrap().is_empty(),
        "deletes propagate too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_selective_filter_still_returns_top_k() {
    let pg = TestDb::migrated("postgres").await;
    let store = memory_store(&pg.db).await;
    // 3,000 memories of one NPC, 1 % of them with speaker 7.
    let batch: Vec<NewNpcMemory> = (0..3000u64)
        .map(|i| NewNpcMemory {
            npc_id: 1,
            speaker_id: if i % 100 == 0 { 7 } else { 1 },
            user_message: format!("m{i}"),
            embedding: Some(random_vector(i, 1536)),
            ..NewNpcMemory::default()
        })
        .collect();
    for chunk in batch.chunks(250) {
        store.store_batch::<Npc>(chunk.to_vec()).await.unwrap();
    }
    let mnemo::db::Pool::Postgres(pool) = pg.db.pool(mnemo::db::Alias::AiMemory) else {
        unreachable!()
    };
    sqlx::query("ANALYZE ai_memory_npcmemory")
        .execute(pool)
        .await
        .unwrap();
    let s = NpcSearch {
        npc_id: 1,
        speaker_id: Some(7),
        embedding: Some(random_vector(99_999, 1536)),
        top_k: 20,
        ..NpcSearch::default()
    };
    let found = store.search_npc(&s).await.unwrap();
    assert_eq!(found.len(), 20, "30 rows match; top 20 must come back");
    assert!(found.iter().all(|r| r.memory.speaker_id == 7));
}

async fn data_of_another_model_is_refused_at_open(backend: &str) {
    let t = TestDb::migrated(backend).await;
    mnemo::with_pool!(t.db.pool(mnemo::db::Alias::AiMemory), |p| {
        sqlx::query("INSERT INTO ai_memory_lorememory (title, content, scope_level, created_at, updated_at, embedding_model) VALUES ('t', 'c', 'local', $1, $1, 'text-embedding-3-small')")
            .bind(mnemo::db::now_micros())
            .execute(p)
            .await
            .unwrap();
    });
    let cached = Arc::new(mnemo::embed::CachedEmbedder::new(
        Arc::new(mnemo::embed::HashEmbedder::new(1536)),
        10,
    ));
    let err = match mnemo::memory::MemoryStore::open(t.db.clone(), cached, Default::default()).await
    {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened a store over another model's vectors"),
    };
    assert!(
        err.contains("text-embedding-3-small") && err.contains("mnemo-hash-v1"),
        "{err}"
    );
    assert!(err.contains("mnemo reembed --kind lore"), "{err}");
}

on_both_backends!(data_of_another_model_is_refused_at_open);
