//! Keyword and hybrid search beside vector search: where each mode wins, and
//! keyword search needing no embedding (provider down, pending memories).

use mnemo::memory::MemorySettings;
use serde_json::{Value, json};

use super::{ids, items, post, remember, service};
use crate::support::embedders::Mode;
use crate::support::http::{Service, assert_error};

const GOODS: [&str; 8] = [
    "fish", "spice", "rope", "salt", "wine", "cloth", "nails", "oil",
];

/// Eight harbour merchants, one memory naming a rare name; returns its id.
async fn merchants_and_a_rare_name(s: &Service) -> i64 {
    for goods in GOODS {
        remember(
            s,
            super::memory(
                1,
                1,
                &format!("A merchant from the harbor sold {goods} at the market"),
            ),
        )
        .await;
    }
    remember(
        s,
        super::memory(1, 1, "Vexmoor is a name nobody says aloud"),
    )
    .await
}

async fn search(s: &Service, query: &str, mode: &str, top_k: usize) -> Value {
    let (status, body) = post(
        s,
        "/v1/memories/npc/search",
        json!({"npc_id": 1, "query": query, "mode": mode, "top_k": top_k}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], mode);
    body
}

async fn a_rare_name_is_found_first_by_keywords_and_low_by_vectors(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let rare = merchants_and_a_rare_name(&s).await;
    let query = "did the harbor merchant at the market mention Vexmoor";

    let by_vector = search(&s, query, "vector", 9).await;
    let by_words = search(&s, query, "keyword", 3).await;

    let rank = ids(&by_vector)
        .iter()
        .position(|id| *id == rare)
        .expect("ranked");
    assert!(rank >= 3, "the vector ranks the rare name low: {rank}");
    assert_eq!(ids(&by_words)[0], rare, "{by_words}");
    let first = &items(&by_words)[0];
    assert_eq!(
        first["similarity"],
        Value::Null,
        "keyword results have no similarity"
    );
    assert!(first["score"].as_f64().unwrap() > items(&by_words)[1]["score"].as_f64().unwrap());
    s.stop().await;
}

async fn a_paraphrase_is_found_by_vectors_only(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    merchants_and_a_rare_name(&s).await;
    let wolves = remember(
        &s,
        super::memory(1, 1, "Wolves attacked the caravan on the north road"),
    )
    .await;
    // Other forms of the same words: the hash vectors fold them, keywords do not.
    let query = "caravans attacking";

    let by_vector = search(&s, query, "vector", 3).await;
    let by_words = search(&s, query, "keyword", 3).await;

    assert_eq!(ids(&by_vector)[0], wolves);
    assert!(items(&by_words).is_empty(), "{by_words}");
    assert_eq!(
        (by_words["returned"].clone(), by_words["exhausted"].clone()),
        (json!(0), json!(true))
    );
    s.stop().await;
}

async fn hybrid_finds_what_each_list_alone_misses(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let rare = remember(
        &s,
        super::memory(1, 1, "Vexmoor is a name nobody says aloud"),
    )
    .await;
    remember(
        &s,
        super::memory(1, 1, "Wolves attacked the caravan on the north road"),
    )
    .await;
    remember(
        &s,
        super::memory(1, 1, "An attacked caravan limped home at dusk"),
    )
    .await;
    let query = "Vexmoor caravans attacking";

    let by_vector = search(&s, query, "vector", 2).await;
    let by_words = search(&s, query, "keyword", 2).await;
    let fused = search(&s, query, "hybrid", 2).await;

    assert!(
        !ids(&by_vector).contains(&rare),
        "the vector's top 2: {by_vector}"
    );
    assert_eq!(ids(&by_words), vec![rare], "keywords find the name only");
    let best_by_vector = ids(&by_vector)[0];
    let mut got = ids(&fused);
    got.sort_unstable();
    let mut want = vec![rare, best_by_vector];
    want.sort_unstable();
    assert_eq!(got, want, "{fused}");
    let rare_hit = items(&fused).iter().find(|m| m["id"] == rare).unwrap();
    let rrf_rank_one = 1.0 / 61.0;
    assert!(
        rare_hit["score"].as_f64().unwrap() > rrf_rank_one,
        "in both lists: {rare_hit}"
    );
    assert!(
        rare_hit["similarity"].is_number(),
        "the vector list's similarity"
    );
    s.stop().await;
}

