//! The two engines agree: the same rows, the same filters, the same query on
//! SQLite's in-memory engine and on pgvector give the same ids in the same
//! order with the same similarities (exact ranking on both below the HNSW
//! threshold). Every filter a kind has is a row of the tables below; every
//! search mode (vector, keyword, hybrid) too; and neither engine returns a row
//! past its expiry (one row in seven of the world has expired).

use chrono::{DateTime, Duration, TimeZone, Utc};
use mnemo::db::{Alias, Args, Db};
use mnemo::memory::{
    Combat, CombatScope, CombatSearch, MemoryKind, MemoryStore, NewCombatMemory, NewLoreMemory,
    NewNpcMemory, Npc, NpcSearch, SearchMode,
};

use crate::support::db::{TestDb, memory_store, random_vector};

const DIM: usize = 1536;

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(minutes)
}

/// 300 NPC memories over 3 NPCs and 5 speakers, 120 encounters over 2 mob
/// types, 60 lore entries with tag sets; every row its own vector and a
/// creation time of its own, and every row whose id is a multiple of 7
/// expired (set after the write, before the stores load).
async fn world(db: &Db) -> MemoryStore {
    let store = memory_store(db).await;
    let npc: Vec<NewNpcMemory> = (0..300u64)
        .map(|i| NewNpcMemory {
            npc_id: 1 + (i % 3) as i64,
            speaker_id: (i % 5) as i64,
            speaker_name: format!("Speaker{}", i % 5),
            user_message: format!("m{i}"),
            embedding: Some(random_vector(i, DIM)),
            ..NewNpcMemory::default()
        })
        .collect();
    for chunk in npc.chunks(150) {
        store.store_batch::<Npc>(chunk.to_vec()).await.unwrap();
    }
    let combat: Vec<NewCombatMemory> = (0..120u64)
        .map(|i| NewCombatMemory {
            mob_type: if i % 2 == 0 { "wolf" } else { "boar" }.into(),
            mob_name: ["Grey", "Fang", "Old Tusk"][(i % 3) as usize].into(),
            outcome: ["win", "loss", "fled", "draw"][(i % 4) as usize].into(),
            party_size: Some((i % 5) as i32),
            summary: format!("fight {i}"),
            embedding: Some(random_vector(10_000 + i, DIM)),
            ..NewCombatMemory::default()
        })
        .collect();
    store.store_batch::<Combat>(combat).await.unwrap();
    let tag_sets: [&[&str]; 4] = [&[], &["a"], &["b"], &["a", "b"]];
    for i in 0..60u64 {
        let tags = tag_sets[(i % 4) as usize];
        store
            .upsert_lore(NewLoreMemory {
                title: format!("entry {i}"),
                content: format!("lore {i}"),
                scope_level: "local".into(),
                scope_tags: tags.iter().map(|t| t.to_string()).collect(),
                embedding: Some(random_vector(20_000 + i, DIM)),
                ..NewLoreMemory::default()
            })
            .await
            .unwrap();
    }
    for kind in MemoryKind::ALL {
        let pool = db.pool(Alias::AiMemory);
        let ids: Vec<(i64,)> = pool
            .fetch_all(&format!("SELECT id FROM {}", kind.table()), Args::new())
            .await
            .unwrap();
        for (id,) in ids {
            let mut args = Args::new();
            let expired = (id % 7 == 0).then(|| Utc::now() - Duration::minutes(1));
            let sql = format!(
                "UPDATE {} SET created_at = {}, expires_at = {} WHERE id = {}",
                kind.table(),
                args.push(at(id)),
                args.push(expired),
                args.push(id)
            );
            pool.execute(&sql, args).await.unwrap();
        }
    }
    // A fresh store: SQLite's engine loads the creation times just set.
    memory_store(db).await
}

/// Ids and similarities, in rank order.
type Ranked = Vec<(i64, f32)>;

