//! Shared by the provider-switch tests: a small world stored with one provider,
//! searches whose right answers do not depend on the provider, and checks of
//! what the database holds after a switch.

use std::sync::Arc;

use mnemo::db::{Alias, Db, Pool};
use mnemo::embed::{CachedEmbedder, Embedder};
use mnemo::memory::{Combat, Npc};
use mnemo::memory::{
    CombatSearch, LoreSearch, MemoryError, MemoryKind, MemorySettings, MemoryStore,
    NewCombatMemory, NewLoreMemory, NewNpcMemory, NpcSearch, hnsw_index,
};

pub const NPC: [&str; 5] = [
    "The blacksmith forged a silver sword for the captain of the guard",
    "The baker sells fresh bread at the market every morning",
    "Wolves attacked the northern farms during the winter storm",
    "The harbor master collects a toll from every fishing boat",
    "A red dragon sleeps beneath the burning mountain",
];
pub const COMBAT: [&str; 3] = [
    "The pack surrounded the party in the forest and bit the healer first",
    "The alpha wolf fled across the frozen river after losing half its pack",
    "Two wolves ambushed a lone hunter at night near the old mill",
];
pub const LORE: [(&str, &str); 3] = [
    (
        "Bridge",
        "The stone bridge over the river collapsed in the great flood",
    ),
    (
        "Lighthouse",
        "The lighthouse keeper lights the lamp when ships approach",
    ),
    (
        "Crown",
        "The old king hid his golden crown in the royal crypt",
    ),
];

/// Rows per kind that [`fill`] stores.
pub fn rows(kind: MemoryKind) -> usize {
    match kind {
        MemoryKind::Npc => NPC.len(),
        MemoryKind::Combat => COMBAT.len(),
        MemoryKind::Lore => LORE.len(),
    }
}

fn cached(embedder: Arc<dyn Embedder>) -> Arc<CachedEmbedder> {
    Arc::new(CachedEmbedder::new(embedder, 100))
}

/// The store as `mnemo serve` opens it: refused over data of another provider.
pub async fn open(db: &Db, embedder: Arc<dyn Embedder>) -> Result<MemoryStore, MemoryError> {
    MemoryStore::open(db.clone(), cached(embedder), MemorySettings::default()).await
}

/// The store as `mnemo reembed` opens it.
pub async fn open_unchecked(db: &Db, embedder: Arc<dyn Embedder>) -> MemoryStore {
    MemoryStore::open_unchecked(db.clone(), cached(embedder), MemorySettings::default())
        .await
        .expect("open the store without the model check")
}

/// Store the world: NPC 1's memories, wolf fights, lore without tags.
pub async fn fill(store: &MemoryStore) {
    for text in NPC {
        store
            .store::<Npc>(NewNpcMemory {
                npc_id: 1,
                summary: Some(text.into()),
                ..NewNpcMemory::default()
            })
            .await
            .expect("store an NPC memory");
    }
    for text in COMBAT {
        store
            .store::<Combat>(NewCombatMemory {
                mob_type: "wolf".into(),
                outcome: "win".into(),
                summary: text.into(),
                ..NewCombatMemory::default()
            })
            .await
            .expect("store a fight");
    }
    for (title, content) in LORE {
        store
            .upsert_lore(NewLoreMemory {
                title: title.into(),
                content: content.into(),
                scope_level: "regional".into(),
                source: "world.yaml".into(),
                ..NewLoreMemory::default()
            })
            .await
            .expect("store lore");
    }
}

/// NPC 1's memories found for `query` (up to 10), most similar first.
pub async fn npc_hits(store: &MemoryStore, query: &str) -> Vec<(String, f32)> {
    store
        .search_npc(&NpcSearch {
            npc_id: 1,
            query: Some(query.into()),
            top_k: 10,
            ..NpcSearch::default()
        })
        .await
        .expect("search NPC memories")
        .into_iter()
        .map(|r| {
            (
                r.memory.summary,
                r.similarity.expect("ranked by similarity"),
            )
        })
        .collect()
}