async fn keywords_need_no_embedding(backend: &str) {
    let (s, provider) = service(backend, MemorySettings::default()).await;
    let stored = remember(&s, super::memory(1, 7, "Vexmoor walks the marsh at night")).await;
    provider.set(Mode::Down);
    let (status, pending) = post(
        &s,
        "/v1/memories/npc",
        super::memory(1, 7, "the Vexmoor lantern is lit"),
    )
    .await;
    assert_eq!(status, 202, "{pending}");
    let pending = pending["id"].as_i64().unwrap();

    let by_words = search(&s, "Vexmoor", "keyword", 5).await;
    let fused = search(&s, "Vexmoor", "hybrid", 5).await;
    let (status, by_vector) = post(
        &s,
        "/v1/memories/npc/search",
        json!({"npc_id": 1, "query": "Vexmoor lantern"}),
    )
    .await;
    let (_, context) = post(
        &s,
        "/v1/npcs/1/context",
        json!({"speaker_id": 7, "message": "is the Vexmoor lantern lit?"}),
    )
    .await;

    let mut found = ids(&by_words);
    found.sort_unstable();
    assert_eq!(
        found,
        vec![stored, pending],
        "the pending memory is found by its words"
    );
    assert_eq!(by_words["degraded"], false);
    assert_eq!(fused["degraded"], true, "{fused}");
    assert!(fused["degraded_reason"].is_string());
    assert_eq!(ids(&fused).len(), 2);
    assert_eq!(
        status, 503,
        "a vector search still needs its embedding: {by_vector}"
    );
    assert_eq!(context["degraded"], true);
    let remembered: Vec<i64> = context["memories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        remembered[0], pending,
        "context falls back to keywords: {context}"
    );
    s.stop().await;
}

async fn mode_options_are_checked(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let vector = vec![0.5f32; 1536];
    for (body, field) in [
        (json!({"npc_id": 1, "query": "x", "mode": "fuzzy"}), "mode"),
        (
            json!({"npc_id": 1, "query": "x", "mode": "keyword", "weights": {"recency": 1}}),
            "weights",
        ),
        (
            json!({"npc_id": 1, "query": "x", "mode": "hybrid", "min_similarity": 0.2}),
            "min_similarity",
        ),
        (
            json!({"npc_id": 1, "embedding": vector, "mode": "keyword"}),
            "query",
        ),
        (
            json!({"npc_id": 1, "query": "?! ...", "mode": "keyword"}),
            "query",
        ),
    ] {
        assert_error(
            &post(&s, "/v1/memories/npc/search", body).await,
            400,
            "invalid",
            Some(field),
        );
    }
    assert_error(
        &post(
            &s,
            "/v1/memories/combat/search",
            json!({"mob_type": "wolf", "query": "x", "mode": "keyword", "decisiveness_weight": 1}),
        )
        .await,
        400,
        "invalid",
        Some("decisiveness_weight"),
    );
    s.stop().await;
}

async fn every_kind_searches_in_every_mode(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    post(
        &s,
        "/v1/memories/combat",
        json!({"mob_type": "wolf", "outcome": "loss", "summary": "A mage burned the pack"}),
    )
    .await;
    post(
        &s,
        "/v1/memories/combat",
        json!({"mob_type": "wolf", "outcome": "win", "summary": "The pack caught a lone archer"}),
    )
    .await;
    super::put(&s, "/v1/memories/lore", json!({"title": "Pack", "content": "Grey wolves hunt the archer roads", "scope_level": "local"})).await;
    for mode in ["vector", "keyword", "hybrid"] {
        let (status, combat) = post(
            &s,
            "/v1/memories/combat/search",
            json!({"mob_type": "wolf", "query": "archer", "mode": mode, "top_k": 5}),
        )
        .await;
        assert_eq!(status, 200, "{combat}");
        assert_eq!(
            items(&combat)[0]["summary"],
            "The pack caught a lone archer",
            "{mode}"
        );
        let (status, lore) = post(
            &s,
            "/v1/memories/lore/search",
            json!({"query": "archer", "mode": mode}),
        )
        .await;
        assert_eq!(status, 200, "{lore}");
        assert_eq!(items(&lore)[0]["title"], "Pack", "{mode}");
    }
    s.stop().await;
}

