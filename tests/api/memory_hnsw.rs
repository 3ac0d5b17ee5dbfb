//! SQLite mode: large partitions get an HNSW index built in the background, and
//! searches through it keep recall against the exact scan.

use std::sync::Arc;

use crate::support::db::{TestDb, random_vector};
use mnemo::embed::{CachedEmbedder, HashEmbedder};
use mnemo::memory::Npc;
use mnemo::memory::{MemoryKind, MemorySettings, MemoryStore, NewNpcMemory, NpcSearch};
use mnemo::vector::HnswSettings;

const DIM: usize = 1536;

fn clustered(i: u64, centers: &[Vec<f32>]) -> Vec<f32> {
    let c = &centers[(i as usize) % centers.len()];
    let noise = random_vector(10_000 + i, DIM);
    c.iter().zip(noise).map(|(a, n)| a + 0.35 * n).collect()
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v
        .iter()
        .map(|x| (*x as f64) * (*x as f64))
        .sum::<f64>()
        .sqrt();
    v.iter().map(|x| (*x as f64 / n) as f32).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_partitions_are_searched_through_hnsw_with_high_recall() {
    let t = TestDb::migrated("sqlite").await;
    let settings = MemorySettings {
        hnsw: HnswSettings {
            threshold: 1_000,
            ..HnswSettings::default()
        },
        ..MemorySettings::default()
    };
    let embedder = Arc::new(CachedEmbedder::new(Arc::new(HashEmbedder::new(DIM)), 10));
    let store = MemoryStore::open(t.db.clone(), embedder, settings)
        .await
        .unwrap();

    let centers: Vec<Vec<f32>> = (0..20).map(|c| random_vector(c, DIM)).collect();
    let vectors: Vec<Vec<f32>> = (0..3_000).map(|i| clustered(i, &centers)).collect();
    let mut ids = Vec::new();
    for (c, chunk) in vectors.chunks(250).enumerate() {
        let batch = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| NewNpcMemory {
                npc_id: 1,
                // Distinct texts: equal ones would be one repeated memory.
                user_message: format!("x{c}.{i}"),
                embedding: Some(v.clone()),
                ..NewNpcMemory::default()
            })
            .collect();
        ids.extend(
            store
                .store_batch::<Npc>(batch)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.memory.id),
        );
    }
    let index = store.index().expect("SQLite mode keeps an in-memory index");

    // The build runs off-thread; searches stay exact meanwhile and install it when done.
    let probe = NpcSearch {
        npc_id: 1,
        embedding: Some(vectors[0].clone()),
        top_k: 10,
        ..NpcSearch::default()
    };
    for _ in 0..600 {
        if index.indexed_partitions(MemoryKind::Npc) == 1 {
            break;
        }
        store.search_npc(&probe).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        index.indexed_partitions(MemoryKind::Npc),
        1,
        "the HNSW index was installed"
    );

    let normalized: Vec<Vec<f32>> = vectors.iter().map(|v| unit(v)).collect();
    let mut overlap = 0;
    let queries = 30;
    for q in 0..queries {
        let query = unit(&clustered(50_000 + q, &centers));
        let mut exact: Vec<(f64, i64)> = normalized
            .iter()
            .zip(&ids)
            .map(|(v, id)| {
                (
                    v.iter()
                        .zip(&query)
                        .map(|(a, b)| (*a as f64) * (*b as f64))
                        .sum(),
                    *id,
                )
            })
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0));
        let truth: Vec<i64> = exact.iter().take(10).map(|(_, id)| *id).collect();
        let s = NpcSearch {
            npc_id: 1,
            embedding: Some(query),
            top_k: 10,
            ..NpcSearch::default()
        };
        let got = store.search_npc(&s).await.unwrap();
        overlap += got.iter().filter(|r| truth.contains(&r.memory.id)).count();
    }
    let recall = overlap as f64 / (10 * queries) as f64;
    assert!(recall >= 0.95, "recall@10 = {recall}");

    // Rows removed after the build are never returned.
    store.delete::<Npc>(ids[0]).await.unwrap();
    let after = store.search_npc(&probe).await.unwrap();
    assert!(after.iter().all(|r| r.memory.id != ids[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn int8_first_pass_finds_the_same_best_match() {
    let t = TestDb::migrated("sqlite").await;
    let settings = MemorySettings {
        hnsw: HnswSettings {
            int8_rescore: 4,
            ..HnswSettings::default()
        },
        ..MemorySettings::default()
    };
    let embedder = Arc::new(CachedEmbedder::new(Arc::new(HashEmbedder::new(DIM)), 10));
    let store = MemoryStore::open(t.db.clone(), embedder, settings)
        .await
        .unwrap();
    let batch: Vec<NewNpcMemory> = (0..400u64)
        .map(|i| NewNpcMemory {
            npc_id: 2,
            user_message: format!("m{i}"),
            embedding: Some(random_vector(i, DIM)),
            ..NewNpcMemory::default()
        })
        .collect();
    let mut stored = Vec::new();
    for chunk in batch.chunks(200) {
        stored.extend(store.store_batch::<Npc>(chunk.to_vec()).await.unwrap());
    }
    for probe in [3usize, 150, 399] {
        let s = NpcSearch {
            npc_id: 2,
            embedding: Some(random_vector(probe as u64, DIM)),
            top_k: 3,
            ..NpcSearch::default()
        };
        let found = store.search_npc(&s).await.unwrap();
        assert_eq!(found[0].memory.id, stored[probe].memory.id);
        assert!(
            (found[0].similarity.unwrap() - 1.0).abs() < 1e-5,
            "rescored in f32"
        );
    }
}
