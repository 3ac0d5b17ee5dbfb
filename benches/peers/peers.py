#!/usr/bin/env python3
"""Peer baselines for mnemo's benchmark harness.

Runs the same top-k cosine searches that mnemo answers (each query searches one
NPC's memories) through other engines, on the very vectors the Rust side wrote,
and reports build time, per-query latency (p50/p99), QPS, recall@k against an
exact float64 ground truth, and peak RSS.

    python peers.py DIR --k 10 --out results.json [--only a,b] [--chroma] [--quick]
    python peers.py DIR --make-test-data [--parts 20 --per-part 5000 --dim 1536 --queries 200]

Every peer runs in a child process of its own (this script with --child NAME):
its peak RSS is then its own, a crash cannot take the others down, and the
numpy peer can start with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (OpenBLAS
reads them when it loads) without changing the environment of anything else.
The input format is described in README.md next to this file.
"""

import argparse
import gc
import hashlib
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata

import numpy as np

from measure import (TIE_EPS, Ctx, blas_info, free_port, log, peak_rss_mb, pick_queries, proc_status_kb, rss_mb,
                     time_queries, topk_sorted, truth_agreement, with_recall)

from stores import STORE_PEERS

ALL_PEERS = ["original", "numpy", "faiss_flat", "faiss_hnsw", "hnswlib", "sqlite_vec", "lancedb", "chroma", "pgvector"]
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
EF_SWEEP = [16, 32, 64, 128]
EF_HEADLINE = 64
TRUTH_DEPTH = 100
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# --------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------


def parse_partitions(parts, n):
    """npc_id of every row, from either accepted form of base.json's "partitions"."""
    if len(parts) == n and all(isinstance(p, int) for p in parts):
        return np.asarray(parts, dtype=np.int64)
    npc = np.full(n, -1, dtype=np.int64)
    for p in parts:
        if not isinstance(p, dict):
            raise ValueError("partitions: expected a list of N npc ids or of {npc_id, start, count} runs")
        s, c = int(p["start"]), int(p["count"])
        if s < 0 or c < 0 or s + c > n:
            raise ValueError(f"partitions: run {p} outside 0..{n}")
        if (npc[s:s + c] != -1).any():
            raise ValueError(f"partitions: run {p} overlaps another run")
        npc[s:s + c] = int(p["npc_id"])
    if (npc == -1).any():
        raise ValueError(f"partitions: {(npc == -1).sum()} rows belong to no run")
    return npc


