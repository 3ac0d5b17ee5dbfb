//! How a search ranks: exactly below `HnswSettings::threshold` rows in the
//! searched scope (both backends, so both return the same rows), through the
//! HNSW index above it.

use std::sync::Arc;

use crate::support::db::{TestDb, random_vector};
use mnemo::db::{Alias, Pool};
use mnemo::embed::{CachedEmbedder, Embedder as _, HashEmbedder};
use mnemo::memory::Npc;
use mnemo::memory::{MemorySettings, MemoryStore, NewNpcMemory, NpcSearch};
use mnemo::vector::{HnswSettings, sign_bits};
use rand::{Rng, SeedableRng};

const DIM: usize = 1536;
const PER_NPC: u64 = 600;

async fn store_with(t: &TestDb, settings: MemorySettings) -> MemoryStore {
    let embedder = Arc::new(CachedEmbedder::new(Arc::new(HashEmbedder::new(DIM)), 10));
    MemoryStore::open(t.db.clone(), embedder, settings)
        .await
        .expect("open memory store")
}

/// Two NPCs of random vectors; returns (id, vector) of NPC 1's rows.
async fn fill(store: &MemoryStore) -> Vec<(i64, Vec<f32>)> {
    let mut npc1 = Vec::new();
    for npc_id in [1i64, 2] {
        let vectors: Vec<Vec<f32>> = (0..PER_NPC)
            .map(|i| random_vector(npc_id as u64 * 100_000 + i, DIM))
            .collect();
        for (c, chunk) in vectors.chunks(200).enumerate() {
            let batch = chunk
                .iter()
                .enumerate()
                .map(|(i, v)| NewNpcMemory {
                    npc_id,
                    // Distinct texts: equal ones would be one repeated memory.
                    user_message: format!("x{c}.{i}"),
                    embedding: Some(v.clone()),
                    ..NewNpcMemory::default()
                })
                .collect();
            let stored = store.store_batch::<Npc>(batch).await.expect("store batch");
            if npc_id == 1 {
                npc1.extend(
                    stored
                        .iter()
                        .map(|m| m.memory.id)
                        .zip(chunk.iter().cloned()),
                );
            }
        }
    }
    npc1
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

fn exact_top(rows: &[(i64, Vec<f32>)], q: &[f32], k: usize) -> Vec<i64> {
    let mut scored: Vec<(f64, i64)> = rows.iter().map(|(id, v)| (cosine(v, q), *id)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(k).map(|(_, id)| id).collect()
}

async fn top_ids(store: &MemoryStore, q: &[f32], k: usize) -> Vec<i64> {
    let found = store
        .search_npc(&NpcSearch {
            npc_id: 1,
            embedding: Some(q.to_vec()),
            top_k: k,
            ..NpcSearch::default()
        })
        .await
        .expect("search");
    found.into_iter().map(|s| s.memory.id).collect()
}

/// With `ef_search = 1` an HNSW walk would miss neighbours; a scope below the
/// threshold is ranked exactly anyway, filtered to its NPC, in score order.
async fn small_scopes_are_ranked_exactly(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let store = store_with(
        &t,
        MemorySettings {
            ef_search: 1,
            ..MemorySettings::default()
        },
    )
    .await;
    let rows = fill(&store).await;
    for seed in 0..25 {
        let q = random_vector(900_000 + seed, DIM);
        assert_eq!(
            top_ids(&store, &q, 10).await,
            exact_top(&rows, &q, 10),
            "query {seed}"
        );
    }
    assert_eq!(store.searches().exact(), 25);
    assert_eq!(store.searches().index(), 0);
}

on_both_backends!(small_scopes_are_ranked_exactly);

/// Above the threshold Postgres answers through the HNSW index, still
/// filtered to the NPC and still returning full k.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_large_scopes_use_the_index_with_full_k_and_high_recall() {
    let t = TestDb::migrated("postgres").await;
    let store = store_with(
        &t,
        MemorySettings {
            hnsw: HnswSettings {
                threshold: 100,
                ..HnswSettings::default()
            },
            ..MemorySettings::default()
        },
    )
    .await;
    let rows = fill(&store).await;
    let (mut overlap, mut judged) = (0, 0);
    for (id, v) in rows.iter().step_by(30) {
        let got = top_ids(&store, v, 10).await;
        assert_eq!(got.len(), 10, "full k for row {id}");
        assert_eq!(got[0], *id, "a stored vector finds itself first");
        let truth = exact_top(&rows, v, 10);
        overlap += got.iter().filter(|g| truth.contains(g)).count();
        judged += truth.len();
    }
    let recall = overlap as f64 / judged as f64;
    assert!(recall >= 0.9, "recall@10 {recall}");
    assert_eq!(store.searches().index(), 20);
    assert_eq!(store.searches().exact(), 0);
}

/// Exact ties (the same vector stored again) are broken the same way on both
/// backends: newest first, so `top_k` keeps the latest of them.
async fn exact_ties_keep_the_newest(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let store = store_with(&t, MemorySettings::default()).await;
    let v = random_vector(42, DIM);
    let mut ids = Vec::new();
    for i in 0..6 {
        let stored = store
            .store_batch::<Npc>(vec![NewNpcMemory {
                npc_id: 1,
                // Distinct texts: equal ones would be one repeated memory.
                user_message: format!("again {i}"),
                embedding: Some(v.clone()),
                ..NewNpcMemory::default()
            }])
            .await
            .expect("store");
        ids.push(stored[0].memory.id);
    }
    let newest: Vec<i64> = ids.iter().rev().take(3).copied().collect();
    assert_eq!(top_ids(&store, &v, 3).await, newest);
}

on_both_backends!(exact_ties_keep_the_newest);

fn with_bits(pg_binary_rescore: usize) -> MemorySettings {
    MemorySettings {
        pg_binary_rescore: mnemo::vector::BitRescore::Times(pg_binary_rescore),
        ..MemorySettings::default()
    }
}

/// The sign-bit first pass: a stored vector finds itself first, scores are
/// exact cosine, and when the candidates cover the scope the answer is the
/// exact answer, in its order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sign_bits_rescore_exactly() {
    let t = TestDb::migrated("postgres").await;
    let bits = store_with(&t, with_bits(8)).await;
    let rows = fill(&bits).await;
    for (id, v) in rows.iter().step_by(60) {
        let got = top_ids(&bits, v, 10).await;
        assert_eq!(got[0], *id, "a stored vector finds itself first");
    }
    let found = bits
        .search_npc(&NpcSearch {
            npc_id: 1,
            embedding: Some(rows[7].1.clone()),
            top_k: 10,
            ..NpcSearch::default()
        })
        .await
        .unwrap();
    let by_id: std::collections::HashMap<i64, &Vec<f32>> =
        rows.iter().map(|(id, v)| (*id, v)).collect();
    for r in &found {
        let exact = cosine(by_id[&r.memory.id], &rows[7].1);
        assert!(
            (f64::from(r.similarity.expect("a vector search scores")) - exact).abs() < 1e-5,
            "re-scored exactly"
        );
    }
    // 60 x 10 candidates cover NPC 1's 600 rows: the exact answer.
    let covering = store_with(&t, with_bits(60)).await;
    for seed in 0..10 {
        let q = random_vector(800_000 + seed, DIM);
        assert_eq!(top_ids(&covering, &q, 10).await, exact_top(&rows, &q, 10));
    }
}

