"""Database peers: the same per-NPC top-k searches through raw pgvector SQL
(pgbench), sqlite-vec and LanceDB, each configured as a game would use it for
"one NPC's memories" (a filter on the NPC applied before ranking).

Each function runs in its own child process of peers.py and returns figures
like the other peers; `variants` holds one set of figures per configuration
measured on the same load (peers.py reports each as a row `peer_variant`).
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

import numpy as np

from measure import log, rss_mb, time_queries, with_recall

# Candidates the binary first pass keeps per result: on the bench's clustered
# synthetic set 4x gave recall@10 0.85 and 8x 0.999 (measured by hand on
# pgvector), so the raw-SQL floor uses 8x.
BQ_OVERSAMPLE = 8
PG_EF_SEARCH = 100  # mnemo's MNEMO_EF_SEARCH default, so the HNSW row matches the service's setting


def npc_of_rows(ds):
    npc = np.empty(ds.n, dtype=np.int64)
    for p, (s, e) in ds.parts.items():
        npc[s:e] = p
    return npc


# --------------------------------------------------------------------------
# pgvector through pgbench
# --------------------------------------------------------------------------


def _copy_binary(cur, table, npc, vectors, first_id=0):
    """COPY (id int4, npc_id int8, vector) rows in PostgreSQL's binary format.

    The vector field is pgvector's binary form (int16 dim, int16 unused, then
    float4 values, all big-endian). Built with numpy in slices of 5,000 rows,
    so neither text formatting nor a Python loop per row is timed.
    """
    dim = vectors.shape[1]
    row = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("npc_len", ">i4"), ("npc", ">i8"),
                    ("vec_len", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", (dim,))])
    with cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big"))
        for s in range(0, len(vectors), 5000):
            e = min(len(vectors), s + 5000)
            a = np.zeros(e - s, dtype=row)
            a["fields"], a["id_len"], a["npc_len"], a["vec_len"] = 3, 4, 8, 4 + 4 * dim
            a["id"] = np.arange(first_id + s, first_id + e)
            a["npc"] = npc[s:e]
            a["dim"] = dim
            a["v"] = vectors[s:e]
            copy.write(a.tobytes())
        copy.write((-1).to_bytes(2, "big", signed=True))


def _pg_variants(dim, candidates):
    """SQL of each configuration, with pgbench's :q for the query number.

    The query's vector and NPC come from `peer_queries` through scalar
    subqueries (init plans, evaluated once per statement, so an index can
    order by them): pgbench cannot send a vector, and so each search is one
    statement, one round trip, as a service's would be.
    """
    npc = "(SELECT npc_id FROM peer_queries WHERE qid = :q)"
    vec = "(SELECT v FROM peer_queries WHERE qid = :q)"
    bits = "(SELECT b FROM peer_queries WHERE qid = :q)"
    exact = f"SELECT id FROM peer_vectors WHERE npc_id = {npc} ORDER BY embedding <=> {vec} LIMIT 10"
    return {
        "exact": (exact, "exact: b-tree on npc_id, every row of the NPC ranked by <=> (no vector index)"),
        f"bq{BQ_OVERSAMPLE}": (
            f"SELECT id FROM peer_vectors WHERE id IN (SELECT id FROM peer_vectors WHERE npc_id = {npc} "
            f"ORDER BY bits <~> {bits} LIMIT {candidates}) ORDER BY embedding <=> {vec} LIMIT 10",
            f"binary first pass: bits = binary_quantize(embedding)::bit({dim}) (stored), b-tree (npc_id) "
            f"INCLUDE (id, bits), Hamming <~> over an index-only scan keeps {BQ_OVERSAMPLE}×k, exact <=> re-ranks"),
        "hnsw": (exact, f"HNSW (vector_cosine_ops, m=16, ef_construction=64), hnsw.ef_search={PG_EF_SEARCH}, "
                        "hnsw.iterative_scan=strict_order, enable_sort=off (the index gives the order), "
                        "filter npc_id = X"),
    }


def _pgbench(pg_bin, url, sql, nq, clients, seconds, tmp):
    """Run one script for `seconds` with `clients` connections; figures from its per-transaction log."""
    script = os.path.join(tmp, "search.sql")
    with open(script, "w") as f:
        f.write(f"\\set q random(1, {nq})\n{sql};\n")
    prefix = os.path.join(tmp, f"log{clients}")
    cmd = [os.path.join(pg_bin, "pgbench"), "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
           "-T", str(seconds), "-f", script, "-l", f"--log-prefix={prefix}", url]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=tmp).stdout
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out).group(1))
    lat = []
    for name in os.listdir(tmp):
        if name.startswith(f"log{clients}."):
            with open(os.path.join(tmp, name)) as f:
                lat += [int(line.split()[2]) for line in f if line.strip()]
            os.unlink(os.path.join(tmp, name))
    lat_ms = np.array(lat) / 1000
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {"qps": round(tps, 1), "p50_ms": round(float(np.percentile(lat_ms, 50)), 4),
            "p99_ms": round(float(np.percentile(lat_ms, 99)), 4), "mean_ms": round(float(lat_ms.mean()), 4),
            "transactions": len(lat), "failed": int(failed.group(1)) if failed else 0}


def _plan(conn, sql):
    """The plan's nodes on peer_vectors (which index answered) and its sorts, in plan order."""
    rows = [r[0].strip().removeprefix("->  ") for r in
            conn.execute("EXPLAIN (COSTS OFF) " + sql.replace(":q", "1")).fetchall()]
    return " / ".join(r for r in rows if " on peer_vectors" in r or r.startswith("Sort Key"))


