//! The process's HNSW builds take turns: a pool runs at most `limit` builds at once
//! and queues the rest, so partitions crossing the threshold together do not start
//! one all-cores build each.
//!
//! A build of 24,000 × 1536 takes about 10 s on both cores of this 2-core machine
//! kind; two at once would each take twice as long and starve the request workers
//! for the whole time. One at a time, the first index is ready as soon as it can be,
//! and searches of the partitions still waiting stay exact (slower, never wrong).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// A task the pool runs on one of its worker threads.
pub(crate) type Task = Box<dyn FnOnce() + Send>;

/// A handle on a build pool; clones share the pool (and compare equal).
///
/// Worker threads exist only while there is work: the first task submitted to an idle
/// pool starts one, and a worker that finds the queue empty ends.
#[derive(Clone)]
pub struct BuildPool {
    inner: Arc<Inner>,
}

struct Inner {
    limit: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Task>,
    running: usize,
    peak: usize,
}

impl BuildPool {
    /// A pool running at most `limit` builds at once (at least one).
    pub fn new(limit: usize) -> Self {
        BuildPool {
            inner: Arc::new(Inner {
                limit: limit.max(1),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The process-wide pool of one build at a time, the default of
    /// [`HnswSettings::build_pool`](super::HnswSettings::build_pool).
    pub fn global() -> Self {
        static GLOBAL: OnceLock<BuildPool> = OnceLock::new();
        GLOBAL.get_or_init(|| BuildPool::new(1)).clone()
    }

    /// Builds that may run at once.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Tasks running now.
    pub fn running(&self) -> usize {
        self.state().running
    }

    /// Tasks waiting for a turn.
    pub fn queued(&self) -> usize {
        self.state().queue.len()
    }

    /// The most tasks that ever ran at once in this pool.
    pub fn peak(&self) -> usize {
        self.state().peak
    }

    /// Queue `task`; it runs as soon as fewer than `limit` tasks are running. Never
    /// blocks on the work itself.
    ///
    /// # Errors
    /// When no worker thread could be started for it (the task is then dropped).
    pub(crate) fn submit(&self, task: Task) -> std::io::Result<()> {
        let mut state = self.state();
        state.queue.push_back(task);
        if state.running >= self.inner.limit {
            return Ok(());
        }
        state.running += 1;
        state.peak = state.peak.max(state.running);
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name("mnemo-hnsw-build".into())
            .spawn(move || pool.work());
        if let Err(e) = spawned {
            state.running -= 1;
            state.queue.pop_back();
            return Err(e);
        }
        Ok(())
    }

    /// A worker: run queued tasks until none is left.
    fn work(&self) {
        loop {
            let task = {
                let mut state = self.state();
                match state.queue.pop_front() {
                    Some(task) => task,
                    None => {
                        state.running -= 1;
                        return;
                    }
                }
            };
            // A panicking build must not end the worker with `running` still counting
            // it; the task's owner sees the panic as a result never delivered.
            let _ = catch_unwind(AssertUnwindSafe(task));
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a queue and two counters, each update a single statement:
        // a panic elsewhere cannot leave it half-written.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PartialEq for BuildPool {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for BuildPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildPool")
            .field("limit", &self.inner.limit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn tasks_beyond_the_limit_wait_their_turn() {
        let pool = BuildPool::new(1);
        let (release, hold) = mpsc::channel::<()>();
        let (started, running) = mpsc::channel::<()>();
        let (done, finished) = mpsc::channel::<u32>();
        pool.submit(Box::new(move || {
            started.send(()).unwrap();
            hold.recv().unwrap();
        }))
        .unwrap();
        running.recv().unwrap();
        for n in 0..3 {
            let done = done.clone();
            pool.submit(Box::new(move || done.send(n).unwrap()))
                .unwrap();
        }
        assert_eq!((pool.running(), pool.queued()), (1, 3));
        release.send(()).unwrap();
        let order: Vec<u32> = (0..3).map(|_| finished.recv().unwrap()).collect();
        assert_eq!(order, [0, 1, 2], "first in, first out");
        assert_eq!(pool.peak(), 1);
    }

    #[test]
    fn a_panicking_task_does_not_stop_the_pool() {
        let pool = BuildPool::new(1);
        let (done, finished) = mpsc::channel::<()>();
        pool.submit(Box::new(|| panic!("build failed"))).unwrap();
        pool.submit(Box::new(move || done.send(()).unwrap()))
            .unwrap();
        finished.recv().unwrap();
    }
}
