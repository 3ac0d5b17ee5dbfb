"""Measurement shared by every peer: timing a query loop, recall against
the float64 ground truth, memory of this process, the BLAS in use.

Kept apart from peers.py so that the peers in stores.py (databases) and those
in peers.py (in-process libraries, Chroma) time and score queries the same way.
"""

import gc
import os
import socket
import sys
import time

import numpy as np

TIE_EPS = 1e-9  # float64 scores closer than this to the k-th best count as ties


def log(msg):
    print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def recall(ds, results, truth_rows, truth_scores, k):
    """Mean recall@k over the queries in `results` ({query: internal rows}).

    strict: |returned ∩ exact top-k ids| / k, as asked.
    ties:   a returned row of the query's partition also counts when its exact
            score equals the k-th best (within TIE_EPS): with duplicate vectors
            (the hash embedder makes some) any of the tied rows is correct.
    wrong_partition: returned rows outside the query's partition (a filter bug).
    """
    strict, ties, wrong = [], [], 0
    for qi, got in results.items():
        got = [int(r) for r in got][:k]
        s, e = ds.parts[ds.qpart[qi]]
        kk = min(k, e - s)
        want = set(truth_rows[qi, :kk].tolist())
        strict.append(len(set(got) & want) / kk)
        inside = sorted({r for r in got if s <= r < e})
        wrong += len(got) - len([r for r in got if s <= r < e])
        if inside:
            exact = ds.base[inside].astype(np.float64) @ ds.queries[qi].astype(np.float64)
            hits = int((exact >= truth_scores[qi, kk - 1] - TIE_EPS).sum())
        else:
            hits = 0
        ties.append(min(hits, kk) / kk)
    return float(np.mean(strict)), float(np.mean(ties)), wrong


def truth_agreement(ds, truth_rows, truth_scores, k):
    """How well the Rust side's own truth (queries.json truth_rows) matches ours."""
    if not ds.rust_truth_rows:
        return None
    res = {}
    for qi, rows in enumerate(ds.rust_truth_rows[: ds.q]):
        res[qi] = ds.internal_rows(np.asarray(rows[:k], dtype=np.int64))
    strict, ties, wrong = recall(ds, res, truth_rows, truth_scores, k)
    return {"strict": strict, "ties": ties, "wrong_partition": wrong}


def proc_status_kb(pid="self"):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


def rss_mb():
    return round(proc_status_kb().get("VmRSS", 0) / 1024, 1)


def peak_rss_mb():
    return round(proc_status_kb().get("VmHWM", 0) / 1024, 1)


def pick_queries(q, limit):
    """`limit` query indices spread evenly over all queries (so over partitions)."""
    if limit is None or limit >= q:
        return list(range(q))
    return sorted({int(round(x)) for x in np.linspace(0, q - 1, limit)})


def time_queries(search, qsel, passes, warmup=5):
    """Run `search(qi)` over qsel `passes` times, one at a time, and time each.

    A few untimed warm-up calls first (imports, first-touch of pages). Each
    query gets a wall-clock latency and the CPU time of this thread: on a
    shared, noisy machine the wall figures include time spent waiting for a
    core, the CPU figures (for in-process, single-threaded peers) do not.
    Returns the figures and the first pass's results for recall.
    """
    for qi in qsel[:warmup]:
        search(qi)
    gc.collect()
    lat_ns, cpu_ns, results = [], [], {}
    t0, cpu0 = time.perf_counter(), time.process_time()
    for p in range(passes):
        for qi in qsel:
            c = time.thread_time_ns()
            t = time.perf_counter_ns()
            r = search(qi)
            lat_ns.append(time.perf_counter_ns() - t)
            cpu_ns.append(time.thread_time_ns() - c)
            if p == 0:
                results[qi] = r
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    lat_ms, cpu_ms = np.array(lat_ns) / 1e6, np.array(cpu_ns) / 1e6
    return {
        "queries": len(qsel),
        "passes": passes,
        "p50_ms": round(float(np.percentile(lat_ms, 50)), 4),
        "p99_ms": round(float(np.percentile(lat_ms, 99)), 4),
        "mean_ms": round(float(lat_ms.mean()), 4),
        "qps": round(len(lat_ns) / wall, 1),
        "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 4),
        "cpu_p99_ms": round(float(np.percentile(cpu_ms, 99)), 4),
        # CPU time of this process / wall time of the loop: well below 1 for an
        # in-process single-threaded peer means it waited for a core (noise).
        "cpu_share": round(cpu / wall, 3),
    }, results


def with_recall(ctx, figures, results):
    r, rt, wrong = recall(ctx.ds, results, ctx.truth_rows, ctx.truth_scores, ctx.k)
    figures[f"recall_at_{ctx.k}"] = round(r, 4)
    figures[f"recall_at_{ctx.k}_ties"] = round(rt, 4)
    if wrong:
        figures["wrong_partition_rows"] = wrong
    return figures


def blas_info():
    try:
        from threadpoolctl import threadpool_info
        return [{k: v for k, v in lib.items() if k in ("internal_api", "version", "architecture",
                                                         "threading_layer", "num_threads", "filepath")}
                for lib in threadpool_info()]
    except Exception as e:  # threadpoolctl missing: say so rather than fail
        return [{"error": repr(e)}]


class Ctx:
    """What a peer function gets: data, truth, options."""

    def __init__(self, ds, truth_rows, truth_scores, args):
        self.ds, self.truth_rows, self.truth_scores = ds, truth_rows, truth_scores
        self.k = args.k
        self.args = args
        self.passes = args.passes
        self.qsel = pick_queries(ds.q, args.queries)
        self.threads = args.build_threads or os.cpu_count() or 1


def topk_sorted(scores, k):
    """Indices of the k largest scores, best first (argpartition, then sort k)."""
    m = scores.shape[0]
    if k < m:
        idx = np.argpartition(-scores, k - 1)[:k]
    else:
        idx = np.arange(m)
    return idx[np.argsort(-scores[idx], kind="stable")]



def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
