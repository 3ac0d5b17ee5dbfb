# The scale table of benches/run (sourced by it; uses its start_server,
# restart_server, stop_server, settle_postgres, wrk_search, stage, $loadgen,
# $work, $secs and $scale_rows).
#
# For each size: NPCs of 5,000 synthetic 1536-d memories (the npc set's
# generator; 1m = 200 NPCs), 200 held-out queries. Per backend, on a fresh
# database: HTTP batch load (rows/s), then `mnemo serve` is stopped and started
# again on the loaded data to time start-up to /readyz while RssAnon is
# sampled, then the first search, wrk at concurrency 1 and 8, recall@10 with
# the in-tree generator, and the memory at steady state. One JSON line per
# step in $work/scale.jsonl, tagged with backend and rows.
#
# Postgres loads with the HNSW index dropped (then VACUUM ANALYZE, as
# autovacuum would soon after) and does not build the index: every
# partition here has 5,000 rows, below MNEMO_HNSW_THRESHOLD (20,000), so the
# service searches them exactly and would never use the index; building it
# over 1M x 1536 would add most of an hour on 2 cores for nothing measured.

# scale_backend NAME: every size of the scale table on one backend (postgres
# uses the server at $TEST_DATABASE_URL, in a database of its own per size).
scale_backend() {
    local name=$1 rows
    for rows in "${scale_rows[@]}"; do
        scale_one "$name" "$rows"
    done
}

scale_one() {
    local name=$1 rows=$2 out=$work/scale.jsonl
    local npcs=$(( rows >= 5000 ? rows / 5000 : 1 )) per=$(( rows >= 5000 ? 5000 : rows ))
    local dir=$work/scale-$rows url= pg_pid=
    if [ ! -f "$dir/queries.json" ]; then
        stage "scale data: $rows rows ($npcs NPCs x $per memories, 1536-d)"
        "$loadgen" prepare --dir "$dir" --npcs $npcs --per-npc $per --queries 200 --dim 1536 >/dev/null
    fi
    if [ "$name" = postgres ]; then
        "$MNEMO_PG_BIN/psql" "$TEST_DATABASE_URL" -q -c "DROP DATABASE IF EXISTS mnemo_scale" \
            -c "CREATE DATABASE mnemo_scale" >/dev/null
        url="${TEST_DATABASE_URL%/postgres}/mnemo_scale"
        pg_pid=$(head -n1 "$("$MNEMO_PG_BIN/psql" "$TEST_DATABASE_URL" -Atc 'SHOW data_directory')/postmaster.pid")
    fi
    local label=$name-scale-$rows
    # The service's default threshold, also in a quick run: 5,000-row NPCs are scanned.
    start_server "$label" "$work/$label-data" "$url" 20000
    local tag="{\"backend\":\"$name\",\"rows\":$rows,\"npcs\":$npcs,\"per_npc\":$per,"
    stage "$name, scale $rows: load"
    "$loadgen" load --dir "$dir" --url "$server_url" --token "$token" | sed "s/^{/${tag}\"step\":\"load\",/" >>"$out"
    if [ -n "$url" ]; then settle_postgres "$url"; fi

    stage "$name, scale $rows: start-up on the loaded data"
    stop_server
    restart_server "$label"
    python3 benches/procmem.py startup --pid "$server_pid" --url "$server_url" | sed "s/^{/${tag}\"step\":\"startup\",/" >>"$out"
    "$loadgen" bodies --dir "$dir" --out "$dir/bodies.jsonl"
    local first
    first=$(head -n1 "$dir/bodies.jsonl" | curl -fsS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' --data-binary @- "$server_url/v1/memories/npc/search")
    echo "${tag}\"step\":\"first_search\",\"seconds\":$first}" >>"$out"

    for c in 1 8; do
        stage "$name, scale $rows: wrk search, concurrency $c"
        wrk_search "$dir" $c "${tag}\"step\":\"wrk\"," >>"$out"
    done
    stage "$name, scale $rows: recall@10 (in-tree generator)"
    "$loadgen" run --dir "$dir" --url "$server_url" --token "$token" --workload search --concurrency 8 --seconds 2 |
        sed "s/^{/${tag}\"step\":\"recall\",/" >>"$out"
    python3 benches/procmem.py steady --pid "$server_pid" ${pg_pid:+--pg-pid "$pg_pid"} |
        sed "s/^{/${tag}\"step\":\"steady\",/" >>"$out"
    stop_server
    # Free the disk before the next size (1m: 6 GB of vectors per copy).
    rm -rf "${work:?}/$label-data"
    if [ "$name" = postgres ]; then
        "$MNEMO_PG_BIN/psql" "$TEST_DATABASE_URL" -qc "DROP DATABASE mnemo_scale" >/dev/null
        rm -rf "$dir"  # postgres runs last: the data set is done with
    fi
}