fn ranked<T: mnemo::memory::Record>(results: mnemo::memory::SearchResults<T>) -> Ranked {
    results
        .into_iter()
        .map(|r| (r.memory.id(), r.similarity.unwrap_or(r.score)))
        .collect()
}

/// Ids and scores (BM25, fused rank) of a keyword or hybrid search.
fn scored<T: mnemo::memory::Record>(results: mnemo::memory::SearchResults<T>) -> Ranked {
    results
        .into_iter()
        .map(|r| (r.memory.id(), r.score))
        .collect()
}

#[track_caller]
fn assert_agree(case: &str, lite: &Ranked, pg: &Ranked) {
    assert!(!lite.is_empty(), "{case}: found something");
    assert!(
        lite.iter().all(|(id, _)| id % 7 != 0),
        "{case}: no expired row"
    );
    let ids = |r: &Ranked| r.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    assert_eq!(ids(lite), ids(pg), "{case}: same rows in the same order");
    for ((_, a), (_, b)) in lite.iter().zip(pg) {
        assert!((a - b).abs() < 1e-5, "{case}: {a} vs {b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_rank_every_filter_alike() {
    let (lite_db, pg_db) = (
        TestDb::migrated("sqlite").await,
        TestDb::migrated("postgres").await,
    );
    let (lite, pg) = (world(&lite_db.db).await, world(&pg_db.db).await);
    let npc = |seed: u64| NpcSearch {
        npc_id: 1,
        embedding: Some(random_vector(seed, DIM)),
        top_k: 10,
        ..NpcSearch::default()
    };
    let npc_cases = [
        ("npc, no filter", npc(1)),
        (
            "npc, speaker id",
            NpcSearch {
                speaker_id: Some(2),
                ..npc(2)
            },
        ),
        (
            "npc, speaker name",
            NpcSearch {
                speaker_name: Some("Speaker3".into()),
                ..npc(3)
            },
        ),
        (
            "npc, since",
            NpcSearch {
                since: Some(at(150)),
                ..npc(4)
            },
        ),
        (
            "npc, until",
            NpcSearch {
                until: Some(at(120)),
                ..npc(5)
            },
        ),
        (
            "npc, since, until and speaker",
            NpcSearch {
                since: Some(at(30)),
                until: Some(at(270)),
                speaker_id: Some(4),
                ..npc(6)
            },
        ),
    ];
    for (case, search) in npc_cases {
        let lite_hits = ranked(lite.search_npc(&search).await.unwrap());
        let pg_hits = ranked(pg.search_npc(&search).await.unwrap());
        assert_agree(case, &lite_hits, &pg_hits);
    }

    let combat = |seed: u64| CombatSearch {
        mob_type: "wolf".into(),
        embedding: Some(random_vector(seed, DIM)),
        top_k: 8,
        ..CombatSearch::default()
    };
    let combat_cases = [
        ("combat, no filter", combat(11)),
        (
            "combat, outcome",
            CombatSearch {
                outcome: Some("win".into()),
                ..combat(12)
            },
        ),
        (
            "combat, party size range",
            CombatSearch {
                party_size_min: Some(2),
                party_size_max: Some(3),
                ..combat(13)
            },
        ),
        (
            "combat, one named mob",
            CombatSearch {
                scope: CombatScope::PerInstance,
                mob_name: Some("Grey".into()),
                ..combat(14)
            },
        ),
        (
            "combat, hybrid (the named mob, then its type without it)",
            CombatSearch {
                scope: CombatScope::Hybrid,
                mob_name: Some("Fang".into()),
                outcome: Some("win".into()),
                top_k: 12,
                ..combat(15)
            },
        ),
    ];
    for (case, search) in combat_cases {
        let lite_hits = ranked(lite.search_combat(&search).await.unwrap());
        let pg_hits = ranked(pg.search_combat(&search).await.unwrap());
        assert_agree(case, &lite_hits, &pg_hits);
    }

    for (case, tags) in [
        ("lore, no tags: untagged entries only", vec![]),
        ("lore, one tag", vec!["a".to_owned()]),
        ("lore, both tags", vec!["b".to_owned(), "a".to_owned()]),
    ] {
        let search = mnemo::memory::LoreSearch {
            embedding: Some(random_vector(30 + tags.len() as u64, DIM)),
            npc_tags: tags,
            top_k: 10,
            ..mnemo::memory::LoreSearch::default()
        };
        let lite_hits = ranked(lite.search_lore(&search).await.unwrap());
        let pg_hits = ranked(pg.search_lore(&search).await.unwrap());
        assert_agree(case, &lite_hits, &pg_hits);
    }
    // The kinds' own lists agree too.
    let boars =
        mnemo::memory::Filter::all().and(mnemo::memory::Cond::Eq("mob_type", "boar".into()));
    let ids = |records: Vec<mnemo::memory::CombatMemory>| {
        records.into_iter().map(|m| m.id).collect::<Vec<_>>()
    };
    let lite_list = ids(lite.list::<Combat>(&boars, 0, 500).await.unwrap());
    let pg_list = ids(pg.list::<Combat>(&boars, 0, 500).await.unwrap());
    assert_eq!(lite_list, pg_list);
    assert_eq!(lite_list.len(), 60 - 8, "the unexpired boars");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_agree_in_keyword_and_hybrid_modes() {
    let (lite_db, pg_db) = (
        TestDb::migrated("sqlite").await,
        TestDb::migrated("postgres").await,
    );
    let (lite, pg) = (world(&lite_db.db).await, world(&pg_db.db).await);
    for mode in [SearchMode::Keyword, SearchMode::Hybrid] {
        let npc = |seed: u64, query: &str| NpcSearch {
            npc_id: 1,
            query: Some(query.into()),
            embedding: Some(random_vector(seed, DIM)),
            top_k: 10,
            mode,
            ..NpcSearch::default()
        };
        let npc_cases = [
            ("npc", npc(1, "m1 m4 m10 Speaker2 said")),
            (
                "npc, speaker id",
                NpcSearch {
                    speaker_id: Some(2),
                    ..npc(2, "m7 m22 m52 Speaker2")
                },
            ),
            (
                "npc, since and until",
                NpcSearch {
                    since: Some(at(30)),
                    until: Some(at(200)),
                    ..npc(3, "m31 m40 replied")
                },
            ),
        ];
        for (case, search) in npc_cases {
            let case = format!("{case} ({mode:?})");
            let lite_hits = scored(lite.search_npc(&search).await.unwrap());
            let pg_hits = scored(pg.search_npc(&search).await.unwrap());
            assert_agree(&case, &lite_hits, &pg_hits);
        }
        let combat = CombatSearch {
            mob_type: "wolf".into(),
            query: Some("fight 12 14 16".into()),
            embedding: Some(random_vector(40, DIM)),
            outcome: Some("fled".into()),
            top_k: 8,
            mode,
            ..CombatSearch::default()
        };
        let case = format!("combat, outcome ({mode:?})");
        let lite_hits = scored(lite.search_combat(&combat).await.unwrap());
        let pg_hits = scored(pg.search_combat(&combat).await.unwrap());
        assert_agree(&case, &lite_hits, &pg_hits);
        let lore = mnemo::memory::LoreSearch {
            query: Some("lore 1 5 9 13".into()),
            embedding: Some(random_vector(41, DIM)),
            npc_tags: vec!["a".into()],
            top_k: 10,
            mode,
            ..mnemo::memory::LoreSearch::default()
        };
        let case = format!("lore, one tag ({mode:?})");
        let lite_hits = scored(lite.search_lore(&lore).await.unwrap());
        let pg_hits = scored(pg.search_lore(&lore).await.unwrap());
        assert_agree(&case, &lite_hits, &pg_hits);
    }
}