def peer_pgvector(ctx):
    """Raw pgvector SQL on the same Postgres server mnemo used, in a database
    of its own: the floor for Postgres mode (no HTTP, no service, pgbench as
    the client). The table mirrors mnemo's: one row per memory, the vector
    stored inline (STORAGE PLAIN). Exact and binary-first-pass searches run
    before the HNSW index exists, so the planner cannot pick it for them.
    """
    import psycopg
    from psycopg.conninfo import make_conninfo
    ds, args = ctx.ds, ctx.args
    if not args.pg_url or not args.pg_bin:
        raise RuntimeError("pgvector needs --pg-url and --pg-bin")
    dim, seconds = ds.dim, args.pg_seconds
    dbname = "mnemo_peers"
    with psycopg.connect(args.pg_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {dbname}")
        admin.execute(f"CREATE DATABASE {dbname}")
    url = make_conninfo(args.pg_url, dbname=dbname)  # pgbench takes a conninfo string as its database
    tmp = tempfile.mkdtemp(prefix="mnemo-peer-pgbench-")
    out = {"variants": {}}
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            # The bench's cluster runs with synchronous_commit=off: a commit not yet
            # flushed to WAL gets no hint bits, so a VACUUM right after the load
            # would mark no page all-visible and the binary pass's "index-only"
            # scan would visit all 5,000 heap pages of an NPC (measured: 14 ms).
            conn.execute("SET synchronous_commit = on")
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            for table, key in (("peer_vectors", "id"), ("peer_queries", "qid")):
                col = "embedding" if table == "peer_vectors" else "v"
                bits = "bits" if table == "peer_vectors" else "b"
                conn.execute(f"CREATE TABLE {table} ({key} int PRIMARY KEY, npc_id bigint NOT NULL, "
                             f"{col} vector({dim}) NOT NULL, {bits} bit({dim}) "
                             f"GENERATED ALWAYS AS (binary_quantize({col})::bit({dim})) STORED)")
                conn.execute(f"ALTER TABLE {table} ALTER COLUMN {col} SET STORAGE PLAIN")
            with conn.cursor() as cur:
                t0 = time.perf_counter()
                _copy_binary(cur, "peer_vectors (id, npc_id, embedding)", npc_of_rows(ds), ds.base)
                load_s = time.perf_counter() - t0
                _copy_binary(cur, "peer_queries (qid, npc_id, v)", np.asarray(ds.qpart), ds.queries, first_id=1)
            t0 = time.perf_counter()
            conn.execute("CREATE INDEX ON peer_vectors (npc_id) INCLUDE (id, bits)")
            conn.execute("VACUUM (ANALYZE) peer_vectors")  # all-visible pages: index-only scans
            conn.execute("VACUUM (ANALYZE) peer_queries")
            table_bytes = conn.execute("SELECT pg_total_relation_size('peer_vectors')").fetchone()[0]
            out.update(build_s=round(load_s, 3), rows_per_second=round(ds.n / load_s),
                       btree_s=round(time.perf_counter() - t0, 2), table_mb=round(table_bytes / 2**20, 1))
            log(f"pgvector: {ds.n} rows copied in {load_s:.1f} s")
            variants = _pg_variants(dim, BQ_OVERSAMPLE * ctx.k)
            for name, (sql, note) in variants.items():
                if name == "hnsw":
                    t0 = time.perf_counter()
                    conn.execute("SET maintenance_work_mem = '2GB'")
                    conn.execute("CREATE INDEX ON peer_vectors USING hnsw (embedding vector_cosine_ops) "
                                 "WITH (m = 16, ef_construction = 64)")
                    out["hnsw_build_s"] = round(time.perf_counter() - t0, 1)
                    # enable_sort = off: with 5,000-row NPCs the planner prefers sorting the
                    # NPC's rows exactly; this row measures the index.
                    for setting in (f"hnsw.ef_search = {PG_EF_SEARCH}", "hnsw.iterative_scan = strict_order",
                                    "enable_sort = off"):
                        conn.execute(f"ALTER DATABASE {dbname} SET {setting}")
                    log(f"pgvector: HNSW built in {out['hnsw_build_s']} s")
                with psycopg.connect(url, autocommit=True) as session:  # a new session: database settings apply
                    plan = _plan(session, sql)
                    psql = sql.replace(":q", "%(q)s")

                    def search(qi, session=session, psql=psql):
                        return [r[0] for r in session.execute(psql, {"q": qi + 1}).fetchall()]

                    figures, results = time_queries(search, ctx.qsel, 1)
                figures = with_recall(ctx, {"queries": figures["queries"], "passes": 1,
                                            "python_client_p50_ms": figures["p50_ms"]}, results)
                one = _pgbench(args.pg_bin, url, sql, ds.q, 1, seconds, tmp)
                eight = _pgbench(args.pg_bin, url, sql, ds.q, 8, seconds, tmp)
                figures.update(one, qps_c8=eight["qps"], p50_ms_c8=eight["p50_ms"], p99_ms_c8=eight["p99_ms"],
                               failed_c8=eight["failed"], plan=plan, sql=sql,
                               note=f"pgbench -M prepared, {seconds} s per concurrency; {note}; plan: {plan}")
                out["variants"][name] = figures
                log(f"pgvector {name}: {figures['qps']} QPS, recall {figures.get(f'recall_at_{ctx.k}')}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            with psycopg.connect(args.pg_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {dbname}")
        except psycopg.Error as e:
            log(f"pgvector: could not drop {dbname}: {e}")
    out.update(rss_after_build_mb=rss_mb(), build_threads=1)
    return out


# --------------------------------------------------------------------------
# sqlite-vec
# --------------------------------------------------------------------------


def peer_sqlite_vec(ctx):
    """sqlite-vec's vec0 table in an SQLite file, the NPC as its partition key
    (rows are stored per NPC, so a search reads only that NPC's vectors), one
    exact KNN query per search. Loaded through apsw: the interpreter's own
    sqlite3 module may be built without extension loading.
    """
    import apsw
    import sqlite_vec
    ds, k = ctx.ds, ctx.k
    tmp = tempfile.mkdtemp(prefix="mnemo-peer-sqlite-vec-")
    try:
        db = apsw.Connection(os.path.join(tmp, "vec.db"))
        db.enable_load_extension(True)
        db.load_extension(sqlite_vec.loadable_path())
        db.enable_load_extension(False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"CREATE VIRTUAL TABLE memories USING vec0(npc_id integer partition key, "
                   f"embedding float[{ds.dim}] distance_metric=cosine)")
        npc = npc_of_rows(ds)
        t0 = time.perf_counter()
        with db:
            db.executemany("INSERT INTO memories (rowid, npc_id, embedding) VALUES (?, ?, ?)",
                           ((i, int(npc[i]), ds.base[i].tobytes()) for i in range(ds.n)))
        build_s = time.perf_counter() - t0
        rss_built = rss_mb()
        qbytes = [q.tobytes() for q in ds.queries]
        sql = "SELECT rowid FROM memories WHERE embedding MATCH ? AND k = ? AND npc_id = ?"

        def search(qi):
            return [r[0] for r in db.execute(sql, (qbytes[qi], k, ds.qpart[qi]))]

        figures, results = time_queries(search, ctx.qsel, ctx.passes)
        file_mb = os.path.getsize(os.path.join(tmp, "vec.db")) / 2**20
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures = with_recall(ctx, figures, results)
    figures.update(build_s=round(build_s, 3), rows_per_second=round(ds.n / build_s), build_threads=1,
                   rss_after_build_mb=rss_built, sqlite_file_mb=round(file_mb, 1),
                   note="vec0 virtual table, npc_id partition key, float[dim] distance_metric=cosine; "
                        "KNN query `embedding MATCH ? AND k = 10 AND npc_id = ?` (exact); rows inserted in one "
                        "transaction; SQLite file on disk, page cache warm")
    return figures


# --------------------------------------------------------------------------
# LanceDB
# --------------------------------------------------------------------------


def peer_lancedb(ctx):
    """LanceDB embedded (a directory of Lance files), one table, a bitmap
    scalar index on npc_id and a prefilter on it; no vector index, so each
    search ranks every row of the NPC exactly (as mnemo's exact scans do).
    """
    import lancedb
    import pyarrow as pa
    ds, k = ctx.ds, ctx.k
    tmp = tempfile.mkdtemp(prefix="mnemo-peer-lancedb-")
    try:
        db = lancedb.connect(os.path.join(tmp, "db"))
        data = pa.table({
            "row": pa.array(np.arange(ds.n, dtype=np.int64)),
            "npc_id": pa.array(npc_of_rows(ds)),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(ds.base.reshape(-1), type=pa.float32()), ds.dim),
        })
        t0 = time.perf_counter()
        table = db.create_table("memories", data=data)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        table.create_scalar_index("npc_id", index_type="BITMAP")
        index_s = time.perf_counter() - t0
        del data
        rss_built = rss_mb()

        def search(qi):
            res = (table.search(ds.queries[qi], vector_column_name="vector").distance_type("dot")
                   .where(f"npc_id = {ds.qpart[qi]}", prefilter=True).select(["row", "_distance"]).limit(k).to_arrow())
            return res["row"].to_pylist()

        figures, results = time_queries(search, ctx.qsel, ctx.passes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures = with_recall(ctx, figures, results)
    figures.update(build_s=round(build_s, 3), rows_per_second=round(ds.n / build_s), scalar_index_s=round(index_s, 2),
                   build_threads=None, rss_after_build_mb=rss_built,
                   note="embedded, one table, BITMAP scalar index on npc_id, where(npc_id = X, prefilter=True), "
                        "distance dot, no vector index (exact over the NPC's rows)")
    return figures


STORE_PEERS = {"pgvector": peer_pgvector, "sqlite_vec": peer_sqlite_vec, "lancedb": peer_lancedb}
