#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on a private port and socket, for tests.
#   scripts/pg.sh start DIR [PORT]   -> prints the SQLAlchemy URL
#   scripts/pg.sh stop DIR
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}; port=${3:-54329}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$bindir/pg_ctl" ] || { echo "PostgreSQL server binaries not found" >&2; exit 1; }
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    run "$bindir/initdb" -D "$dir/data" -U kumo --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1
  fi
  run "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
  echo "postgresql+psycopg://kumo@127.0.0.1:$port/postgres"
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] && run "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  ;;
*) echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2 ;;
esac
