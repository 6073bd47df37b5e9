#!/usr/bin/env bash
# Starts a three-node xinshi cluster on 127.0.0.1 for trying it out: clients on ports 8081,
# 8082 and 8083, the nodes talking on 7001-7003 (cluster/node*.toml), all over one
# throw-away PostgreSQL database (tests/pg.sh: Debian's postgresql package). Ctrl-C stops
# the nodes and deletes the database.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin xinshi
dir=$(mktemp -d -t xinshi-cluster.XXXXXX)
# A directory of its own: tests/pg.sh hands it to the postgres user when run as root.
pg=$(mktemp -d -t xinshi-cluster-pg.XXXXXX)
pids=()
stop() {
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null && wait "${pids[@]}" 2>/dev/null
  tests/pg.sh stop "$pg" || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM
url=$(tests/pg.sh start "$pg")
psql "$url" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE xinshi_cluster"
for n in 1 2 3; do
  XINSHI_STORAGE_POSTGRES_URL="${url%/*}/xinshi_cluster" XINSHI_STORAGE_DATA_DIR="$dir/node$n" \
    target/release/xinshi serve --config "cluster/node$n.toml" &
  pids+=($!)
done
sleep 2
for n in 1 2 3; do curl -s "http://127.0.0.1:808$n/healthz" || echo "node$n: no answer"; echo; done
echo "cluster up: http://127.0.0.1:8081, :8082, :8083 (Ctrl-C stops it)"
wait
