//! SQLite mode: the records searches answered lately, kept in memory so that a
//! search whose hits are all cached asks the database nothing.
//!
//! Reading ten records through sqlx is a query on its connection's worker
//! thread, two thread hand-offs plus the page reads: on the npc set it was a
//! third of a search's time over HTTP once the ranking itself was in memory
//! (wrk, concurrency 1, p50 0.40 ms with every record read, 0.26 ms with them
//! cached).
//!
//! The cache is exactly as fresh as the in-memory index: every committed change
//! to a row goes through the change log, and the index's catch-up, which runs
//! before each search, forgets the changed rows ([`RecordCache::forget`]). A
//! record read from the database is cached only if nothing was forgotten since
//! the read began ([`RecordCache::generation`]): a read racing a change may
//! return the old version, but never caches it.

use std::any::Any;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use lru::LruCache;

use super::kind::{MemoryKind, Record};

type Entry = Arc<dyn Any + Send + Sync>;

/// Up to a fixed number of records, least recently used dropped first.
pub struct RecordCache {
    /// `None` when the capacity is 0: nothing is cached.
    state: Option<Mutex<State>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

struct State {
    entries: LruCache<(MemoryKind, i64), Entry>,
    /// Bumped by every forget.
    generation: u64,
}

impl RecordCache {
    /// A cache of up to `capacity` records (0 caches nothing).
    pub fn new(capacity: usize) -> Self {
        Self {
            state: NonZeroUsize::new(capacity).map(|c| {
                Mutex::new(State {
                    entries: LruCache::new(c),
                    generation: 0,
                })
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether the cache keeps anything at all.
    pub fn is_on(&self) -> bool {
        self.state.is_some()
    }

    fn lock(&self) -> Option<MutexGuard<'_, State>> {
        // Every update is one call on the LRU map, so a panic elsewhere while
        // holding the lock cannot leave it half-changed.
        self.state
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The mark to pass to [`insert`](Self::insert), taken before reading the
    /// records from the database.
    pub fn generation(&self) -> u64 {
        self.lock().map_or(0, |s| s.generation)
    }

    /// The cached records of `kind` among `ids` unexpired at `now`, and the ids
    /// still to read.
    pub fn get<R: Record>(
        &self,
        kind: MemoryKind,
        ids: &[i64],
        now: DateTime<Utc>,
    ) -> (HashMap<i64, R>, Vec<i64>) {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        if let Some(mut state) = self.lock() {
            for &id in ids {
                let live = state
                    .entries
                    .get(&(kind, id))
                    .and_then(|e| e.downcast_ref::<R>())
                    .filter(|r| r.expires_at().is_none_or(|at| at > now));
                match live {
                    Some(record) => {
                        found.insert(id, record.clone());
                    }
                    None => missing.push(id),
                }
            }
        } else {
            missing.extend_from_slice(ids);
        }
        self.hits.fetch_add(found.len() as u64, Ordering::Relaxed);
        self.misses
            .fetch_add(missing.len() as u64, Ordering::Relaxed);
        (found, missing)
    }

    /// Cache `records` of `kind`, read from the database after
    /// [`generation`](Self::generation) returned `read_at`, unless a change was
    /// forgotten since (the read may predate it).
    pub fn insert<R: Record>(&self, kind: MemoryKind, records: &HashMap<i64, R>, read_at: u64) {
        let Some(mut state) = self.lock() else { return };
        if state.generation != read_at {
            return;
        }
        for (&id, record) in records {
            state
                .entries
                .put((kind, id), Arc::new(record.clone()) as Entry);
        }
    }

    /// Drop the records of rows that changed.
    pub fn forget(&self, changed: impl IntoIterator<Item = (MemoryKind, i64)>) {
        let Some(mut state) = self.lock() else { return };
        state.generation += 1;
        for key in changed {
            state.entries.pop(&key);
        }
    }

    /// Drop every record (the index reloaded from the tables).
    pub fn clear(&self) {
        let Some(mut state) = self.lock() else { return };
        state.generation += 1;
        state.entries.clear();
    }

    /// Records answered from the cache since it was made.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Records the cache did not hold when asked.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
    struct Note {
        id: i64,
        text: String,
        expires_at: Option<DateTime<Utc>>,
    }

    impl Record for Note {
        fn id(&self) -> i64 {
            self.id
        }
        fn created_at(&self) -> DateTime<Utc> {
            DateTime::UNIX_EPOCH
        }
        fn expires_at(&self) -> Option<DateTime<Utc>> {
            self.expires_at
        }
        fn is_embedded(&self) -> bool {
            true
        }
        fn game_time(&self) -> Option<DateTime<Utc>> {
            None
        }
    }

    fn notes(ids: &[i64], text: &str) -> HashMap<i64, Note> {
        ids.iter()
            .map(|&id| {
                let note = Note {
                    id,
                    text: format!("{text} {id}"),
                    expires_at: None,
                };
                (id, note)
            })
            .collect()
    }

    const NPC: MemoryKind = MemoryKind::Npc;

    #[test]
    fn cached_records_are_answered_and_the_rest_reported_missing() {
        let cache = RecordCache::new(10);
        let at = cache.generation();
        cache.insert(NPC, &notes(&[1, 2], "said"), at);
        let (found, missing) = cache.get::<Note>(NPC, &[1, 2, 3], Utc::now());
        assert_eq!(found, notes(&[1, 2], "said"));
        assert_eq!(missing, vec![3]);
        assert_eq!((cache.hits(), cache.misses()), (2, 1));
        let (found, missing) = cache.get::<Note>(MemoryKind::Lore, &[1], Utc::now());
        assert!(
            found.is_empty() && missing == vec![1],
            "another kind's id 1"
        );
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_cached() {
        let cache = RecordCache::new(10);
        let before_change = cache.generation();
        cache.forget([(NPC, 1)]);
        cache.insert(NPC, &notes(&[1], "old"), before_change);
        assert_eq!(cache.get::<Note>(NPC, &[1], Utc::now()).1, vec![1]);
        cache.insert(NPC, &notes(&[1], "new"), cache.generation());
        assert_eq!(
            cache.get::<Note>(NPC, &[1], Utc::now()).0,
            notes(&[1], "new")
        );
    }

    #[test]
    fn forgotten_cleared_and_expired_records_are_not_answered() {
        let cache = RecordCache::new(10);
        let mut batch = notes(&[1, 2, 3], "said");
        let now = Utc::now();
        batch.get_mut(&3).unwrap().expires_at = Some(now);
        cache.insert(NPC, &batch, cache.generation());
        cache.forget([(NPC, 1)]);
        let (found, missing) = cache.get::<Note>(NPC, &[1, 2, 3], now);
        assert_eq!(found.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(missing, vec![1, 3], "1 changed, 3 expired");
        cache.clear();
        assert_eq!(cache.get::<Note>(NPC, &[2], now).1, vec![2]);
    }

    #[test]
    fn the_least_recently_used_goes_first_and_size_zero_keeps_nothing() {
        let cache = RecordCache::new(2);
        cache.insert(NPC, &notes(&[1, 2], "said"), cache.generation());
        cache.get::<Note>(NPC, &[1], Utc::now());
        cache.insert(NPC, &notes(&[3], "said"), cache.generation());
        assert_eq!(cache.get::<Note>(NPC, &[1, 2, 3], Utc::now()).1, vec![2]);

        let off = RecordCache::new(0);
        assert!(!off.is_on());
        off.insert(NPC, &notes(&[1], "said"), off.generation());
        assert_eq!(off.get::<Note>(NPC, &[1], Utc::now()).1, vec![1]);
    }
}
