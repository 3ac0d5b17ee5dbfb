//! Tests of the index lifecycle: background builds queued in the pool, changes
//! replayed on install, superseded builds, rebuilds and dropped indexes.

use super::tests::{filled, filled_with, ids, settings};
use super::*;

#[test]
fn changes_made_during_a_build_are_replayed_on_install() {
    let (mut p, mut data) = filled(1500, 32, 1000, 3);
    let job = p.start_build();
    assert!(p.build_in_progress() && !p.needs_build());
    // While the build runs the partition keeps changing and searching (exactly).
    let removed: Vec<(i64, Vec<f32>)> = (0..100)
        .map(|id| (id, p.partition().get_vector(id).unwrap().to_vec()))
        .collect();
    for (id, _) in &removed {
        p.remove(*id);
    }
    let fresh: Vec<(i64, Vec<f32>)> = (0..100).map(|i| (50_000 + i, data.point())).collect();
    for (id, v) in &fresh {
        p.upsert(*id, 0, 0, v);
    }
    let moved = data.point();
    p.upsert(500, 0, 0, &moved);
    assert_eq!(p.search(&moved, 1, None).strategy, Strategy::Exact);

    assert!(p.install(job.run()));
    assert!(!p.build_in_progress());
    for (id, v) in &removed {
        let got = p.search(v, 10, None);
        assert_eq!(got.strategy, Strategy::Hnsw);
        assert!(!ids(&got.hits).contains(id));
    }
    for (id, v) in &fresh {
        assert_eq!(p.search(v, 1, None).hits[0].id, *id);
    }
    let got = p.search(&moved, 1, None).hits[0];
    assert_eq!(got.id, 500);
    assert!((got.score - 1.0).abs() < 1e-5);
}

#[test]
fn superseded_build_is_refused() {
    let (mut p, _) = filled(1200, 16, 1000, 4);
    let first = p.start_build();
    let second = p.start_build();
    assert!(!p.install(first.run()));
    assert!(!p.has_index());
    assert!(p.install(second.run()));
    assert!(p.has_index());
}

#[test]
fn first_build_runs_in_background_while_searches_stay_exact() {
    let (mut p, mut data) = filled(1200, 16, 1000, 5);
    assert!(p.needs_build());
    assert_eq!(p.maintain(), Maintenance::BuildStarted);
    assert!(!p.needs_build(), "one build at a time");
    let q = data.point();
    assert_eq!(p.search(&q, 5, None).strategy, Strategy::Exact);
    let report = p.wait_for_build().expect("build installed");
    assert_eq!(report.rows, 1200);
    assert_eq!(p.search(&q, 5, None).strategy, Strategy::Hnsw);
    assert_eq!(p.maintain(), Maintenance::Idle);
}

#[test]
fn dead_share_over_the_limit_triggers_a_rebuild() {
    let (mut p, mut data) = filled(1500, 16, 1000, 6);
    p.build_now();
    // Repaired nodes count as dead too: start from the graph's own share.
    let nodes = p.index_nodes() as f64;
    let already_dead = p.dead_fraction() * nodes;
    // 20 % dead is still tolerated...
    let allowed = (0.2 * nodes - already_dead).floor() as i64;
    for id in 0..allowed {
        p.remove(id);
    }
    assert!(p.dead_fraction() <= 0.2);
    assert!(!p.needs_build());
    // ...a little more is not.
    p.remove(allowed);
    p.remove(allowed + 1);
    assert!(p.needs_build());
    assert_eq!(p.maintain(), Maintenance::BuildStarted);
    // The old index keeps serving during the rebuild, dead nodes filtered.
    let q = data.point();
    let during = p.search(&q, 10, None);
    assert_eq!(during.strategy, Strategy::Hnsw);
    assert!(during.hits.iter().all(|h| h.id > allowed + 1));
    p.wait_for_build().expect("rebuild installed");
    assert_eq!(p.dead_fraction(), 0.0);
    assert_eq!(p.index_nodes(), p.len());
}

#[test]
fn below_threshold_searches_scan_and_a_shrunk_index_is_dropped() {
    let (mut p, mut data) = filled(1100, 16, 1000, 7);
    p.build_now();
    let q = data.point();
    assert_eq!(p.search(&q, 5, None).strategy, Strategy::Hnsw);
    for id in 0..150 {
        p.remove(id);
    }
    assert_eq!(p.search(&q, 5, None).strategy, Strategy::Exact);
    assert_eq!(
        p.maintain(),
        Maintenance::Idle,
        "hysteresis: keep it above half"
    );
    for id in 150..650 {
        p.remove(id);
    }
    assert_eq!(p.maintain(), Maintenance::IndexDropped);
    assert!(!p.has_index());
}

#[test]
fn two_partitions_needing_builds_take_turns_in_the_pool_and_both_get_indexed() {
    let pool = BuildPool::new(1);
    let own_pool = |threshold| HnswSettings {
        build_pool: pool.clone(),
        ..settings(threshold)
    };
    let (mut a, mut data) = filled_with(own_pool(1000), 1200, 16, 8);
    let (mut b, _) = filled_with(own_pool(1000), 1300, 16, 9);
    // Occupy the pool's only turn so that both builds have to queue behind it.
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let (started, running) = std::sync::mpsc::channel::<()>();
    pool.submit(Box::new(move || {
        started.send(()).unwrap();
        hold.recv().unwrap();
    }))
    .unwrap();
    running.recv().unwrap();

    assert_eq!(
        a.maintain(),
        Maintenance::BuildStarted,
        "maintain never blocks"
    );
    assert_eq!(b.maintain(), Maintenance::BuildStarted);
    assert_eq!((pool.running(), pool.queued()), (1, 2));
    assert_eq!(a.maintain(), Maintenance::Idle, "still queued");
    let q = data.point();
    assert_eq!(a.search(&q, 5, None).strategy, Strategy::Exact);

    release.send(()).unwrap();
    let first = a.wait_for_build().expect("a's build installed");
    let second = b.wait_for_build().expect("b's build installed");
    assert!(a.has_index() && b.has_index());
    assert_eq!((first.rows, second.rows), (1200, 1300));
    assert_eq!(pool.peak(), 1, "never two builds at once");
    assert!(
        second.waited >= first.elapsed,
        "b waited for a's build: {second:?}"
    );
    assert_eq!(a.search(&q, 5, None).strategy, Strategy::Hnsw);
}

#[test]
fn a_cancelled_build_still_queued_is_skipped() {
    let pool = BuildPool::new(1);
    let own_pool = HnswSettings {
        build_pool: pool.clone(),
        ..settings(1000)
    };
    let (mut p, _) = filled_with(own_pool, 1200, 16, 10);
    let (release, hold) = std::sync::mpsc::channel::<()>();
    pool.submit(Box::new(move || hold.recv().unwrap())).unwrap();
    assert_eq!(p.maintain(), Maintenance::BuildStarted);
    p.cancel_build();
    release.send(()).unwrap();
    // The pool drains: the skipped build leaves nothing behind and the next one runs.
    assert_eq!(p.maintain(), Maintenance::BuildStarted);
    assert!(p.wait_for_build().is_some());
    assert!(p.has_index());
}