fn pg_pool(t: &TestDb) -> &sqlx::PgPool {
    let Pool::Postgres(pool) = t.db.pool(Alias::AiMemory) else {
        panic!("a Postgres database")
    };
    pool
}

/// A sparse vector of `DIM` with 24 random non-zero components, as lexical
/// hashing gives (the offline hash provider's vectors are 98 % zeros).
fn sparse_vector(seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0.0f32; DIM];
    for _ in 0..24 {
        v[rng.random_range(0..DIM)] = rng.random_range(-1.0f32..1.0);
    }
    v
}

/// Every stored row's signs, as the row's stored vector's `sign_bits` would be.
async fn signs_match_vectors(t: &TestDb) -> (usize, usize) {
    let rows: Vec<(pgvector::Vector, Option<pgvector::Bit>)> = sqlx::query_as(
        "SELECT embedding_vector, CAST(embedding_signs AS bit(2048)) FROM ai_memory_npcmemory",
    )
    .fetch_all(pg_pool(t))
    .await
    .unwrap();
    let matching = rows
        .iter()
        .filter(|(v, signs)| {
            signs.as_ref().map(|b| b.as_bytes().to_vec()) == Some(sign_bits(v.as_slice()))
        })
        .count();
    (matching, rows.len())
}

/// Sparse vectors rank by the signs of their rotated vectors: a first pass of
/// 4 × k keeps the exact answer's rows (raw signs, nearly all 0 for such
/// vectors, kept about a tenth of them), and the signs written with each row
/// are those of its stored vector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sparse_vectors_rank_by_their_rotated_signs() {
    let t = TestDb::migrated("postgres").await;
    let narrow = store_with(&t, with_bits(4)).await;
    let mut rows = Vec::new();
    for c in 0..3u64 {
        let vectors: Vec<Vec<f32>> = (0..200).map(|i| sparse_vector(c * 1000 + i)).collect();
        let batch = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| NewNpcMemory {
                npc_id: 1,
                user_message: format!("s{c}.{i}"),
                embedding: Some(v.clone()),
                ..NewNpcMemory::default()
            })
            .collect();
        let stored = narrow.store_batch::<Npc>(batch).await.unwrap();
        rows.extend(stored.iter().map(|m| m.memory.id).zip(vectors));
    }
    assert_eq!(signs_match_vectors(&t).await, (600, 600));
    let (mut found, mut wanted) = (0, 0);
    for seed in 0..30 {
        let q = sparse_vector(900_000 + seed);
        let exact = exact_top(&rows, &q, 10);
        let got = top_ids(&narrow, &q, 10).await;
        found += got.iter().filter(|id| exact.contains(id)).count();
        wanted += exact.len();
    }
    let recall = found as f64 / wanted as f64;
    assert!(recall >= 0.9, "recall@10 {recall}");
}

