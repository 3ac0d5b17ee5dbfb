//! NpcMemory on both backends: store, search and its filters, fallbacks,
//! recent, last interaction, deletes, bad vectors, pending rows.

use std::sync::Arc;
use std::time::Duration;

use crate::support::db::{TestDb, memory_store, memory_store_with, random_vector};
use chrono::Utc;
use mnemo::embed::mock::{MockOpenAi, MockReply};
use mnemo::embed::{OpenAiEmbedder, OpenAiSettings};
use mnemo::memory::{Clock, Cond, Filter, Npc};
use mnemo::memory::{EmbeddingState, MemoryError, NewNpcMemory, NpcSearch};

fn said(npc_id: i64, speaker_id: i64, user: &str, reply: &str) -> NewNpcMemory {
    NewNpcMemory {
        npc_id,
        speaker_id,
        speaker_name: format!("Player{speaker_id}"),
        npc_name: format!("Npc{npc_id}"),
        user_message: user.into(),
        assistant_message: reply.into(),
        ..NewNpcMemory::default()
    }
}

fn search(npc_id: i64, query: &str) -> NpcSearch {
    NpcSearch {
        npc_id,
        query: Some(query.into()),
        top_k: 5,
        ..NpcSearch::default()
    }
}

async fn store_and_search_round_trip(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let store = memory_store(&t.db).await;
    let stored = store
        .store::<Npc>(said(1, 7, "Where is the blacksmith?", "By the north gate."))
        .await
        .unwrap();
    assert_eq!(stored.embedding_state, EmbeddingState::Ready);
    assert_eq!(
        stored.memory.summary,
        "Player7 said: \"Where is the blacksmith?\" | Npc1 replied: \"By the north gate.\""
    );
    assert_eq!(stored.memory.interaction_type, "say");
    store
        .store::<Npc>(said(1, 7, "Do you sell bread?", "Fresh every morning."))
        .await
        .unwrap();
    store
        .store::<Npc>(said(2, 7, "Where is the blacksmith?", "No idea."))
        .await
        .unwrap();

    let results = store
        .search_npc(&search(1, "blacksmith north gate"))
        .await
        .unwrap();
    assert_eq!(results.len(), 2, "only NPC 1's memories");
    assert_eq!(results[0].memory.id, stored.memory.id);
    assert!(results[0].similarity > results[1].similarity);
    assert_eq!(results[0].time_ago, "a few minutes ago");
    assert_eq!(
        store.get::<Npc>(stored.memory.id).await.unwrap(),
        stored.memory
    );
}

async fn filters_and_limits(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let store = memory_store(&t.db).await;
    let a = store
        .store::<Npc>(said(1, 7, "the dragon attacked", "run"))
        .await
        .unwrap();
    let b = store
        .store::<Npc>(said(1, 8, "the dragon attacked", "hide"))
        .await
        .unwrap();

    let mut s = search(1, "dragon");
    s.speaker_id = Some(8);
    let only_b = store.search_npc(&s).await.unwrap();
    assert_eq!(
        only_b.iter().map(|r| r.memory.id).collect::<Vec<_>>(),
        vec![b.memory.id]
    );

    let mut s = search(1, "dragon");
    s.since = Some(b.memory.created_at);
    let ids: Vec<i64> = store
        .search_npc(&s)
        .await
        .unwrap()
        .iter()
        .map(|r| r.memory.id)
        .collect();
    assert_eq!(ids, vec![b.memory.id]);
    s.since = None;
    s.until = Some(b.memory.created_at);
    let ids: Vec<i64> = store
        .search_npc(&s)
        .await
        .unwrap()
        .iter()
        .map(|r| r.memory.id)
        .collect();
    assert_eq!(ids, vec![a.memory.id]);

    let mut s = search(1, "completely unrelated words");
    s.min_similarity = Some(0.99);
    assert!(store.search_npc(&s).await.unwrap().is_empty());

    for bad in [0, 101] {
        let mut s = search(1, "dragon");
        s.top_k = bad;
        let err = store.search_npc(&s).await.unwrap_err();
        assert!(
            matches!(err, MemoryError::Invalid { field: "top_k", .. }),
            "{err}"
        );
    }
    let err = store.search_npc(&search(1, "   ")).await.unwrap_err();
    assert!(
        matches!(err, MemoryError::Invalid { field: "query", .. }),
        "{err}"
    );
}

