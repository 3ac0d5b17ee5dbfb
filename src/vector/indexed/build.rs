//! Building a partition's index off the caller's thread: a snapshot of the rows
//! (`BuildJob`), the build queued in the settings' `BuildPool`, changes made meanwhile
//! replayed on install, and the housekeeping (`maintain`) that drives it all.

use std::collections::HashSet;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use super::IndexedPartition;
use crate::vector::graph::{BuildReport, Graph, GraphParams};

/// A snapshot of a partition's vectors to build an index from, off the caller's thread.
///
/// Obtained from [`IndexedPartition::start_build`]; [`BuildJob::run`] is blocking CPU
/// work (run it in `std::thread::spawn` or tokio's `spawn_blocking`), and its result goes
/// back through [`IndexedPartition::install`].
pub struct BuildJob {
    epoch: u64,
    dim: usize,
    ids: Vec<i64>,
    vectors: Vec<f32>,
    params: GraphParams,
    created: Instant,
}

impl BuildJob {
    /// Rows in the snapshot.
    pub fn rows(&self) -> usize {
        self.ids.len()
    }

    /// Build the graph (parallel insert, self-retrieval check and repair).
    pub fn run(self) -> BuiltIndex {
        let waited = self.created.elapsed();
        let (graph, mut report) = Graph::build(&self.params, &self.ids, &self.vectors, self.dim);
        report.waited = waited;
        BuiltIndex {
            epoch: self.epoch,
            graph,
            report,
        }
    }
}

/// A finished index waiting to be installed with [`IndexedPartition::install`].
pub struct BuiltIndex {
    epoch: u64,
    graph: Graph,
    report: BuildReport,
}

impl BuiltIndex {
    /// What the build did.
    pub fn report(&self) -> &BuildReport {
        &self.report
    }
}

/// What [`IndexedPartition::maintain`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Maintenance {
    /// Nothing to do (or a build is still queued or running).
    Idle,
    /// A background build was handed to the build pool; it runs when the pool has a
    /// free turn ([`HnswSettings::build_pool`](super::HnswSettings::build_pool)).
    BuildStarted,
    /// A finished build was swapped in.
    Installed(BuildReport),
    /// The background build panicked or could not be started; its state was cleared
    /// so a later call retries.
    BuildFailed,
    /// The partition shrank below half the threshold and the index was dropped.
    IndexDropped,
}

/// The build in flight: which ids changed since its snapshot, so they can be replayed
/// into the new graph before it is swapped in.
pub(super) struct PendingBuild {
    epoch: u64,
    pub(super) touched: HashSet<i64>,
    background: Option<Background>,
}

/// A build handed to the pool. Dropping it (a superseded or cancelled build, or a
/// dropped partition) lets the pool skip the build if it has not started yet.
struct Background {
    /// The built index, or a hang-up if the build panicked. In a `Mutex` only so that
    /// the partition stays `Sync` (a `Receiver` is not); it is reached through `&mut`.
    result: Mutex<Receiver<BuiltIndex>>,
    _wanted: Arc<()>,
}