/// Rows stored before the signs were written beside each vector (by a
/// service at migration 0009, the last without them) have none after the
/// upgrade: a search scores them exactly, even with a first pass too narrow to
/// reach them, and housekeeping writes their signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rows_stored_before_signs_are_scored_exactly_then_signed() {
    let t = TestDb::migrated_until("postgres", Alias::AiMemory, "0009_memory_lifecycle").await;
    let model = HashEmbedder::new(DIM).model().to_owned();
    let rows: Vec<(i64, Vec<f32>)> = (0..PER_NPC)
        .map(|i| (i as i64 + 1, random_vector(700_000 + i, DIM)))
        .collect();
    for (id, v) in &rows {
        let mut unit = v.clone();
        mnemo::vector::normalize(&mut unit, DIM).unwrap();
        sqlx::query(
            "INSERT INTO ai_memory_npcmemory (id, npc_id, summary, created_at, embedding_vector, embedding_model)
             VALUES ($1, 1, $2, now(), $3, $4)",
        )
        .bind(id)
        .bind(format!("old {id}"))
        .bind(pgvector::Vector::from(unit))
        .bind(&model)
        .execute(pg_pool(&t))
        .await
        .unwrap();
    }
    mnemo::db::migrate::migrate(&t.db, &[Alias::AiMemory], &Default::default(), None)
        .await
        .unwrap();
    let narrow = store_with(&t, with_bits(1)).await;
    for (id, v) in rows.iter().step_by(60) {
        assert_eq!(
            top_ids(&narrow, v, 1).await,
            vec![*id],
            "found by exact score"
        );
    }
    assert_eq!(signs_match_vectors(&t).await, (0, PER_NPC as usize));
    let done = narrow.housekeeping().await.unwrap();
    assert_eq!(done.signed, PER_NPC);
    assert_eq!(
        signs_match_vectors(&t).await,
        (PER_NPC as usize, PER_NPC as usize)
    );
    assert_eq!(
        narrow.housekeeping().await.unwrap().signed,
        0,
        "nothing left"
    );
    for (id, v) in rows.iter().step_by(60) {
        assert_eq!(
            top_ids(&narrow, v, 1).await,
            vec![*id],
            "found by its signs"
        );
    }
}

/// Above the threshold, a filter keeping 1 % of the scope still returns full k:
/// the HNSW walk may visit the whole scope, and the exact ranking answers if it
/// comes back short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_one_percent_filter_above_the_threshold_returns_full_k() {
    let t = TestDb::migrated("postgres").await;
    let store = store_with(
        &t,
        MemorySettings {
            hnsw: HnswSettings {
                threshold: 500,
                ..HnswSettings::default()
            },
            ..MemorySettings::default()
        },
    )
    .await;
    let batch: Vec<NewNpcMemory> = (0..3000u64)
        .map(|i| NewNpcMemory {
            npc_id: 1,
            speaker_id: if i % 100 == 0 { 7 } else { 1 },
            user_message: format!("m{i}"),
            embedding: Some(random_vector(i, DIM)),
            ..NewNpcMemory::default()
        })
        .collect();
    for chunk in batch.chunks(250) {
        store.store_batch::<Npc>(chunk.to_vec()).await.unwrap();
    }
    let found = store
        .search_npc(&NpcSearch {
            npc_id: 1,
            speaker_id: Some(7),
            embedding: Some(random_vector(99_999, DIM)),
            top_k: 20,
            ..NpcSearch::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 20, "30 rows match; top 20 must come back");
    assert!(found.iter().all(|r| r.memory.speaker_id == 7));
    assert!(
        store.searches().index() >= 1,
        "the scope is above the threshold"
    );
}