async fn name_fallbacks_after_a_wipe(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let store = memory_store(&t.db).await;
    let mut m = said(1, 7, "I saved your village", "I will never forget");
    m.npc_name = "Grimble".into();
    m.speaker_name = "Aldric".into();
    let old = store.store::<Npc>(m).await.unwrap();

    // After a wipe the NPC is 99 and the player 70: nothing under the new ids.
    let mut s = search(99, "village");
    assert!(store.search_npc(&s).await.unwrap().is_empty());
    s.npc_name = Some("Grimble".into());
    s.speaker_id = Some(70);
    assert!(
        store.search_npc(&s).await.unwrap().is_empty(),
        "id filter kept"
    );
    s.speaker_name = Some("Aldric".into());
    let found = store.search_npc(&s).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].memory.id, old.memory.id);
}

async fn recent_last_interaction_and_forgetting(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let store = memory_store(&t.db).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let speaker = if i % 2 == 0 { 7 } else { 8 };
        ids.push(
            store
                .store::<Npc>(said(1, speaker, &format!("message {i}"), "ok"))
                .await
                .unwrap()
                .memory
                .id,
        );
    }
    let recent = store
        .recent_npc(1, 10, None, None, Clock::now())
        .await
        .unwrap();
    assert_eq!(
        recent.iter().map(|m| m.id).collect::<Vec<_>>(),
        ids[2..].to_vec(),
        "newest 10, oldest first"
    );
    let with_7 = store
        .recent_npc(1, 3, Some(7), None, Clock::now())
        .await
        .unwrap();
    assert_eq!(
        with_7.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![ids[6], ids[8], ids[10]]
    );

    let last = store
        .last_interaction(1, 8, Clock::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        last.created_at,
        store.get::<Npc>(ids[11]).await.unwrap().created_at
    );
    assert_eq!(last.time_ago, "a few minutes ago");
    assert!(
        store
            .last_interaction(1, 9, Clock::now())
            .await
            .unwrap()
            .is_none()
    );

    let page = store
        .list::<Npc>(&Filter::all().and(Cond::Eq("npc_id", 1i64.into())), 0, 5)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|m| m.id).collect::<Vec<_>>(),
        ids[..5].to_vec()
    );
    let next = store
        .list::<Npc>(
            &Filter::all().and(Cond::Eq("npc_id", 1i64.into())),
            ids[4],
            5,
        )
        .await
        .unwrap();
    assert_eq!(next[0].id, ids[5]);

    assert_eq!(store.forget_speaker(8).await.unwrap(), 6);
    let left = store.search_npc(&search(1, "message")).await.unwrap();
    assert!(left.iter().all(|r| r.memory.speaker_id == 7));
    store.delete::<Npc>(ids[0]).await.unwrap();
    assert!(matches!(
        store.delete::<Npc>(ids[0]).await.unwrap_err(),
        MemoryError::NotFound(_)
    ));
    assert_eq!(store.forget_npc(1).await.unwrap(), 5);
    assert!(
        store
            .search_npc(&search(1, "message"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn bad_vectors_are_refused_with_nothing_written(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let store = memory_store(&t.db).await;
    let mut nan = random_vector(1, 1536);
    nan[3] = f32::NAN;
    for (vector, what) in [
        (random_vector(1, 10), "dimension"),
        (nan, "NaN"),
        (vec![0.0; 1536], "zero"),
        (vec![f32::INFINITY; 1536], "infinite"),
    ] {
        let mut good = said(1, 7, "a", "b");
        good.embedding = Some(random_vector(2, 1536));
        let mut bad = said(1, 7, "c", "d");
        bad.embedding = Some(vector);
        let err = store.store_batch::<Npc>(vec![good, bad]).await.unwrap_err();
        assert!(
            matches!(
                err,
                MemoryError::Invalid {
                    field: "embedding",
                    ..
                }
            ),
            "{what}: {err}"
        );
    }
    assert!(
        store
            .list::<Npc>(&Filter::all(), 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn caller_vectors_rank_by_cosine(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let store = memory_store(&t.db).await;
    let target = random_vector(42, 1536);
    let mut batch = Vec::new();
    for seed in 0..20u64 {
        let mut m = said(3, 1, &format!("m{seed}"), "x");
        m.embedding = Some(if seed == 13 {
            target.iter().map(|v| v * 5.0).collect()
        } else {
            random_vector(seed, 1536)
        });
        batch.push(m);
    }
    let stored = store.store_batch::<Npc>(batch).await.unwrap();
    let s = NpcSearch {
        npc_id: 3,
        embedding: Some(target),
        top_k: 3,
        ..NpcSearch::default()
    };
    let found = store.search_npc(&s).await.unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].memory.id, stored[13].memory.id);
    assert!(
        (found[0].similarity.unwrap() - 1.0).abs() < 1e-5,
        "{:?}",
        found[0].similarity
    );
}

async fn provider_down_stores_pending_and_search_says_so(backend: &str) {
    let t = TestDb::migrated(backend).await;
    // Rows written with the hash model stay searchable...
    memory_store(&t.db)
        .await
        .store::<Npc>(said(1, 7, "hello", "hi"))
        .await
        .unwrap();
    let mock = MockOpenAi::start(1536).unwrap();
    mock.set_fallback(MockReply::status(500));
    let openai = OpenAiEmbedder::new(OpenAiSettings {
        api_key: "test".into(),
        base_url: Some(mock.base_url()),
        model: "mnemo-hash-v1".into(),
        deadline: Duration::from_millis(300),
        ..OpenAiSettings::default()
    })
    .unwrap();
    let store = memory_store_with(&t.db, Arc::new(openai)).await;
    let stored = store
        .store::<Npc>(said(1, 7, "the bridge is out", "take the ford"))
        .await
        .unwrap();
    assert_eq!(stored.embedding_state, EmbeddingState::Pending);
    assert!(stored.embedding_error.is_some());
    assert_eq!(stored.memory.embedding_model, None);
    // ...pending rows are in recent, and a query that cannot be embedded is an error, not a silent fallback.
    let recent = store
        .recent_npc(1, 10, None, None, Clock::now())
        .await
        .unwrap();
    assert_eq!(recent.last().unwrap().id, stored.memory.id);
    let err = store.search_npc(&search(1, "bridge")).await.unwrap_err();
    assert!(matches!(err, MemoryError::EmbeddingUnavailable(_)), "{err}");
    let _ = Utc::now();
}

/// A memory deleted as soon as its insert is done (here by a trigger; in
/// production a concurrent forget between commit and answer) is answered from
/// the insert itself: nothing is read back, so nothing can go missing.
async fn a_store_raced_by_a_delete_answers_from_its_insert(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let store = memory_store(&t.db).await;
    let trigger = match t.db.backend() {
        mnemo::db::Backend::Sqlite => {
            "CREATE TRIGGER forget_666 AFTER INSERT ON ai_memory_npcmemory WHEN NEW.npc_id = 666
             BEGIN DELETE FROM ai_memory_npcmemory WHERE id = NEW.id; END"
        }
        mnemo::db::Backend::Postgres => {
            "CREATE FUNCTION forget_666() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN DELETE FROM ai_memory_npcmemory WHERE id = NEW.id; RETURN NULL; END $$;
             CREATE TRIGGER forget_666 AFTER INSERT ON ai_memory_npcmemory
               FOR EACH ROW WHEN (NEW.npc_id = 666) EXECUTE FUNCTION forget_666()"
        }
    };
    mnemo::with_pool!(t.db.pool(mnemo::db::Alias::AiMemory), |p| {
        sqlx::raw_sql(trigger).execute(p).await.map(|_| ()).unwrap()
    });
    let stored = store
        .store::<Npc>(said(666, 1, "remember me", "for a moment"))
        .await
        .expect("answered from the insert");
    assert_eq!(stored.memory.npc_id, 666);
    assert_eq!(stored.embedding_state, EmbeddingState::Ready);
    let gone = store.get::<Npc>(stored.memory.id).await;
    assert!(matches!(gone, Err(MemoryError::NotFound(_))), "{gone:?}");
}

on_both_backends!(
    a_store_raced_by_a_delete_answers_from_its_insert,
    store_and_search_round_trip,
    filters_and_limits,
    name_fallbacks_after_a_wipe,
    recent_last_interaction_and_forgetting,
    bad_vectors_are_refused_with_nothing_written,
    caller_vectors_rank_by_cosine,
    provider_down_stores_pending_and_search_says_so,
);
