//! `scan`: the vector core in process on a data set, without HTTP or storage:
//! the exact f32 scan, the int8 first pass with f32 rescoring, and (unless
//! `--hnsw 0`) the HNSW index (build time, then search at several `ef`), each
//! with its time per query and recall@10 against the float64 ground truth.
//! Each query searches its own partition, as the service does. One JSON line
//! per method. This is what decides whether int8 may be on by default.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use mnemo::vector::{HnswSettings, IndexedPartition, Partition, Strategy};
use serde_json::json;

use crate::args::num;
use crate::dataset::{read_f32, read_json};

const K: usize = 10;

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
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into());
    let report = |method: &str, seconds: f64, hits: Vec<Vec<i64>>, extra: serde_json::Value| {
        let overlap: usize = hits
            .iter()
            .zip(&truth)
            .map(|(got, want)| got.iter().filter(|id| want.contains(id)).count())
            .sum();
        let judged: usize = truth.iter().map(Vec::len).sum();
        println!(
            "{}",
            json!({"set": name, "rows": base.len(), "dim": dim, "method": method,
                   "ms_per_query": seconds * 1000.0 / queries.len() as f64,
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
        parts.insert(npc, part);
    }
    let partition_of: Vec<i64> =
        serde_json::from_value(qmeta["partition"].clone()).expect("partition");
    let ids = |hits: Vec<mnemo::vector::Hit>| hits.into_iter().map(|h| h.id).collect::<Vec<_>>();

    let started = Instant::now();
    let exact: Vec<Vec<i64>> = queries
        .iter()
        .zip(&partition_of)
        .map(|(q, npc)| ids(parts[npc].search_exact(q, K, |_, _| true)))
        .collect();
    report(
        "exact_f32",
        started.elapsed().as_secs_f64(),
        exact,
        json!({}),
    );

    let started = Instant::now();
    let int8: Vec<Vec<i64>> = queries
        .iter()
        .zip(&partition_of)
        .map(|(q, npc)| ids(parts[npc].search_int8(q, K, rescore, |_, _| true)))
        .collect();
    report(
        &format!("int8_rescore{rescore}"),
        started.elapsed().as_secs_f64(),
        int8,
        json!({"rescore": rescore}),
    );

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
            indexed.build_now();
            (npc, indexed)
        })
        .collect();
    let build_s = started.elapsed().as_secs_f64();
    eprintln!(
        "{name}: HNSW built over {} rows in {build_s:.1} s",
        base.len()
    );
    for ef in [32, 64, 100, 200] {
        let started = Instant::now();
        let found: Vec<Vec<i64>> = queries
            .iter()
            .zip(&partition_of)
            .map(|(q, npc)| {
                let outcome = indexed[npc].search(q, K, Some(ef));
                assert_eq!(
                    outcome.strategy,
                    Strategy::Hnsw,
                    "searched through the index"
                );
                ids(outcome.hits)
            })
            .collect();
        report(
            &format!("hnsw_ef{ef}"),
            started.elapsed().as_secs_f64(),
            found,
            json!({"ef_search": ef, "build_s": build_s, "m": 16, "ef_construction": 64}),
        );
    }
}