impl<M: Clone + Send + Sync + 'static> IndexedPartition<M> {
    /// `true` when an index should be (re)built now: at or above the threshold, no
    /// build in flight, and either no index or more than `max_dead_fraction` dead nodes.
    pub fn needs_build(&self) -> bool {
        self.part.len() >= self.settings.threshold
            && self.pending.is_none()
            && self
                .graph
                .as_ref()
                .is_none_or(|g| g.dead_fraction() > self.settings.max_dead_fraction)
    }

    /// Snapshot the rows for a build and start tracking changes made meanwhile.
    ///
    /// Copies the arena (`len × dim` floats) under `&mut self`: a memcpy at several GB/s,
    /// after which the caller's lock can be released for the long part. Supersedes any
    /// build in flight: only the result of the latest job is accepted by `install`.
    pub fn start_build(&mut self) -> BuildJob {
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        self.pending = Some(PendingBuild {
            epoch,
            touched: HashSet::new(),
            background: None,
        });
        BuildJob {
            epoch,
            dim: self.part.dim(),
            ids: self.part.ids().to_vec(),
            vectors: self.part.arena().to_vec(),
            params: self.settings.graph_params(),
            created: Instant::now(),
        }
    }

    /// Swap in a finished index. Returns `false` (and discards it) when the job was
    /// superseded by a later [`Self::start_build`] or cancelled.
    ///
    /// Rows upserted or removed since the snapshot are replayed into the new graph
    /// first, so it matches the partition exactly when it goes live. The old graph is
    /// dropped on a separate thread: freeing a large graph (an `Arc` and a lock per
    /// point) takes a while and should not hold the caller's write lock.
    pub fn install(&mut self, built: BuiltIndex) -> bool {
        let current = self
            .pending
            .as_ref()
            .is_some_and(|p| p.epoch == built.epoch);
        if !current {
            drop_in_background(built);
            return false;
        }
        let pending = self.pending.take().expect("checked above");
        let mut graph = built.graph;
        for id in pending.touched {
            match self.part.get_vector(id) {
                Some(vector) => {
                    graph.insert(id, vector);
                }
                None => {
                    graph.remove(id);
                }
            }
        }
        if let Some(old) = self.graph.replace(graph) {
            drop_in_background(old);
        }
        true
    }

    /// Forget the build in flight (its result will be refused by `install`; a build
    /// still queued in the pool is skipped). Needed only if a [`BuildJob`] is
    /// abandoned, since `needs_build` is false while one is pending.
    pub fn cancel_build(&mut self) {
        self.pending = None;
    }

    /// Build the index on the caller's thread and install it, e.g. at start-up before
    /// serving (rebuilding from the stored vectors is simpler than hnsw_rs's
    /// dump/reload, whose loaded index borrows from its loader).
    pub fn build_now(&mut self) -> BuildReport {
        let built = self.start_build().run();
        let report = built.report.clone();
        self.install(built);
        report
    }

    /// Housekeeping to call after writes (cheap when there is nothing to do, never
    /// blocking on a build): installs a finished background build, queues one in the
    /// build pool when [`Self::needs_build`], and drops the index of a partition that
    /// shrank below half the threshold (hysteresis, so a partition hovering at the
    /// threshold does not rebuild over and over).
    pub fn maintain(&mut self) -> Maintenance {
        if let Some(background) = self.pending.as_mut().and_then(|p| p.background.as_mut()) {
            let result = background
                .result
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .try_recv();
            return match result {
                Ok(built) => {
                    let report = built.report.clone();
                    if self.install(built) {
                        Maintenance::Installed(report)
                    } else {
                        Maintenance::Idle
                    }
                }
                Err(TryRecvError::Empty) => Maintenance::Idle,
                Err(TryRecvError::Disconnected) => {
                    self.pending = None;
                    Maintenance::BuildFailed
                }
            };
        }
        if self.needs_build() {
            return self.queue_build();
        }
        if self.graph.is_some() && self.part.len() < self.settings.threshold / 2 {
            if let Some(old) = self.graph.take() {
                drop_in_background(old);
            }
            return Maintenance::IndexDropped;
        }
        Maintenance::Idle
    }

    /// Snapshot the rows and hand the build to the pool.
    fn queue_build(&mut self) -> Maintenance {
        let job = self.start_build();
        let (deliver, result) = channel();
        let wanted = Arc::new(());
        let still_wanted: Weak<()> = Arc::downgrade(&wanted);
        let task = Box::new(move || {
            if still_wanted.upgrade().is_some() {
                // The receiver may be gone by the time the build ends (superseded):
                // the index is then simply dropped.
                let _ = deliver.send(job.run());
            }
        });
        match self.settings.build_pool.submit(task) {
            Ok(()) => {
                if let Some(pending) = &mut self.pending {
                    pending.background = Some(Background {
                        result: Mutex::new(result),
                        _wanted: wanted,
                    });
                }
                Maintenance::BuildStarted
            }
            Err(_) => {
                self.pending = None;
                Maintenance::BuildFailed
            }
        }
    }

    /// Block until the background build started by [`Self::maintain`] finishes (after
    /// waiting for its turn in the pool), and install it. Returns `None` when no such
    /// build was queued, or it failed or was superseded.
    pub fn wait_for_build(&mut self) -> Option<BuildReport> {
        let background = self.pending.as_mut()?.background.take()?;
        let received = background
            .result
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .recv();
        match received {
            Ok(built) => {
                let report = built.report.clone();
                self.install(built).then_some(report)
            }
            Err(_) => {
                self.pending = None;
                None
            }
        }
    }
}

/// Drop a large value on a short-lived thread so the caller (holding a lock) does not
/// wait for it. If the thread cannot be spawned, the value is dropped here instead.
pub(super) fn drop_in_background<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("mnemo-hnsw-drop".into())
        .spawn(move || drop(value));
}
