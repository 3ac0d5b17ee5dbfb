//! `prepare`, `prepare-text`, `prepare-gaussian`: write a data set.

use std::path::Path;
use std::time::Instant;

use mnemo::embed::HashEmbedder;

use crate::args::{arg, num};
use crate::dataset::{Dataset, Rng, Writer, par_map, sentence, unit};

/// Synthetic NPC dialogue embedded with the offline hash provider, written
/// one NPC at a time (a million rows do not fit in memory twice over). The
/// queries come from their own generator, so an NPC's memories are the same
/// whatever the number of NPCs or queries.
pub async fn prepare(dir: &Path, args: &[String]) {
    let npcs = num(args, "--npcs", 20);
    let per_npc = num(args, "--per-npc", 5000);
    let queries = num(args, "--queries", 200);
    let dim = num(args, "--dim", 1536);
    let embedder = HashEmbedder::new(dim);
    let embed = |text: &str| embedder.embed_text(text).expect("embed");
    let mut rng = Rng(8);
    let queries = (0..queries)
        .map(|i| {
            let text = sentence(&mut rng, 5);
            let v = embed(&text);
            (1 + i % npcs, text, v)
        })
        .collect();
    let mut writer = Writer::create(dir, dim, queries);
    let mut rng = Rng(7);
    for npc in 1..=npcs {
        let texts: Vec<(usize, String, String)> = (0..per_npc)
            .map(|_| (npc, sentence(&mut rng, 8), sentence(&mut rng, 8)))
            .collect();
        let vectors = par_map(&texts, |(npc, u, r)| {
            embed(&format!("Player said: \"{u}\" | Npc{npc} replied: \"{r}\""))
        });
        writer.partition(npc, &texts, &vectors);
    }
    writer.finish("hash", "synthetic NPC dialogue");
}

/// A real corpus (one text per line) embedded by a provider, `--queries` lines
/// held out at random, all rows in one partition (`--npc`, default 1). With
/// `--project D --project-dir P` the same vectors are also written to P,
/// multiplied by a fixed random orthonormal matrix to D dimensions: dot
/// products, hence neighbours, are preserved, so P is the same corpus at the
/// dimension of the production model.
pub async fn prepare_text(dir: &Path, args: &[String]) {
    let path = arg(args, "--texts").expect("--texts FILE");
    let provider = arg(args, "--provider").unwrap_or_else(|| "minilm".into());
    let max = num(args, "--max", usize::MAX);
    let held_out = num(args, "--queries", 1000);
    let npc = num(args, "--npc", 1);
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let mut lines: Vec<String> = raw
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    lines.truncate(max);
    // The service's own settings: where the local model lives (MNEMO_MODEL_DIR,
    // else under HOME), an OpenAI-compatible endpoint's URL and key.
    let settings = mnemo::cli::settings::Settings::from_env()
        .unwrap_or_else(|e| panic!("settings from the environment: {e}"));
    let embedder = mnemo::embed::build(&provider, &settings.embedding.provider_settings)
        .unwrap_or_else(|e| panic!("provider {provider}: {e}"));
    let started = Instant::now();
    let mut vectors = Vec::with_capacity(lines.len());
    for chunk in lines.chunks(256) {
        vectors.extend(
            embedder
                .embed(chunk)
                .await
                .unwrap_or_else(|e| panic!("embed: {e}")),
        );
        eprint!("\rembedded {}/{}", vectors.len(), lines.len());
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = lines.len() as f64 / seconds;
    eprintln!(
        "\rembedded {} texts in {seconds:.0} s ({rate:.0}/s)",
        lines.len()
    );
    // Hold out queries at fixed random positions.
    let mut rng = Rng(99);
    let mut is_query = vec![false; lines.len()];
    let mut picked = 0;
    while picked < held_out.min(lines.len() / 2) {
        let i = (rng.next() % lines.len() as u64) as usize;
        if !is_query[i] {
            is_query[i] = true;
            picked += 1;
        }
    }
    let (mut texts, mut base, mut queries) = (Vec::new(), Vec::new(), Vec::new());
    for ((line, v), q) in lines.into_iter().zip(vectors).zip(is_query) {
        if q {
            queries.push((npc, line, v));
        } else {
            texts.push((npc, line, String::new()));
            base.push(v);
        }
    }
    let n = base.len();
    let dim = base.first().map_or(0, Vec::len);
    let source = format!(
        "{} ({n} rows, {} held-out queries) embedded with {provider} at {dim} dimensions, {rate:.0} texts/s",
        Path::new(&path)
            .file_name()
            .map_or(path.clone(), |f| f.to_string_lossy().into()),
        queries.len()
    );
    let mut set = Dataset {
        texts,
        base,
        partitions: vec![(npc, 0, n)],
        queries,
        provider: provider.clone(),
        note: source.clone(),
    };
    set.write(dir);
    if let (Some(to), Some(pdir)) = (
        arg(args, "--project").and_then(|d| d.parse::<usize>().ok()),
        arg(args, "--project-dir"),
    ) {
        let cols = orthonormal(dim, to, 1536);
        set.base = set.base.iter().map(|v| project(&cols, v, to)).collect();
        for q in &mut set.queries {
            q.2 = project(&cols, &q.2, to);
        }
        set.note = format!(
            "{source}, projected to {to} dimensions by a fixed random orthonormal {dim}x{to} matrix (distances preserved)"
        );
        set.write(Path::new(&pdir));
    }
}

/// The worst case: isotropic Gaussian unit vectors (no structure for an index
/// to use), in one partition (`--npc`, default 1).
pub async fn prepare_gaussian(dir: &Path, args: &[String]) {
    let n = num(args, "--n", 50_000);
    let dim = num(args, "--dim", 1536);
    let queries = num(args, "--queries", 1000);
    let npc = num(args, "--npc", 1);
    let mut rng = Rng(1234);
    let mut gaussian = || unit(&(0..dim).map(|_| rng.normal()).collect::<Vec<_>>());
    let base: Vec<Vec<f32>> = (0..n).map(|_| gaussian()).collect();
    let queries = (0..queries)
        .map(|i| (npc, format!("q{i}"), gaussian()))
        .collect();
    let texts = (0..n)
        .map(|i| (npc, format!("row {i}"), String::new()))
        .collect();
    Dataset {
        texts,
        base,
        partitions: vec![(npc, 0, n)],
        queries,
        provider: "gaussian".into(),
        note: format!("isotropic Gaussian, {n} rows at {dim} dimensions"),
    }
    .write(dir);
}

/// `from` orthonormal columns of length `to` (Gram–Schmidt on Gaussian columns).
fn orthonormal(from: usize, to: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = Rng(seed);
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(from);
    for _ in 0..from {
        let mut c: Vec<f64> = (0..to).map(|_| rng.normal() as f64).collect();
        for prev in &cols {
            let d: f64 = c.iter().zip(prev).map(|(a, b)| a * b).sum();
            c.iter_mut().zip(prev).for_each(|(a, b)| *a -= d * b);
        }
        let n = c.iter().map(|x| x * x).sum::<f64>().sqrt();
        c.iter_mut().for_each(|x| *x /= n);
        cols.push(c);
    }
    cols
}

fn project(cols: &[Vec<f64>], v: &[f32], to: usize) -> Vec<f32> {
    let mut out = vec![0f64; to];
    for (c, x) in cols.iter().zip(v) {
        out.iter_mut()
            .zip(c)
            .for_each(|(o, ci)| *o += ci * *x as f64);
    }
    out.into_iter().map(|x| x as f32).collect()
}
