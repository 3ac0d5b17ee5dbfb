//! `scan`: the vector core in process on a data set, without HTTP or storage:
//! the exact f32 scan, each first-pass plan (int8, sign bits, bits then int8, each
//! re-scored in f32), and (unless `--hnsw 0`) the HNSW index (build time, then
//! search at several `ef`), each with its time per query and recall@10 against the
//! float64 ground truth. Each query searches its own partition, as the service
//! does. One JSON line per method. This is what decides which first pass is on by
//! default.
//!
//! `--rescore N` sets the int8 factor (default 4), `--binary 4,8,16` the sign-bit
//! factors tried (alone and followed by int8), `--ef 32,64,100,200` the HNSW sweep
//! and `--passes N` how often the queries are repeated per method (default 1).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use mnemo::vector::{HnswSettings, IndexedPartition, Partition, ScanPlan, Strategy};
use serde_json::json;

use crate::args::{arg, num};
use crate::dataset::{read_f32, read_json};

const K: usize = 10;

/// On-CPU time of this thread in nanoseconds (`/proc/thread-self/schedstat`, Linux),
/// so a method's cost is measured without the time a busy machine keeps it waiting;
/// 0 where the file is missing.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A comma-separated list flag, e.g. `--binary 4,8,16`.
fn list(args: &[String], name: &str, default: &[usize]) -> Vec<usize> {
    arg(args, name).map_or_else(
        || default.to_vec(),
        |v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
    )
}

pub fn scan(dir: &Path, args: &[String]) {
    let meta = read_json(&dir.join("base.json"));
    let dim = meta["dim"].as_u64().expect("dim") as usize;
    let base = read_f32(&dir.join("base.f32"), dim);
    let queries = read_f32(&dir.join("queries.f32"), dim);
    let qmeta = read_json(&dir.join("queries.json"));
    let truth: Vec<Vec<i64>> = serde_json::from_value::<Vec<Vec<i64>>>(qmeta["truth_rows"].clone())
        .expect("truth")
        .into_iter()
        .map(|rows| rows.into_iter().take(K).collect())
        .collect();
    let rescore = num(args, "--rescore", 4);
    let passes = num(args, "--passes", 1).max(1);
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into());
    let report = |method: &str,
                  (seconds, cpu): (f64, f64),
                  hits: Vec<Vec<i64>>,
                  extra: serde_json::Value| {
        let overlap: usize = hits
            .iter()
            .zip(&truth)
            .map(|(got, want)| got.iter().filter(|id| want.contains(id)).count())
            .sum();
        let judged: usize = truth.iter().map(Vec::len).sum();
        println!(
            "{}",
            json!({"set": name, "rows": base.len(), "dim": dim, "method": method,
                   "ms_per_query": seconds * 1000.0 / (queries.len() * passes) as f64,
                   "cpu_ms_per_query": cpu * 1000.0 / (queries.len() * passes) as f64,
                   "recall_at_10": overlap as f64 / judged as f64, "extra": extra})
        );
    };

    // Rows are unit vectors already (the data sets are written normalised); ids are row numbers.
    let mut parts: HashMap<i64, Partition<()>> = HashMap::new();
    for p in meta["partitions"].as_array().expect("partitions") {
        let (npc, start, count) = (
            p["npc_id"].as_i64().expect("npc_id"),
            p["start"].as_u64().expect("start") as usize,
            p["count"].as_u64().expect("count") as usize,
        );
        let mut part = Partition::new(dim);
        part.reserve(count);
        for (row, v) in base.iter().enumerate().skip(start).take(count) {
            part.upsert(row as i64, 0, (), v);
        }
        part.enable_int8();
        part.enable_binary();
        parts.insert(npc, part);
    }
    let bytes = parts
        .values()
        .map(Partition::resident_bytes)
        .fold((0, 0, 0, 0), |(v, i, b, r), p| {
            (v + p.vectors, i + p.int8, b + p.binary, r + p.rows)
        });
    eprintln!(
        "{name}: resident MiB: f32 {:.1}, int8 {:.1}, bits {:.1}, row metadata {:.1}",
        bytes.0 as f64 / 1048576.0,
        bytes.1 as f64 / 1048576.0,
        bytes.2 as f64 / 1048576.0,
        bytes.3 as f64 / 1048576.0
    );
    let partition_of: Vec<i64> =
        serde_json::from_value(qmeta["partition"].clone()).expect("partition");
    let ids = |hits: Vec<mnemo::vector::Hit>| hits.into_iter().map(|h| h.id).collect::<Vec<_>>();

    // Every plan, the exact scan first, timed over the same queries back to back.
    let mut plans = vec![
        ("exact_f32".to_string(), ScanPlan::default()),
        (
            format!("int8_rescore{rescore}"),
            ScanPlan {
                binary: 0,
                int8: rescore,
            },
        ),
    ];
    for b in list(args, "--binary", &[4, 8, 16, 32]) {
        plans.push((
            format!("binary_rescore{b}"),
            ScanPlan { binary: b, int8: 0 },
        ));
        plans.push((
            format!("binary{b}_int8_rescore{rescore}"),
            ScanPlan {
                binary: b,
                int8: rescore,
            },
        ));
    }
    // Every query `passes` times against its own partition: ((wall, CPU seconds), last answers).
    let timed = |search: &dyn Fn(&[f32], i64) -> Vec<i64>| {
        let started = Instant::now();
        let cpu = cpu_ns();
        let mut found = Vec::new();
        for _ in 0..passes {
            found = queries
                .iter()
                .zip(&partition_of)
                .map(|(q, npc)| search(q, *npc))
                .collect();
        }
        let cpu = cpu_ns().saturating_sub(cpu) as f64 / 1e9;
        ((started.elapsed().as_secs_f64(), cpu), found)
    };
    for (method, plan) in plans {
        let (time, found) =
            timed(&|q, npc| ids(parts[&npc].search_planned(q, K, plan, |_, _| true)));
        report(
            &method,
            time,
            found,
            json!({"binary_rescore": plan.binary, "int8_rescore": plan.int8}),
        );
    }

    if num(args, "--hnsw", 1) == 0 {
        return;
    }
    let settings = HnswSettings {
        threshold: 0,
        int8_rescore: 0,
        ..HnswSettings::default()
    };
    let started = Instant::now();
    let indexed: HashMap<i64, IndexedPartition<()>> = parts
        .into_iter()
        .map(|(npc, part)| {
            let mut indexed = IndexedPartition::from_partition(part, settings.clone());
            let report = indexed.build_now();
            eprintln!("{name}: partition {npc}: {report:?}");
            (npc, indexed)
        })
        .collect();
    let build_s = started.elapsed().as_secs_f64();
    eprintln!(
        "{name}: HNSW built over {} rows in {build_s:.1} s; graph estimate {:.1} MiB",
        base.len(),
        indexed
            .values()
            .map(|p| p.resident_bytes().graph)
            .sum::<usize>() as f64
            / 1048576.0
    );
    for ef in list(args, "--ef", &[32, 64, 100, 200]) {
        let (time, found) = timed(&|q, npc| {
            let outcome = indexed[&npc].search(q, K, Some(ef));
            assert_eq!(
                outcome.strategy,
                Strategy::Hnsw,
                "searched through the index"
            );
            ids(outcome.hits)
        });
        report(
            &format!("hnsw_ef{ef}"),
            time,
            found,
            json!({"ef_search": ef, "build_s": build_s, "m": 16, "ef_construction": 64}),
        );
    }
}
