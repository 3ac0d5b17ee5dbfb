#!/usr/bin/env python3
"""Turn one benches/run into benches/results/latest.{md,json} and a dated copy.

Every figure in a report comes from the same run: mnemo's JSON lines over HTTP
(examples/loadgen, one per workload), its in-process scans (loadgen scan) and
the peers' JSON (benches/peers/peers.py), one file per data set.
"""
import argparse
import datetime
import json
import os
import platform
import shutil


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        with open("/proc/meminfo") as f:
            mem_gib = int(f.readline().split()[1]) / 1024 / 1024
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_gib, 1), "kernel": platform.release()}


def fmt(v, digits=2):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def ratio(a, b):
    if not a or not b:
        return "–"
    return f"{a / b:.2f}"


def read_lines(paths):
    rows = []
    for path in paths:
        if path and os.path.exists(path):
            with open(path) as f:
                rows += [json.loads(line) for line in f if line.strip()]
    return rows


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return out + [""]


class Report:
    def __init__(self, args):
        self.rows = read_lines(args.mnemo)
        self.scan = read_lines([args.scan])
        self.peers, self.peer_machine = {}, {}
        for spec in args.peers or []:
            name, _, path = spec.partition("=")
            if os.path.exists(path):
                with open(path) as f:
                    data = json.load(f)
                self.peers[name] = data.get("peers", {})
                self.peer_machine = data.get("machine", self.peer_machine)
        self.recall_note = ""
        if args.recall_note and os.path.exists(args.recall_note):
            with open(args.recall_note) as f:
                self.recall_note = json.load(f).get("note", "")
        self.runs = [r for r in self.rows if "workload" in r]

    def search(self, backend, data, c):
        for r in self.runs:
            if (r["backend"], r.get("data"), r["workload"], r["concurrency"]) == (backend, data, "search", c) \
                    and not r.get("rate"):
                return r
        return None

    def scan_of(self, data_set, method):
        return next((r for r in self.scan if r["set"] == data_set and r["method"] == method), None)

    def loads(self):
        loads = [r for r in self.rows if r.get("step") == "load"]
        index = {(r["backend"], r.get("data")): r for r in self.rows if r.get("step") == "index"}
        if not loads:
            return []
        out = ["## Load (HTTP batch store, 100 memories per request, vectors as embedding_b64, 4 requests in flight)", ""]
        body = []
        for r in loads:
            ready = index.get((r["backend"], r.get("data")))
            body.append([r["backend"], r.get("data", "npc"), r["loaded"], fmt(r["seconds"]), fmt(r["rows_per_second"], 0),
                         fmt(ready and ready["index_ready_seconds"], 1)])
        out += table(["backend", "data", "rows", "seconds", "rows/s", "HNSW ready s after load"], body)
        notes = [r["note"] for r in index.values() if r.get("note")]
        if notes:
            out += [f"{n}." for n in notes] + [""]
        return out

    def workloads(self):
        if not self.runs:
            return []
        out = ["## Workloads over HTTP", "",
               "search = top-10 in one NPC's memories with the query vector given (npc: 5,000 rows per NPC; recall: one "
               "partition of the whole corpus); search_text = the query embedded by the hash provider; context = lore + "
               "recent + last interaction + similar memories; store_batch = 16 memories per request; transfer (data economy) "
               "= a transfer of 0.01 FCMGold between two of 64 funded wallets, each with its own Idempotency-Key. Open "
               "loop: latency from the scheduled send time.", ""]
        body = [[r["backend"], r.get("data", "npc"), r["workload"], r["concurrency"], fmt(r.get("rate"), 0), r["requests"],
                 r["errors"], fmt(r["qps"], 0), fmt(r["p50_ms"]), fmt(r["p99_ms"]), fmt(r.get("recall_at_10"), 3)]
                for r in self.runs]
        out += table(["backend", "data", "workload", "concurrency", "open-loop rate", "requests", "errors", "QPS",
                      "p50 ms", "p99 ms", "recall@10"], body)
        rss = [r for r in self.rows if r.get("step") == "rss"]
        if rss:
            out += ["Peak RSS of the server process (VmHWM): " + ", ".join(
                f"{r['backend']} {r['peak_rss_kib'] / 1024:.0f} MiB (at the end: anonymous {r.get('anon_kib', 0) / 1024:.0f} MiB, "
                f"mapped files {r.get('file_kib', 0) / 1024:.0f} MiB)" for r in rss)
                + ". Mapped files are SQLite's memory-mapped database pages: page cache, counted once per connection "
                "that touched them, reclaimable; the anonymous figure is the process's own memory (vectors, index, "
                "buffers). Postgres' own processes are not counted in the postgres figure.", ""]
        return out

    def in_process(self):
        if not self.scan:
            return []
        out = ["## The vector core in process (one thread, no HTTP)", "",
               "Each query searches its own partition. int8 = int8 first pass over the partition, best 4·k rescored in f32. "
               "HNSW m=16, ef_construction=64, built on all cores.", ""]
        body = []
        for r in self.scan:
            exact = self.scan_of(r["set"], "exact_f32")
            speedup = ratio(exact and exact["ms_per_query"], r["ms_per_query"])
            body.append([r["set"], r["rows"], r["dim"], r["method"], fmt(r["ms_per_query"], 3),
                         fmt(1000 / r["ms_per_query"], 0) if r["ms_per_query"] else "–", fmt(r["recall_at_10"], 4),
                         speedup, fmt(r.get("extra", {}).get("build_s"), 1)])
        out += table(["data", "rows", "dim", "method", "ms/query", "QPS", "recall@10", "speed-up vs exact", "build s"], body)
        return out

    def peer_tables(self):
        out = []
        cols = [("build_s", "build/load s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("qps", "QPS"),
                ("recall_at_10", "recall@10"), ("recall_at_10_ties", "recall@10 (ties)"), ("rss_peak_mb", "peak MB")]
        for data, peers in self.peers.items():
            if not peers:
                continue
            mine = self.search("sqlite", data, 1)
            out += [f"## Peers on the same vectors: {data}", "",
                    "Peers run in process (numpy, faiss, hnswlib, the original's approach) or as a server over HTTP (Chroma). "
                    "mnemo p50 / peer p50 compares mnemo's SQLite-mode HTTP search at concurrency 1 "
                    f"(p50 {fmt(mine and mine['p50_ms'])} ms, recall@10 {fmt(mine and mine.get('recall_at_10'), 3)}) "
                    "with the peer's.", ""]
            body = [[name] + [fmt(v.get(k), 3) for k, _ in cols] + [ratio(mine and mine["p50_ms"], v.get("p50_ms")),
                                                                   v.get("note", "")]
                    for name, v in peers.items()]
            out += table(["peer"] + [c[1] for c in cols] + ["mnemo p50 / peer p50", "note"], body)
            bw = next((v.get("memory_read_bandwidth") for v in peers.values() if v.get("memory_read_bandwidth")), None)
            if bw:
                out += [f"Measured memory read bandwidth (numpy, one thread): {bw}.", ""]
        if out:
            out += ["recall@10 counts id overlap with the float64 ground truth; the offline hash provider (npc set) gives "
                    "exact score ties, so '(ties)' also accepts a row tied with the 10th.", ""]
        return out

    def aims(self):
        out = ["## Aims", ""]
        npc_peers, recall_peers = self.peers.get("npc", {}), self.peers.get("recall", {})
        exact = self.scan_of("npc", "exact_f32")
        numpy = npc_peers.get("numpy", {})
        if exact and numpy.get("p50_ms"):
            out.append(f"- Exact 5,000 × 1536 scan in process: {fmt(exact['ms_per_query'], 3)} ms per query (mean) vs numpy/BLAS "
                       f"{fmt(numpy['p50_ms'], 3)} ms (p50): {ratio(exact['ms_per_query'], numpy['p50_ms'])}× (aim ≤ 1.2×).")
        lite1, lite64 = self.search("sqlite", "npc", 1), self.search("sqlite", "npc", 64)
        if lite1:
            out.append(f"- SQLite-mode HTTP search p50 at concurrency 1, 5,000-memory NPC: {fmt(lite1['p50_ms'])} ms (aim ≤ 2 ms; "
                       f"the original's approach: {fmt(npc_peers.get('original', {}).get('p50_ms'))} ms per search).")
        for data, peers in (("npc", npc_peers), ("recall", recall_peers)):
            mine, chroma = self.search("sqlite", data, 1), peers.get("chroma", {})
            if mine and chroma.get("qps"):
                out.append(f"- Search QPS vs Chroma ({data}), one client each: mnemo {fmt(mine['qps'], 0)} vs Chroma "
                           f"{fmt(chroma['qps'], 0)}: {ratio(mine['qps'], chroma['qps'])}× (aim ≥ 3×) at recall@10 mnemo "
                           f"{fmt(mine.get('recall_at_10'), 3)}, Chroma {fmt(chroma.get('recall_at_10'), 3)}.")
        hnsw = [r for r in self.scan if r["method"] == "hnsw_ef100"]
        if hnsw:
            out.append("- HNSW recall@10 at ef_search=100 (the service default), in process: " + ", ".join(
                f"{r['set']} {fmt(r['recall_at_10'], 3)}" for r in hnsw) + " (aim ≥ 0.95).")
        lite_recall = self.search("sqlite", "recall", 1)
        if lite_recall:
            out.append(f"- SQLite-mode HTTP search through HNSW on the recall set: recall@10 {fmt(lite_recall.get('recall_at_10'), 3)}.")
        for data in ("npc", "recall"):
            pg = self.search("postgres", data, 1)
            if pg:
                out.append(f"- Postgres search ({data}): recall@10 {fmt(pg.get('recall_at_10'), 3)}, full k "
                           f"(aim ≥ 0.95), p50 {fmt(pg['p50_ms'])} ms at concurrency 1.")
        int8 = [r for r in self.scan if r["method"].startswith("int8")]
        if int8:
            out.append("- int8 first pass: " + ", ".join(
                f"{r['set']} recall@10 {fmt(r['recall_at_10'], 4)} at "
                f"{ratio((self.scan_of(r['set'], 'exact_f32') or {}).get('ms_per_query'), r['ms_per_query'])}× the exact scan"
                for r in int8) + " (on by default only if recall@10 ≥ 0.99 on the recall set).")
        out.append("- Published 2-core anchors (not measured here): Supabase pgvector \"Large\" 280 QPS at 0.99 on 224k×1536; "
                   "Milvus 2c8g 180 QPS on 500k×1536 (VectorDBBench); Chroma on 2 vCPU 4–8 ms mean query.")
        return out + [""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnemo", nargs="+", required=True)
    ap.add_argument("--scan")
    ap.add_argument("--peers", nargs="*", help="DATA=peers.json")
    ap.add_argument("--recall-note")
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--out", required=True)
    ap.add_argument("--commit", default="unknown")
    args = ap.parse_args()
    rep = Report(args)

    now = datetime.datetime.now(datetime.timezone.utc)
    m = machine()
    out = [f"# mnemo benchmark — {now:%Y-%m-%d %H:%M} UTC, commit {args.commit}", ""]
    out += [f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}."]
    if rep.peer_machine.get("blas"):
        out += [f"BLAS (numpy): {rep.peer_machine['blas']}."]
    if args.seconds:
        out += [f"The whole run (`benches/run`) took {args.seconds / 60:.1f} minutes."]
    out += ["All figures below come from this one run; the machine is shared, so compare ratios, not absolutes.", ""]
    out += ["Data: **npc** = 20 NPCs × 5,000 synthetic dialogue memories, 1536-d, offline hash provider; "
            f"**recall** = {rep.recall_note or 'the recall data set'}, stored as one NPC; "
            "**gauss** = isotropic Gaussian unit vectors, 1536-d, the worst case for an index.", ""]
    out += rep.aims() + rep.loads() + rep.workloads() + rep.in_process() + rep.peer_tables()

    os.makedirs(args.out, exist_ok=True)
    text = "\n".join(out)
    latest_md = os.path.join(args.out, "latest.md")
    with open(latest_md, "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump({"commit": args.commit, "date": now.isoformat(), "machine": m, "seconds": args.seconds,
                   "mnemo": rep.rows, "scan": rep.scan, "peers": rep.peers}, f, indent=1)
    stamp = f"{now:%Y-%m-%d}-{args.commit}"
    shutil.copy(latest_md, os.path.join(args.out, f"{stamp}.md"))
    print(text)


if __name__ == "__main__":
    main()
