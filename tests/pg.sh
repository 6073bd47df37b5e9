#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests, in a directory of its own.
#
#   tests/pg.sh start DIR [--durable]   initdb into DIR, start on a free 127.0.0.1 port and
#                                       print the admin URL (trust auth, user postgres)
#   tests/pg.sh stop DIR                stop it and delete DIR
#
# initdb refuses to run as root: as root, the cluster belongs to the `postgres` user (Debian's
# postgresql package creates it) and DIR is handed to that user. Without --durable the
# cluster runs with fsync=off: the tests kill xinshi, never PostgreSQL or the machine, and
# every database they create is thrown away. Measurements use --durable (PostgreSQL's
# defaults: fsync on, synchronous_commit on).
set -euo pipefail

pg_bin() {
  local found
  found=$(command -v "$1" 2>/dev/null || true)
  if [[ -z "$found" ]]; then
    found=$(ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1 || true)
  fi
  [[ -n "$found" ]] || { echo "tests/pg.sh: $1 not found (install Debian's postgresql)" >&2; exit 1; }
  echo "$found"
}

as_owner() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "tests/pg.sh: no free port" >&2; exit 1
}

case "${1:-}" in
start)
  dir=${2:?usage: tests/pg.sh start DIR [--durable]}
  settings=(-c fsync=off -c full_page_writes=off)
  [[ "${3:-}" == --durable ]] && settings=()
  mkdir -p "$dir"
  [[ $(id -u) == 0 ]] && chown postgres: "$dir" && chmod 700 "$dir"
  as_owner "$(pg_bin initdb)" -D "$dir/data" -U postgres -A trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if as_owner "$(pg_bin pg_ctl)" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300 ${settings[*]}" \
      >/dev/null; then
      echo "postgres://postgres@127.0.0.1:$port/postgres"
      exit 0
    fi
  done
  cat "$dir/server.log" >&2
  exit 1
  ;;
stop)
  dir=${2:?usage: tests/pg.sh stop DIR}
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    as_owner "$(pg_bin pg_ctl)" -D "$dir/data" -m immediate -w stop >/dev/null || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: tests/pg.sh start DIR [--durable] | stop DIR" >&2
  exit 2
  ;;
esac