/// Every stored text is searchable and is its own best match with similarity 1
/// (the query and the row were embedded by the same model at the same size).
pub async fn assert_searches(store: &MemoryStore) {
    for text in NPC {
        let hits = npc_hits(store, text).await;
        assert_eq!(hits.len(), NPC.len(), "every NPC memory is searchable");
        assert_eq!(hits[0].0, text);
        assert!((hits[0].1 - 1.0).abs() < 1e-4, "similarity {}", hits[0].1);
    }
    for text in COMBAT {
        let hits = store
            .search_combat(&CombatSearch {
                mob_type: "wolf".into(),
                query: Some(text.into()),
                top_k: 10,
                ..CombatSearch::default()
            })
            .await
            .expect("search fights");
        assert_eq!(hits.len(), COMBAT.len(), "every fight is searchable");
        assert_eq!(hits[0].memory.summary, text);
    }
    for (title, content) in LORE {
        let hits = store
            .search_lore(&LoreSearch {
                query: Some(content.into()),
                top_k: 10,
                ..LoreSearch::default()
            })
            .await
            .expect("search lore");
        assert_eq!(hits.len(), LORE.len(), "every lore entry is searchable");
        assert_eq!(hits[0].memory.title, title);
    }
}

/// Every row of `kind` holds a vector of `dim` values; on Postgres the column
/// is `vector(dim)` stored inline and its HNSW index exists with the
/// migration's parameters.
pub async fn assert_dimension(db: &Db, kind: MemoryKind, dim: usize) {
    let table = kind.table();
    match db.pool(Alias::AiMemory) {
        Pool::Sqlite(pool) => {
            let sql = format!("SELECT DISTINCT length(embedding) FROM {table}");
            let lengths: Vec<(Option<i64>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .expect("blob lengths");
            assert_eq!(lengths, vec![(Some(dim as i64 * 4),)], "{table}");
        }
        Pool::Postgres(pool) => {
            assert_eq!(pg_column_dimension(db, kind).await, dim as i32, "{table}");
            let sql = format!("SELECT DISTINCT vector_dims(embedding_vector) FROM {table}");
            let dims: Vec<(Option<i32>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .expect("vector dimensions");
            assert_eq!(dims, vec![(Some(dim as i32),)], "{table}");
            // Vectors stay inline (migration 0003_vector_storage_plain), resized or not.
            let (storage,): (i8,) = sqlx::query_as(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'embedding_vector'",
            )
            .bind(table)
            .fetch_one(pool)
            .await
            .expect("column storage");
            assert_eq!(storage as u8, b'p', "{table} storage");
            let def = pg_index_definition(db, kind)
                .await
                .unwrap_or_else(|| panic!("{} is missing", hnsw_index(kind)));
            for part in [
                "USING hnsw (embedding_vector vector_cosine_ops)",
                "m='16'",
                "ef_construction='64'",
            ] {
                assert!(def.contains(part), "{def}");
            }
        }
    }
}

/// The `N` of the Postgres `vector(N)` column of `kind`.
pub async fn pg_column_dimension(db: &Db, kind: MemoryKind) -> i32 {
    let Pool::Postgres(pool) = db.pool(Alias::AiMemory) else {
        panic!("a Postgres database")
    };
    let (typmod,): (i32,) = sqlx::query_as(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'embedding_vector'",
    )
    .bind(kind.table())
    .fetch_one(pool)
    .await
    .expect("column type");
    typmod
}

/// The definition of the HNSW index of `kind`, if it exists.
pub async fn pg_index_definition(db: &Db, kind: MemoryKind) -> Option<String> {
    let Pool::Postgres(pool) = db.pool(Alias::AiMemory) else {
        panic!("a Postgres database")
    };
    sqlx::query_as::<_, (String,)>(
        "SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexname = $2",
    )
    .bind(kind.table())
    .bind(hnsw_index(kind))
    .fetch_optional(pool)
    .await
    .expect("index definition")
    .map(|(d,)| d)
}

/// What the first step of a re-embedding does on Postgres, run alone: as if
/// the run stopped right after it.
pub async fn pg_resize_only(db: &Db, kind: MemoryKind, dim: usize) {
    let Pool::Postgres(pool) = db.pool(Alias::AiMemory) else {
        panic!("a Postgres database")
    };
    let sql = format!(
        "DROP INDEX {index}; ALTER TABLE {table} ALTER COLUMN embedding_vector TYPE vector({dim}) USING NULL;
         ALTER TABLE {table} ALTER COLUMN embedding_vector SET STORAGE PLAIN;
         ALTER TABLE {table} ALTER COLUMN embedding_signs TYPE bit varying USING NULL",
        index = hnsw_index(kind),
        table = kind.table()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .expect("resize the column");
}