/// Keyword search reads one partition's words (SQLite: through a partition
/// token in the FTS5 index): partition values whose text overlaps (7, -7, 70;
/// "troll", "cave troll", "Ærø troll") each find their own rows, all of them.
async fn keyword_search_stays_in_its_partition(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let npcs = [7, -7, 70];
    for npc in npcs {
        for i in 0..3 {
            remember(
                &s,
                super::memory(
                    npc,
                    1,
                    &format!("The troll under the bridge, tale {npc} {i}"),
                ),
            )
            .await;
        }
    }
    let mobs = ["troll", "cave troll", "Ærø troll"];
    for mob in mobs {
        let (status, body) = post(
            &s,
            "/v1/memories/combat",
            json!({"mob_type": mob, "outcome": "win", "summary": format!("The troll fell, said the {mob} tale")}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    for npc in npcs {
        let (status, body) = post(
            &s,
            "/v1/memories/npc/search",
            json!({"npc_id": npc, "query": "troll bridge", "mode": "keyword", "top_k": 10}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(items(&body).len(), 3, "npc {npc}: {body}");
        assert!(
            items(&body).iter().all(|m| m["npc_id"] == npc),
            "npc {npc}: {body}"
        );
    }
    for mob in mobs {
        let (status, body) = post(
            &s,
            "/v1/memories/combat/search",
            json!({"mob_type": mob, "query": "troll", "mode": "keyword", "top_k": 10}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(items(&body).len(), 1, "{mob}: {body}");
        assert_eq!(items(&body)[0]["mob_type"], mob, "{body}");
    }
    s.stop().await;
}

on_both_backends!(
    keyword_search_stays_in_its_partition,
    a_rare_name_is_found_first_by_keywords_and_low_by_vectors,
    a_paraphrase_is_found_by_vectors_only,
    hybrid_finds_what_each_list_alone_misses,
    keywords_need_no_embedding,
    mode_options_are_checked,
    every_kind_searches_in_every_mode,
);

/// Rows written before the keyword indexes existed are found by keywords
/// once the migration ran.
async fn the_migration_indexes_existing_rows_for_keywords(backend: &str) {
    use mnemo::db::migrate::{self, MigrateParams};
    use mnemo::db::{Alias, Args};
    let t = crate::support::db::TestDb::empty(backend).await;
    let params = MigrateParams::default();
    migrate::migrate(
        &t.db,
        &[Alias::AiMemory],
        &params,
        Some("0006_changelog_readers"),
    )
    .await
    .expect("migrate to 0006");
    let mut args = Args::new();
    let sql = format!(
        "INSERT INTO ai_memory_npcmemory (npc_id, speaker_id, summary, created_at)
         VALUES (1, 1, 'Vexmoor was here before the index', {})",
        args.push(mnemo::db::now_micros())
    );
    t.db.pool(Alias::AiMemory)
        .execute(&sql, args)
        .await
        .unwrap();
    migrate::migrate(&t.db, &Alias::ALL, &params, None)
        .await
        .expect("migrate the rest");
    let store = crate::support::db::memory_store(&t.db).await;

    let found = store
        .search_npc(&mnemo::memory::NpcSearch {
            npc_id: 1,
            query: Some("vexmoor".into()),
            mode: mnemo::memory::SearchMode::Keyword,
            top_k: 5,
            ..mnemo::memory::NpcSearch::default()
        })
        .await
        .unwrap();

    assert_eq!(found.len(), 1);
    assert_eq!(found[0].memory.summary, "Vexmoor was here before the index");
}

on_both_backends!(the_migration_indexes_existing_rows_for_keywords);
