#!/usr/bin/env python3
"""Turn one benches/run into benches/results/latest.{md,json} and a dated copy.

Every figure in a report comes from the same run: mnemo's JSON lines over HTTP
(examples/loadgen, one per workload, and wrk's), its in-process scans (loadgen
scan), the scale table's lines (benches/scale.sh) and the peers' JSON
(benches/peers/peers.py), one file per data set. Plots (benches/plots.py) are
written beside the markdown and linked from it.
"""
import argparse
import datetime
import json
import os
import platform
import shutil

import plots


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


def mib(kib):
    return kib / 1024 if kib is not None else None


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
        self.wrk = [r for r in self.rows if r.get("step") == "wrk"]
        self.scale_steps = {}
        for r in read_lines([args.scale]):
            step = r["step"] + (f"_c{r['concurrency']}" if r["step"] == "wrk" else "")
            self.scale_steps.setdefault((r["backend"], r["rows"]), {})[step] = r

    def search(self, backend, data, c):
        for r in self.runs:
            if (r["backend"], r.get("data"), r["workload"], r["concurrency"]) == (backend, data, "search", c) \
                    and not r.get("rate"):
                return r
        return None

    def wrk_of(self, backend, data, c):
        return next((r for r in self.wrk if (r["backend"], r["data"], r["concurrency"]) == (backend, data, c)), None)

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

    def headline(self):
        if not self.wrk:
            return []
        out = ["## Search over HTTP: the in-tree generator and wrk", "",
               "Top-10 search in one NPC's memories, the query vector as `embedding_b64`, cycling through the held-out "
               "queries, closed loop. wrk (Debian's, `benches/wrk/search.lua`, keep-alive, min(c, 2) threads) and the "
               "in-tree generator (`examples/loadgen run`, which also scores recall@10 from the answers) each run on "
               "the same 2 cores as the server, one after the other.", ""]
        body = []
        for r in self.wrk:
            mine = self.search(r["backend"], r["data"], r["concurrency"]) or {}
            errors = sum(r.get(f"errors_{e}", 0) for e in ("connect", "read", "write", "status", "timeout"))
            body.append([r["backend"], r["data"], r["concurrency"], fmt(mine.get("qps"), 0), fmt(mine.get("p50_ms")),
                         fmt(mine.get("p99_ms")), fmt(mine.get("recall_at_10"), 3), fmt(r["qps"], 0), fmt(r["p50_ms"]),
                         fmt(r["p90_ms"]), fmt(r["p99_ms"]), errors])
        return out + table(["backend", "data", "concurrency", "loadgen QPS", "loadgen p50 ms", "loadgen p99 ms",
                            "recall@10", "wrk QPS", "wrk p50 ms", "wrk p90 ms", "wrk p99 ms", "wrk errors"], body)

    def scale(self):
        if not self.scale_steps:
            return []
        out = ["## Scale", "",
               "NPCs of 5,000 synthetic 1536-d memories each (1m = 200 NPCs), 200 held-out queries, each backend on a "
               "fresh database. Load: HTTP batch store as above. Start-up: `mnemo serve` stopped and started again on "
               "the loaded data, seconds from the process's start to `/readyz` 200. Memory of the mnemo process: "
               "RssAnon (its own memory: vectors, index, buffers; sampled every 20 ms during start-up for the peak), "
               "beside VmHWM, which also counts pages of memory-mapped files (SQLite's database, page cache). f32 = "
               "rows × 1536 × 4 bytes. Postgres PSS = proportional set size of all Postgres processes (shared "
               "buffers counted once; its shared_buffers is 2 GB). Search: wrk at concurrency 1 and 8; recall@10 "
               "from the in-tree generator. Postgres loads without its HNSW index and does not build it: every "
               "partition is below the HNSW threshold, so searches are exact scans.", ""]
        body = []
        for (backend, rows), st in sorted(self.scale_steps.items()):
            load, up, first = st.get("load", {}), st.get("startup", {}), st.get("first_search", {})
            steady, c1, c8 = st.get("steady", {}), st.get("wrk_c1", {}), st.get("wrk_c8", {})
            f32_mib = rows * 1536 * 4 / 2**20
            shape = next(iter(st.values()))
            body.append([backend, f"{rows:,}", f"{shape['npcs']} × {shape['per_npc']:,}",
                         fmt(load.get("rows_per_second"), 0), fmt(up.get("ready_s")),
                         fmt(first.get("seconds") and first["seconds"] * 1000, 1),
                         fmt(mib(up.get("startup_peak_anon_kib")), 0), fmt(mib(steady.get("anon_kib")), 0),
                         ratio(mib(steady.get("anon_kib")), f32_mib), fmt(mib(steady.get("vmhwm_kib")), 0),
                         fmt(mib(steady.get("postgres_pss_kib")), 0),
                         fmt(c1.get("qps"), 0), fmt(c1.get("p50_ms")), fmt(c1.get("p99_ms")),
                         fmt(c8.get("qps"), 0), fmt(c8.get("p50_ms")), fmt(c8.get("p99_ms")),
                         fmt(st.get("recall", {}).get("recall_at_10"), 3)])
        return out + table(["backend", "rows", "NPCs × rows", "load rows/s", "ready s", "first search ms",
                            "start-up peak RssAnon MiB", "steady RssAnon MiB", "steady / f32", "VmHWM MiB",
                            "Postgres PSS MiB", "c1 QPS", "c1 p50 ms", "c1 p99 ms", "c8 QPS", "c8 p50 ms",
                            "c8 p99 ms", "recall@10"], body)

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
                ("qps_c8", "QPS c8"), ("recall_at_10", "recall@10"), ("recall_at_10_ties", "recall@10 (ties)"),
                ("rss_peak_mb", "peak MB")]
        for data, peers in self.peers.items():
            if not peers:
                continue
            mine = self.search("sqlite", data, 1)
            out += [f"## Peers on the same vectors: {data}", "",
                    "Peers run in process (numpy, faiss, hnswlib, the original's approach), embedded (sqlite-vec, "
                    "LanceDB), as a server over HTTP (Chroma) or as SQL on mnemo's Postgres server (pgvector, driven "
                    "by pgbench at concurrency 1 and 8; recall from the same SQL through psycopg). One client unless "
                    "the column says c8; the note says how each peer was configured. "
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
            out.append("- HNSW recall@10 at ef_search=100 (SQLite mode's default), in process: " + ", ".join(
                f"{r['set']} {fmt(r['recall_at_10'], 3)}" for r in hnsw) + " (aim ≥ 0.95).")
        lite_recall = self.search("sqlite", "recall", 1)
        if lite_recall:
            out.append(f"- SQLite-mode HTTP search on the recall set (one partition: scanned by default, through HNSW under "
                       f"--quick's threshold): recall@10 {fmt(lite_recall.get('recall_at_10'), 3)}.")
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
        for backend, aim in (("sqlite", "aims: p50 ≤ 0.35 ms at concurrency 1, ≥ 5,000 QPS at 8"),
                             ("postgres", "aims: p50 ≤ 2.5 ms at concurrency 1, ≥ 900 QPS at 8")):
            w1, w8 = self.wrk_of(backend, "npc", 1), self.wrk_of(backend, "npc", 8)
            if w1 and w8:
                out.append(f"- {backend} HTTP search measured with wrk (npc): p50 {fmt(w1['p50_ms'])} ms and "
                           f"{fmt(w1['qps'], 0)} QPS at concurrency 1, {fmt(w8['qps'], 0)} QPS at 8 ({aim}).")
        floor = {n: v for n, v in npc_peers.items() if n.startswith("pgvector_") and v.get("qps")}
        pg1, pg8 = self.search("postgres", "npc", 1), self.search("postgres", "npc", 8)
        if floor and pg1 and pg8:
            out.append("- Postgres mode over HTTP vs raw pgvector SQL on the same server (pgbench, npc): mnemo "
                       f"{fmt(pg1['qps'], 0)} QPS at concurrency 1 and {fmt(pg8['qps'], 0)} at 8; " + ", ".join(
                           f"{n} {fmt(v['qps'], 0)} and {fmt(v.get('qps_c8'), 0)} "
                           f"(recall@10 {fmt(v.get('recall_at_10'), 3)})"
                           for n, v in floor.items()) + ".")
        for backend in ("sqlite", "postgres"):
            sizes = sorted(rows for b, rows in self.scale_steps if b == backend)
            if not sizes:
                continue
            st = self.scale_steps[(backend, sizes[-1])]
            up, steady, c1 = st.get("startup", {}), st.get("steady", {}), st.get("wrk_c1", {})
            f32_kib = sizes[-1] * 1536 * 4 / 1024
            line = f"- Scale, {backend} at {sizes[-1]:,} rows: ready {fmt(up.get('ready_s'))} s after start, "
            if backend == "sqlite":
                line += (f"start-up peak RssAnon {ratio(up.get('startup_peak_anon_kib'), steady.get('anon_kib'))}× "
                         f"the steady size, steady RssAnon {ratio(steady.get('anon_kib'), f32_kib)}× the f32 vectors")
            else:
                line += (f"mnemo RssAnon {fmt((steady.get('anon_kib') or 0) / 1024, 0)} MiB, Postgres PSS "
                         f"{fmt((steady.get('postgres_pss_kib') or 0) / 1024, 0)} MiB")
            smallest = self.scale_steps[(backend, sizes[0])].get("wrk_c1", {})
            line += (f", wrk p50 at concurrency 1 {fmt(c1.get('p50_ms'))} ms (at {sizes[0]:,} rows: "
                     f"{fmt(smallest.get('p50_ms'))} ms)")
            if backend == "sqlite":
                line += " (aims at 1M: ready < 60 s, peak < 1.5× steady, steady ≤ 1.3× f32, latency as at 100k)"
            out.append(line + ".")
        out.append("- Published 2-core anchors (not measured here): Supabase pgvector \"Large\" 280 QPS at 0.99 on 224k×1536; "
                   "Milvus 2c8g 180 QPS on 500k×1536 (VectorDBBench); Chroma on 2 vCPU 4–8 ms mean query.")
        return out + [""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnemo", nargs="+", required=True)
    ap.add_argument("--scan")
    ap.add_argument("--scale", help="the scale table's JSON lines (benches/scale.sh)")
    ap.add_argument("--peers", nargs="*", help="DATA=peers.json")
    ap.add_argument("--npc-data", help="the npc set's base.json (its shape)")
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
    npc = "20 NPCs × 5,000"
    if args.npc_data and os.path.exists(args.npc_data):
        with open(args.npc_data) as f:
            parts = json.load(f)["partitions"]
        npc = f"{len(parts)} NPCs × {parts[0]['count']:,}"
    out += [f"Data: **npc** = {npc} synthetic dialogue memories, 1536-d, offline hash provider; "
            f"**recall** = {rep.recall_note or 'the recall data set'}, stored as one NPC; "
            "**gauss** = isotropic Gaussian unit vectors, 1536-d, the worst case for an index.", ""]
    os.makedirs(args.out, exist_ok=True)
    stamp = f"{now:%Y-%m-%d}-{args.commit}"
    drawn = plots.draw(rep, args.out, stamp)
    out += rep.aims()
    if drawn:
        out += ["## Plots", ""] + [f"- {title}: [PNG]({name}.png), [SVG]({name}.svg)\n\n  ![{title}]({name}.png)"
                                   for title, name in drawn] + [""]
    out += rep.headline() + rep.scale() + rep.loads() + rep.workloads() + rep.in_process() + rep.peer_tables()
    text = "\n".join(out)
    latest_md = os.path.join(args.out, "latest.md")
    with open(latest_md, "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump({"commit": args.commit, "date": now.isoformat(), "machine": m, "seconds": args.seconds,
                   "mnemo": rep.rows, "scan": rep.scan, "scale": list(map(dict, rep.scale_steps.values())),
                   "peers": rep.peers}, f, indent=1)
    shutil.copy(latest_md, os.path.join(args.out, f"{stamp}.md"))
    print(text)


if __name__ == "__main__":
    main()