class Dataset:
    """Vectors of DIR, with every partition a contiguous slice of `base`.

    When the input's partitions are already contiguous runs (the Rust side
    writes them so) `base` is the file as read. Otherwise rows are reordered
    once, stably, and `row_of[i]` gives the input row of internal row i. All
    peers work on internal rows; only truth.npz and reports use input rows.
    """

    def __init__(self, d, load_base=True):
        self.dir = d
        with open(os.path.join(d, "base.json")) as f:
            meta = json.load(f)
        with open(os.path.join(d, "queries.json")) as f:
            qmeta = json.load(f)
        self.n, self.dim = int(meta["n"]), int(meta["dim"])
        npc = parse_partitions(meta["partitions"], self.n)
        ids = meta.get("ids")
        self.input_ids = np.arange(1, self.n + 1, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        if len(self.input_ids) != self.n:
            raise ValueError("base.json: ids must be null or a list of n ids")

        # Contiguous when the npc id changes exactly (number of partitions - 1) times.
        changes = int((npc[1:] != npc[:-1]).sum()) if self.n else 0
        n_parts = len(np.unique(npc))
        if changes == n_parts - 1:
            self.row_of = None
            order_npc = npc
        else:
            self.row_of = np.argsort(npc, kind="stable")
            order_npc = npc[self.row_of]
        starts = np.flatnonzero(np.r_[True, order_npc[1:] != order_npc[:-1]])
        stops = np.r_[starts[1:], self.n]
        self.parts = {int(order_npc[s]): (int(s), int(e)) for s, e in zip(starts, stops)}

        self.q = int(qmeta["q"])
        self.qpart = [int(p) for p in qmeta["partition"]]
        if len(self.qpart) != self.q:
            raise ValueError("queries.json: partition must have q entries")
        missing = sorted({p for p in self.qpart if p not in self.parts})
        if missing:
            raise ValueError(f"queries.json: partitions {missing[:5]} have no rows in base")
        self.rust_truth_rows = qmeta.get("truth_rows")

        self.queries = self._read_f32("queries.f32", self.q)
        self.base = None
        if load_base:
            base = self._read_f32("base.f32", self.n)
            self.base = base if self.row_of is None else base[self.row_of]

    def _read_f32(self, name, rows):
        a = np.fromfile(os.path.join(self.dir, name), dtype="<f4")
        if a.size != rows * self.dim:
            raise ValueError(f"{name}: {a.size} floats, expected {rows} x {self.dim}")
        return a.reshape(rows, self.dim)

    def input_rows(self, internal):
        internal = np.asarray(internal)
        return internal if self.row_of is None else self.row_of[internal]

    def internal_rows(self, input_rows):
        input_rows = np.asarray(input_rows)
        if self.row_of is None:
            return input_rows
        inv = np.empty(self.n, dtype=np.int64)
        inv[self.row_of] = np.arange(self.n)
        return np.where(input_rows >= 0, inv[np.maximum(input_rows, 0)], -1)

    def summary(self):
        sizes = np.array([e - s for s, e in self.parts.values()])
        return {
            "dir": os.path.abspath(self.dir),
            "n": self.n,
            "dim": self.dim,
            "partitions": len(self.parts),
            "partition_rows_min": int(sizes.min()),
            "partition_rows_mean": float(sizes.mean()),
            "partition_rows_max": int(sizes.max()),
            "queries": self.q,
            "rows_reordered": self.row_of is not None,
            "base_mb": round(self.n * self.dim * 4 / 2**20, 1),
        }


# --------------------------------------------------------------------------
# Ground truth (float64, exact) and recall
# --------------------------------------------------------------------------


def fingerprint(d):
    """Hash of every input file: truth.npz is reused only for the same data."""
    h = hashlib.sha256()
    for name in ("base.json", "queries.json", "base.f32", "queries.f32"):
        with open(os.path.join(d, name), "rb") as f:
            while chunk := f.read(1 << 24):
                h.update(chunk)
    return h.hexdigest()


def compute_truth(ds, depth=TRUTH_DEPTH):
    """Top-`depth` internal rows and float64 scores of every query in its partition.

    Ties are broken by the lower row, as a stable sort does. Rows past a
    partition's size are -1 with score -inf.
    """
    rows = np.full((ds.q, depth), -1, dtype=np.int64)
    scores = np.full((ds.q, depth), -np.inf)
    by_part = {}
    for qi, p in enumerate(ds.qpart):
        by_part.setdefault(p, []).append(qi)
    for p, qis in by_part.items():
        s, e = ds.parts[p]
        sims = ds.queries[qis].astype(np.float64) @ ds.base[s:e].astype(np.float64).T
        top = np.argsort(-sims, axis=1, kind="stable")[:, :depth]
        m = top.shape[1]
        rows[qis, :m] = s + top
        scores[qis, :m] = np.take_along_axis(sims, top, axis=1)
    return rows, scores


def load_or_compute_truth(ds, fp):
    path = os.path.join(ds.dir, "truth.npz")
    if os.path.exists(path):
        z = np.load(path)
        if str(z["fingerprint"]) == fp and int(z["depth"]) == TRUTH_DEPTH:
            return ds.internal_rows(z["rows"]), z["scores"], "cached truth.npz"
    t0 = time.perf_counter()
    rows, scores = compute_truth(ds)
    secs = time.perf_counter() - t0
    try:
        np.savez(path, rows=np.where(rows >= 0, ds.input_rows(np.maximum(rows, 0)), -1),
                 scores=scores, fingerprint=np.array(fp), depth=np.array(TRUTH_DEPTH))
        where = "computed, saved truth.npz"
    except OSError as e:  # a read-only input directory is fine
        where = f"computed, not saved ({e})"
    return rows, scores, f"{where} in {secs:.1f} s"


# --------------------------------------------------------------------------
# Peers. Each returns a dict of figures; times are seconds, latencies ms.
# --------------------------------------------------------------------------


def _cosine_similarity(a, b):
    # The original's per-row arithmetic: np.dot, then both norms with
    # np.linalg.norm (recomputed every row), a 1e-8 guard, a Python float.
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return 0.0 if denom < 1e-8 else float(np.dot(a, b) / denom)


def peer_original(ctx):
    """FullCircleMUD's SQLite search: blobs of LE f32, a Python loop per row.

    Mirrors `_search_memories_numpy`: an `exists()` probe on the NPC's rows,
    then iterate them, `np.frombuffer(bytes(blob), float32)`, a shape check,
    cosine via np.dot and two np.linalg.norm, append, sort all, take k. The
    real one goes through Django's ORM and also fetches six text columns per
    row, so this is a lower bound on its cost.
    """
    ds, k = ctx.ds, ctx.k
    tmp = tempfile.mkdtemp(prefix="mnemo-peer-original-")
    try:
        db = sqlite3.connect(os.path.join(tmp, "ai_memory.sqlite3"))
        # Django's table for NpcMemory, reduced to the columns this search reads;
        # npc_id has db_index=True there.
        db.execute("CREATE TABLE ai_memory_npcmemory (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                   "npc_id INTEGER NOT NULL, embedding BLOB NULL)")
        db.execute("CREATE INDEX ai_memory_npcmemory_npc_id ON ai_memory_npcmemory (npc_id)")
        npc_of = np.empty(ds.n, dtype=np.int64)
        for p, (s, e) in ds.parts.items():
            npc_of[s:e] = p
        # Insert in the input's row order: with interleaved input (memories of
        # many NPCs arriving over time, as in the game) one NPC's rows end up
        # spread over the table's pages, as they would be.
        order = np.arange(ds.n) if ds.row_of is None else np.argsort(ds.row_of)
        t0 = time.perf_counter()
        with db:  # one transaction: the bulk load, not the game's one-row inserts
            db.executemany(
                "INSERT INTO ai_memory_npcmemory (id, npc_id, embedding) VALUES (?, ?, ?)",
                ((int(i) + 1, int(npc_of[i]), ds.base[i].tobytes()) for i in order))
        build_s = time.perf_counter() - t0
        db_mb = os.path.getsize(os.path.join(tmp, "ai_memory.sqlite3")) / 2**20
        rss_built = rss_mb()

        # The embedding API hands the service a list of floats.
        qlists = {qi: ds.queries[qi].tolist() for qi in range(ds.q)}

        def search(qi):
            query_vec = np.asarray(qlists[qi], dtype=np.float32)
            npc_id = ds.qpart[qi]
            if db.execute("SELECT 1 FROM ai_memory_npcmemory WHERE npc_id = ? LIMIT 1",
                          (npc_id,)).fetchone() is None:
                return []
            scored = []
            for mem_id, blob in db.execute(
                    "SELECT id, embedding FROM ai_memory_npcmemory WHERE npc_id = ?", (npc_id,)):
                if not blob:
                    continue
                mem_vec = np.frombuffer(bytes(blob), dtype=np.float32)
                if mem_vec.shape != query_vec.shape:
                    continue
                sim = _cosine_similarity(query_vec, mem_vec)
                scored.append((sim, mem_id))
            scored.sort(key=lambda x: x[0], reverse=True)
            return [mem_id - 1 for _, mem_id in scored[:k]]

        limit = ctx.args.original_queries
        qsel = pick_queries(ds.q, min(limit, len(ctx.qsel)) if limit else None)
        figures, results = time_queries(search, qsel, passes=1, warmup=1)
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures = with_recall(ctx, figures, results)
    figures.update(build_s=round(build_s, 3), build_threads=1, sqlite_file_mb=round(db_mb, 1),
                   rss_after_build_mb=rss_built,
                   note="SQLite blobs + Python loop per row (FullCircleMUD ai_memory SQLite path); "
                        "without Django's ORM and text columns, so a lower bound on the original")
    return figures


def read_bandwidth(gib, reps=5):
    """Single-thread memory read bandwidth, GB/s, over an array of `gib` GiB.

    Two readers: np.sum (numpy's own SIMD loop) and a BLAS sgemv against a
    vector of ones (the same kernel the numpy peer's search uses). Best of
    `reps` each; the array is far larger than any cache.
    """
    from threadpoolctl import threadpool_limits
    n = int(gib * 2**30 // 4) // 4096 * 4096
    a = np.ones(n, dtype=np.float32)  # written once: every page is resident
    m = a.reshape(-1, 4096)
    ones = np.ones(4096, dtype=np.float32)
    out = {"array_gib": gib}
    with threadpool_limits(limits=1):
        for name, fn in (("np_sum", lambda: np.sum(a)), ("sgemv", lambda: m @ ones)):
            fn()
            best = min(_timed(fn) for _ in range(reps))
            out[f"{name}_gbps"] = round(a.nbytes / best / 1e9, 2)
    del a, m
    out["gbps"] = max(out["np_sum_gbps"], out["sgemv_gbps"])
    return out


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def l3_bytes():
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as f:
            s = f.read().strip()
        mult = {"K": 2**10, "M": 2**20, "G": 2**30}.get(s[-1], 1)
        return int(s.rstrip("KMG")) * mult
    except (OSError, ValueError):
        return 0


def peer_numpy(ctx):
    """Exact scan: one BLAS sgemv over the query's partition, then argpartition.

    The yardstick for mnemo's SIMD scan: the same arithmetic, done by OpenBLAS
    on one thread. Also measures the machine's read bandwidth (one thread) and
    the bandwidth the scan reaches, to tell compute-bound from memory-bound.
    """
    from threadpoolctl import threadpool_limits
    ds, k = ctx.ds, ctx.k

    def search(qi):
        s, e = ds.parts[ds.qpart[qi]]
        return s + topk_sorted(ds.base[s:e] @ ds.queries[qi], k)

    with threadpool_limits(limits=1):
        figures, results = time_queries(search, ctx.qsel, ctx.passes)
        figures["blas_during_search"] = blas_info()
    figures = with_recall(ctx, figures, results)
    mean_rows = np.mean([ds.parts[ds.qpart[qi]][1] - ds.parts[ds.qpart[qi]][0] for qi in ctx.qsel])
    figures["scan_gbps_at_p50"] = round(mean_rows * ds.dim * 4 / (figures["p50_ms"] / 1e3) / 1e9, 2)
    figures["rss_peak_queries_mb"] = peak_rss_mb()  # before the bandwidth array
    # Several times the L3 (and at least 1 GiB) so the reads come from DRAM; a
    # VM may report a large virtual L3, hence the cap at a quarter of RAM.
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    gib = min(max(1.0, 4 * l3_bytes() / 2**30), total / 4 / 2**30)
    if ctx.args.quick:
        gib = min(gib, 1.0)
    figures["memory_read_bandwidth"] = read_bandwidth(round(gib, 2))
    figures.update(build_s=0.0, build_threads=0,
                   note="base as one float32 matrix; per query sgemv over the partition slice "
                        "+ np.argpartition; OpenBLAS single thread, OPENBLAS_CORETYPE/L2_SIZE unset")
    return figures


def _faiss_single_thread():
    import faiss
    faiss.omp_set_num_threads(1)
    return faiss


def peer_faiss_flat(ctx):
    """faiss IndexFlatIP, one per partition (a per-NPC index, like mnemo's)."""
    import faiss
    ds, k = ctx.ds, ctx.k
    t0 = time.perf_counter()
    indexes = {}
    for p, (s, e) in ds.parts.items():
        idx = faiss.IndexFlatIP(ds.dim)
        idx.add(ds.base[s:e])
        indexes[p] = idx
    build_s = time.perf_counter() - t0
    rss_built = rss_mb()
    _faiss_single_thread()
    q2 = ds.queries[:, None, :]  # (q, 1, dim) views: no copy per search

    def search(qi):
        p = ds.qpart[qi]
        _, labels = indexes[p].search(q2[qi], k)
        lab = labels[0]
        return ds.parts[p][0] + lab[lab >= 0]

    figures, results = time_queries(search, ctx.qsel, ctx.passes)
    figures = with_recall(ctx, figures, results)
    figures.update(build_s=round(build_s, 3), build_threads=1, rss_after_build_mb=rss_built,
                   note="IndexFlatIP per partition; search with faiss.omp_set_num_threads(1)")
    return figures


def ef_sweep(ctx, set_ef, search):
    """Time and score the same queries at each efSearch; headline = EF_HEADLINE."""
    sweep = []
    for ef in EF_SWEEP:
        set_ef(ef)
        figures, results = time_queries(search, ctx.qsel, ctx.passes)
        figures = with_recall(ctx, figures, results)
        sweep.append({"ef_search": ef, **figures})
    head = dict(next(s for s in sweep if s["ef_search"] == EF_HEADLINE))
    head["sweep"] = sweep
    return head


def peer_faiss_hnsw(ctx):
    """faiss IndexHNSWFlat (M=16, efConstruction=64, inner product), per partition.

    Built with every core (faiss parallelises add with OpenMP), searched on one.
    """
    import faiss
    ds, k = ctx.ds, ctx.k
    faiss.omp_set_num_threads(ctx.threads)
    t0 = time.perf_counter()
    indexes = {}
    for p, (s, e) in ds.parts.items():
        idx = faiss.IndexHNSWFlat(ds.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        idx.add(ds.base[s:e])
        indexes[p] = idx
    build_s = time.perf_counter() - t0
    rss_built = rss_mb()
    _faiss_single_thread()
    q2 = ds.queries[:, None, :]

    def set_ef(ef):
        for idx in indexes.values():
            idx.hnsw.efSearch = ef

    def search(qi):
        p = ds.qpart[qi]
        _, labels = indexes[p].search(q2[qi], k)
        lab = labels[0]
        return ds.parts[p][0] + lab[lab >= 0]

    figures = ef_sweep(ctx, set_ef, search)
    figures.update(build_s=round(build_s, 3), build_threads=ctx.threads, rss_after_build_mb=rss_built,
                   m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION,
                   note=f"IndexHNSWFlat per partition, METRIC_INNER_PRODUCT; headline at efSearch={EF_HEADLINE}")
    return figures


def peer_hnswlib(ctx):
    """hnswlib, space 'ip', M=16, ef_construction=64, one index per partition."""
    import hnswlib
    ds, k = ctx.ds, ctx.k
    t0 = time.perf_counter()
    indexes = {}
    for p, (s, e) in ds.parts.items():
        idx = hnswlib.Index(space="ip", dim=ds.dim)
        idx.init_index(max_elements=e - s, ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M, random_seed=100)
        idx.add_items(ds.base[s:e], np.arange(s, e), num_threads=ctx.threads)
        indexes[p] = idx
    build_s = time.perf_counter() - t0
    rss_built = rss_mb()

    def set_ef(ef):
        for idx in indexes.values():
            idx.set_ef(ef)

    def search(qi):
        p = ds.qpart[qi]
        labels, _ = indexes[p].knn_query(ds.queries[qi], k=min(k, indexes[p].get_current_count()),
                                         num_threads=1)
        return labels[0]

    figures = ef_sweep(ctx, set_ef, search)
    figures.update(build_s=round(build_s, 3), build_threads=ctx.threads, rss_after_build_mb=rss_built,
                   m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION,
                   note=f"hnswlib per partition (labels = rows), knn_query num_threads=1; headline at ef={EF_HEADLINE}")
    return figures


def tree_rss_mb(pid):
    """Current RSS of a process and its descendants, and each one's peak (VmHWM)."""
    import psutil
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0.0, {}
    now, peaks = 0, {}
    for pr in procs:
        st = proc_status_kb(pr.pid)
        now += st.get("VmRSS", 0)
        peaks[pr.pid] = round(st.get("VmHWM", 0) / 1024, 1)
    return round(now / 1024, 1), peaks


def peer_chroma(ctx):
    """A real Chroma server (`chroma run`), loaded and queried over HTTP.

    One client, one request at a time, timed client-side: the figures include
    HTTP and JSON, as a MUD calling a vector database would pay them. The
    server is stopped in `finally`, whatever happens.
    """
    import chromadb
    from chromadb.config import Settings
    ds, k = ctx.ds, ctx.k
    exe = os.path.join(os.path.dirname(sys.executable), "chroma")
    if not os.path.exists(exe):
        exe = shutil.which("chroma")
    if not exe:
        raise RuntimeError("the chroma CLI (package chromadb) is not installed")
    tmp = tempfile.mkdtemp(prefix="mnemo-peer-chroma-")
    port = free_port()
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
    logf = open(os.path.join(tmp, "server.log"), "wb")
    # Its own session, so stopping it reaches only the processes it started.
    proc = subprocess.Popen([exe, "run", "--path", os.path.join(tmp, "db"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=logf, stderr=subprocess.STDOUT, env=env,
                            preexec_fn=_server_preexec)
    peak_tree = [0.0]
    stop_sampler = threading.Event()

    def sampler():  # the tree's summed RSS, sampled: VmHWM is per process
        while not stop_sampler.wait(0.2):
            peak_tree[0] = max(peak_tree[0], tree_rss_mb(proc.pid)[0])

    threading.Thread(target=sampler, daemon=True).start()
    out = {}
    try:
        client = None
        deadline = time.time() + 60
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"chroma exited with {proc.returncode}; see its log")
            try:
                client = chromadb.HttpClient(host="127.0.0.1", port=port,
                                             settings=Settings(anonymized_telemetry=False))
                client.heartbeat()
                break
            except Exception:
                client = None
                time.sleep(0.25)
        if client is None:
            raise RuntimeError("chroma did not answer its heartbeat within 60 s")
        out["server_rss_idle_mb"] = tree_rss_mb(proc.pid)[0]
        coll = client.create_collection(
            "npc_memory", embedding_function=None,
            configuration={"hnsw": {"space": "ip", "ef_construction": HNSW_EF_CONSTRUCTION,
                                    "max_neighbors": HNSW_M, "ef_search": EF_HEADLINE}})
        batch = min(client.get_max_batch_size(), 2000)
        npc_of = np.empty(ds.n, dtype=np.int64)
        for p, (s, e) in ds.parts.items():
            npc_of[s:e] = p
        t0 = time.perf_counter()
        for s in range(0, ds.n, batch):
            e = min(ds.n, s + batch)
            coll.add(ids=[str(i) for i in range(s, e)], embeddings=ds.base[s:e],
                     metadatas=[{"npc_id": int(npc_of[i])} for i in range(s, e)])
        load_s = time.perf_counter() - t0
        out["server_rss_after_load_mb"] = tree_rss_mb(proc.pid)[0]
        # Chroma may index what it logged lazily; the first query would pay for it.
        t0 = time.perf_counter()
        coll.query(query_embeddings=[ds.queries[0]], n_results=k, where={"npc_id": ds.qpart[0]},
                   include=["distances"])
        out["first_query_s"] = round(time.perf_counter() - t0, 3)
        out["rows_in_collection"] = coll.count()

        def search(qi):
            res = coll.query(query_embeddings=[ds.queries[qi]], n_results=k,
                             where={"npc_id": ds.qpart[qi]}, include=["distances"])
            return [int(x) for x in res["ids"][0]]

        limit = ctx.args.chroma_queries
        qsel = pick_queries(ds.q, min(limit, len(ctx.qsel)) if limit else len(ctx.qsel))
        figures, results = time_queries(search, qsel, ctx.passes)
        figures = with_recall(ctx, figures, results)
        out.update(figures)
        out["server_rss_end_mb"], peaks = tree_rss_mb(proc.pid)
        out.update(build_s=round(load_s, 3), build_threads=None, batch=batch,
                   server_peak_rss_mb_per_process=peaks,
                   server_peak_rss_mb=max(peaks.values()) if peaks else None,
                   chroma_version=metadata.version("chromadb"),
                   note="chroma run server over HTTP (loopback), one collection, npc_id metadata + "
                        "where filter; hnsw space ip, M=16, ef_construction=64, ef_search=64; "
                        "build_s = HTTP load in batches; latency timed client-side")
    finally:
        stop_sampler.set()
        _stop_process_group(proc)
        logf.close()
        if ctx.args.keep_chroma_log:
            log(f"chroma data and log kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    out["server_tree_peak_rss_mb_sampled"] = peak_tree[0]
    return out


def _server_preexec():
    """In the server before exec: its own session (so stopping it reaches only
    what it started) and SIGTERM when this process dies, even by SIGKILL."""
    os.setsid()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _stop_process_group(proc):
    """SIGTERM the server's own process group, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=15)


PEER_FUNCS = {
    "original": peer_original,
    "numpy": peer_numpy,
    "faiss_flat": peer_faiss_flat,
    "faiss_hnsw": peer_faiss_hnsw,
    "hnswlib": peer_hnswlib,
    "chroma": peer_chroma,
    **STORE_PEERS,
}


# --------------------------------------------------------------------------
# Child: one peer in this process
# --------------------------------------------------------------------------


def run_child(args):
    # The parent stops a peer that overruns with SIGTERM: turn it into
    # SystemExit so `finally` blocks (the Chroma server's stop) run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.perf_counter()
    ds = Dataset(args.dir)
    z = np.load(os.path.join(args.dir, "truth.npz"))
    truth_rows, truth_scores = ds.internal_rows(z["rows"]), z["scores"]
    load_s = time.perf_counter() - t0
    ctx = Ctx(ds, truth_rows, truth_scores, args)
    rss_base = rss_mb()
    figures = PEER_FUNCS[args.child](ctx)
    figures.update(data_load_s=round(load_s, 3), rss_dataset_mb=rss_base, rss_peak_mb=peak_rss_mb(),
                   blas=blas_info())
    with open(args.result, "w") as f:
        json.dump(figures, f)


# --------------------------------------------------------------------------
# Parent: truth, machine, one child per peer, report
# --------------------------------------------------------------------------


def machine_info():
    info = {"cpu_model": None, "cores": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    info["l3_cache_mib_reported"] = round(l3_bytes() / 2**20, 1)
    info["loadavg_start"] = os.getloadavg()
    info["openblas_env"] = {v: os.environ.get(v) for v in OPENBLAS_VARS}
    info["blas_default_env"] = blas_info()
    versions = {}
    for pkg in ("numpy", "faiss-cpu", "hnswlib", "chromadb", "psutil", "threadpoolctl", "sqlite-vec", "apsw", "lancedb",
                "pyarrow", "psycopg"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    versions["sqlite"] = sqlite3.sqlite_version
    info["packages"] = versions
    return info


def child_env(peer):
    env = dict(os.environ)
    if peer == "numpy":
        # A current OpenBLAS picks the right kernel by itself; these overrides
        # (set on some machines for older builds) slow it. Only here.
        for v in OPENBLAS_VARS:
            env.pop(v, None)
    if peer.startswith("faiss"):
        # faiss builds with OpenMP; its default spin-wait burns the other
        # core's time on a shared machine and made 2-thread builds slower than
        # 1-thread ones here. Searches run on one thread and are unaffected.
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def run_peer(peer, args):
    fd, result = tempfile.mkstemp(prefix=f"mnemo-peer-{peer}-", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, os.path.abspath(__file__), args.dir, "--child", peer, "--result", result,
           "--k", str(args.k), "--passes", str(args.passes)]
    for opt in ("queries", "original_queries", "chroma_queries", "build_threads", "pg_url", "pg_bin", "pg_seconds"):
        v = getattr(args, opt)
        if v is not None:
            cmd += [f"--{opt.replace('_', '-')}", str(v)]
    if args.quick:
        cmd.append("--quick")
    if args.keep_chroma_log:
        cmd.append("--keep-chroma-log")
    t0 = time.perf_counter()
    load_before = os.getloadavg()[0]
    proc = subprocess.Popen(cmd, env=child_env(peer))
    try:
        try:
            rc = proc.wait(timeout=args.peer_timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # the child stops its own servers on SIGTERM
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return {"error": f"timed out after {args.peer_timeout} s", "wall_s": args.peer_timeout}
        wall = time.perf_counter() - t0
        if rc != 0:
            return {"error": f"child exited with {rc}", "wall_s": round(wall, 1)}
        with open(result) as f:
            figures = json.load(f)
        figures["wall_s"] = round(wall, 1)
        figures["loadavg_1m_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        return figures
    finally:
        if proc.poll() is None:  # Ctrl-C in the parent: let the child clean up
            proc.terminate()
            proc.wait()
        os.unlink(result)


def select_peers(args):
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in ALL_PEERS]
        if unknown:
            raise SystemExit(f"unknown peers {unknown}; known: {', '.join(ALL_PEERS)}")
        return names  # naming chroma or pgvector in --only asks for it
    return [p for p in ALL_PEERS if (p != "chroma" or args.chroma) and (p != "pgvector" or args.pg_url)]


def fmt(v, nd=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def print_summary(out, k):
    m, d = out["machine"], out["dataset"]
    print(f"\nmachine: {m['cpu_model']}, {m['cores']} cores, {m.get('memory_gib')} GiB; "
          f"loadavg {m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}")
    print(f"dataset: {d['n']} x {d['dim']} in {d['partitions']} partitions "
          f"(~{d['partition_rows_mean']:.0f} rows each), {d['queries']} queries, k={k}; truth: {d['truth']}")
    rk, rt = f"recall_at_{k}", f"recall_at_{k}_ties"
    head = (f"{'peer':<16}{'build s':>9}{'p50 ms':>10}{'p99 ms':>10}{'cpu p50':>10}{'QPS':>10}{'recall':>8}"
            f"{'r.ties':>8}{'peak MB':>9}{'queries':>9}{'wall s':>8}")
    print(head)
    print("-" * len(head))
    for name, f in out["peers"].items():
        if "error" in f:
            print(f"{name:<16} ERROR: {f['error']}")
            continue
        peak = f.get("server_peak_rss_mb") or f.get("rss_peak_queries_mb") or f.get("rss_peak_mb")
        cpu50 = None if name == "chroma" else f.get("cpu_p50_ms")  # chroma's work is in the server
        print(f"{name:<16}{fmt(f.get('build_s')):>9}{fmt(f.get('p50_ms'), 3):>10}{fmt(f.get('p99_ms'), 3):>10}"
              f"{fmt(cpu50, 3):>10}"
              f"{fmt(f.get('qps'), 0):>10}{fmt(f.get(rk), 3):>8}{fmt(f.get(rt), 3):>8}{fmt(peak, 0):>9}"
              f"{str(f.get('queries')) + 'x' + str(f.get('passes')):>9}{fmt(f.get('wall_s'), 1):>8}")
    for name, f in out["peers"].items():
        for s in f.get("sweep", []):
            print(f"  {name} ef={s['ef_search']:<4} p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms  "
                  f"cpu p50 {s['cpu_p50_ms']:.3f} ms  "
                  f"QPS {s['qps']:.0f}  recall {s[rk]:.3f} (ties {s[rt]:.3f})")
    bw = out["peers"].get("numpy", {}).get("memory_read_bandwidth")
    if bw:
        print(f"  read bandwidth, 1 thread: {bw['gbps']} GB/s (np.sum {bw['np_sum_gbps']}, sgemv "
              f"{bw['sgemv_gbps']}); numpy scan reached {out['peers']['numpy']['scan_gbps_at_p50']} GB/s at p50")
    if "original" in out["peers"] and "numpy" in out["peers"]:
        o, n = out["peers"]["original"], out["peers"]["numpy"]
        if "p50_ms" in o and "p50_ms" in n:
            print(f"  original / numpy: p50 {o['p50_ms'] / n['p50_ms']:.0f}x, "
                  f"cpu p50 {o['cpu_p50_ms'] / n['cpu_p50_ms']:.0f}x")
    print(f"total wall {out['wall_s']:.1f} s")


def run_parent(args):
    t_start = time.perf_counter()
    log(f"reading {args.dir}")
    ds = Dataset(args.dir)
    fp = fingerprint(args.dir)
    truth_rows, truth_scores, truth_src = load_or_compute_truth(ds, fp)
    log(f"ground truth: {truth_src}")
    dataset = ds.summary()
    dataset.update(k=args.k, truth=truth_src, truth_depth=TRUTH_DEPTH, fingerprint_sha256=fp,
                   timed_queries=len(pick_queries(ds.q, args.queries)), passes=args.passes,
                   rust_truth_agreement=truth_agreement(ds, truth_rows, truth_scores, args.k))
    # Exact ties at the k-th place make strict id-overlap recall ambiguous: say how often.
    kk = min(args.k, TRUTH_DEPTH - 1)
    dataset["queries_with_tie_at_k"] = int(
        (np.abs(truth_scores[:, kk - 1] - truth_scores[:, kk]) <= TIE_EPS).sum())
    del ds
    gc.collect()

    out = {"machine": machine_info(), "dataset": dataset, "peers": {}}
    for peer in select_peers(args):
        log(f"peer {peer} ...")
        f = run_peer(peer, args)
        # A peer measured in several configurations on one load reports each as its own row.
        variants = f.pop("variants", None) or {"": {}}
        for variant, figures in variants.items():
            name = f"{peer}_{variant}" if variant else peer
            out["peers"][name] = {**f, **figures}
            log(f"peer {name}: " + (f["error"] if "error" in f else
                                    f"p50 {out['peers'][name].get('p50_ms')} ms, "
                                    f"recall {out['peers'][name].get(f'recall_at_{args.k}')}, wall {f['wall_s']} s"))
    out["machine"]["loadavg_end"] = os.getloadavg()
    if "numpy" in out["peers"] and "blas" in out["peers"]["numpy"]:
        out["machine"]["blas_numpy_peer"] = out["peers"]["numpy"]["blas"]
    out["wall_s"] = round(time.perf_counter() - t_start, 1)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print_summary(out, args.k)
    log(f"wrote {args.out}")


# --------------------------------------------------------------------------
# Test data
# --------------------------------------------------------------------------


def make_test_data(d, parts=20, per_part=5000, dim=1536, queries=200, latent=128, seed=0,
                   form="runs", interleave=False):
    """Synthetic embedding-like data in the input format.

    Vectors come from a `latent`-dimensional mixture (topics shared by all
    NPCs) mapped into `dim` dimensions plus a little noise, then L2-normalised:
    real sentence embeddings have a low intrinsic dimension, and pure Gaussian
    vectors would make HNSW look far worse than on real data. Queries are new
    draws from the same distribution. The spread and noise were tuned so that
    HNSW (M=16, efConstruction=64) on 5,000 rows is not trivially exact: at
    1536-d recall@10 is about 0.85 / 0.91 / 0.96 / 0.99 at ef 16 / 32 / 64 / 128
    (384-d: about 0.73 / 0.84 / 0.93 / 0.98). `interleave` assigns rows round-robin to
    partitions (with form="list"), to exercise the non-contiguous path.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(d, exist_ok=True)
    n = parts * per_part
    proj = rng.standard_normal((latent, dim), dtype=np.float32) / np.sqrt(latent)
    topics = rng.standard_normal((256, latent), dtype=np.float32)

    def draw(m):
        z = topics[rng.integers(0, len(topics), m)] + 1.5 * rng.standard_normal((m, latent), dtype=np.float32)
        v = z @ proj
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        v += 0.8 * rng.standard_normal((m, dim), dtype=np.float32) / np.sqrt(dim)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return v.astype("<f4")

    with open(os.path.join(d, "base.f32"), "wb") as f:
        for s in range(0, n, 10000):
            draw(min(10000, n - s)).tofile(f)
    if interleave:
        npc = [1 + i % parts for i in range(n)]
    else:
        npc = [1 + i // per_part for i in range(n)]
    if form == "list":
        partitions = npc
    else:
        if interleave:
            raise ValueError("interleaved rows need form='list'")
        partitions = [{"npc_id": p + 1, "start": p * per_part, "count": per_part} for p in range(parts)]
    with open(os.path.join(d, "base.json"), "w") as f:
        json.dump({"n": n, "dim": dim, "partitions": partitions, "ids": None}, f)
    draw(queries).tofile(os.path.join(d, "queries.f32"))
    with open(os.path.join(d, "queries.json"), "w") as f:
        json.dump({"q": queries, "partition": [1 + i % parts for i in range(queries)]}, f)
    stale = os.path.join(d, "truth.npz")
    if os.path.exists(stale):
        os.unlink(stale)


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="input directory (base.f32, base.json, queries.f32, queries.json)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--out", default="results.json")
    ap.add_argument("--only", help="comma-separated peers: " + ",".join(ALL_PEERS))
    ap.add_argument("--chroma", action="store_true", help="also run the Chroma server peer")
    ap.add_argument("--quick", action="store_true",
                    help="fewer queries (50; original 10; chroma 30), one pass, 1 GiB bandwidth array")
    ap.add_argument("--queries", type=int, help="time at most this many queries per peer (default: all)")
    ap.add_argument("--passes", type=int, help="passes over the timed queries (default 3; --quick 1)")
    ap.add_argument("--original-queries", type=int, help="queries for the slow original peer (default 50)")
    ap.add_argument("--chroma-queries", type=int, help="queries for chroma (default: as --queries)")
    ap.add_argument("--build-threads", type=int,
                    help="threads for HNSW builds (default: every core, as mnemo's background build)")
    ap.add_argument("--peer-timeout", type=int, default=1200, help="seconds before a peer is abandoned")
    ap.add_argument("--keep-chroma-log", action="store_true")
    ap.add_argument("--pg-url", help="a Postgres with pgvector: adds the pgvector peer (a database of its own there)")
    ap.add_argument("--pg-bin", help="directory of pgbench (with --pg-url)")
    ap.add_argument("--pg-seconds", type=int, help="pgbench seconds per concurrency and configuration (10; --quick 3)")
    ap.add_argument("--make-test-data", action="store_true", help="write synthetic data into DIR and exit")
    ap.add_argument("--parts", type=int, default=20)
    ap.add_argument("--per-part", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=1536)
    ap.add_argument("--num-queries", type=int, default=200, help="with --make-test-data")
    ap.add_argument("--form", choices=["runs", "list"], default="runs", help="with --make-test-data")
    ap.add_argument("--interleave", action="store_true", help="with --make-test-data (needs --form list)")
    ap.add_argument("--child", choices=ALL_PEERS, help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.k < 1 or args.k > TRUTH_DEPTH - 1:
        ap.error(f"--k must be in 1..{TRUTH_DEPTH - 1}")
    if args.quick:
        args.queries = args.queries or 50
        args.original_queries = args.original_queries or 10
        args.chroma_queries = args.chroma_queries or 30
        args.passes = args.passes or 1
        args.pg_seconds = args.pg_seconds or 3
    args.passes = args.passes or 3
    args.pg_seconds = args.pg_seconds or 10
    args.original_queries = args.original_queries or 50

    if args.make_test_data:
        t0 = time.perf_counter()
        make_test_data(args.dir, args.parts, args.per_part, args.dim, args.num_queries, form=args.form,
                       interleave=args.interleave)
        log(f"test data in {args.dir} ({time.perf_counter() - t0:.1f} s)")
    elif args.child:
        run_child(args)
    else:
        run_parent(args)


if __name__ == "__main__":
    main()
