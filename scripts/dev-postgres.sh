#!/usr/bin/env bash
# A local PostgreSQL for trying Confide on it, from Debian's packages (apt-get install postgresql),
# without systemd and without touching the machine's own clusters.
#
#   scripts/dev-postgres.sh start    # create (first time) and start the cluster, create the `confide` database
#   scripts/dev-postgres.sh url      # print CONFIDE_DATABASE_URL=postgres://… to use
#   scripts/dev-postgres.sh status   # running or not (exit 0 / 3)
#   scripts/dev-postgres.sh stop
#
# start and url print one line on stdout, so `export "$(scripts/dev-postgres.sh start)"` works;
# progress goes to stderr. Starting twice is fine.
#
# Environment: DEV_PG_DIR (default ./.dev-postgres at the repository's top, gitignored),
# DEV_PG_PORT (default 5433, beside a system cluster on 5432), DEV_PG_BIN (default the newest
# /usr/lib/postgresql/*/bin).
#
# For development only: it listens on 127.0.0.1 alone (no Unix socket) and trusts every
# connection from there, as the superuser `postgres`, without a password.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${DEV_PG_DIR:-$ROOT/.dev-postgres}"
PORT="${DEV_PG_PORT:-5433}"
DATABASE=confide

say() { printf 'dev-postgres: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
DATA="$DIR/data"
URL="postgres://postgres@127.0.0.1:$PORT/$DATABASE"

find_bin() {
  if [ -n "${DEV_PG_BIN:-}" ]; then
    [ -x "$DEV_PG_BIN/initdb" ] || die "no initdb in DEV_PG_BIN=$DEV_PG_BIN: PostgreSQL's server programs come with \`apt-get install postgresql\` (Debian, Ubuntu)"
    printf '%s\n' "$DEV_PG_BIN"
    return
  fi
  # The newest installed major version (Debian installs each under /usr/lib/postgresql/<major>).
  local dir found=""
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && { [ -z "$found" ] || [ "$(basename "$(dirname "$dir")")" -gt "$(basename "$(dirname "$found")")" ]; }; then
      found="$dir"
    fi
  done
  if [ -z "$found" ]; then
    die "PostgreSQL is not installed: run \`apt-get install postgresql\` (Debian, Ubuntu), or set DEV_PG_BIN to the folder holding initdb and pg_ctl"
  fi
  printf '%s\n' "$found"
}

# initdb refuses to run as root, and the server must own its data: as root, run them as `postgres`.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() { [ -f "$DATA/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_run() { "$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

start() {
  if [ ! -f "$DATA/PG_VERSION" ]; then
    say "creating a cluster in $DATA"
    if [ "$(id -u)" -eq 0 ]; then
      id postgres >/dev/null 2>&1 || die "there is no postgres user (it comes with apt-get install postgresql)"
      install -d -m 755 "$DIR"
      runuser -u postgres -- test -x "$DIR" ||
        die "the postgres user cannot reach $DIR (a parent folder is closed to it); set DEV_PG_DIR to a folder it can reach, e.g. /var/tmp/confide-dev-postgres"
      install -d -o postgres -m 700 "$DATA"
    else
      install -d -m 700 "$DATA"
    fi
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 ||
      die "initdb failed; see $DIR/initdb.log"
  fi
  if running; then
    say "already running on 127.0.0.1:$PORT"
  else
    say "starting on 127.0.0.1:$PORT (log: $DATA/server.log)"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
      -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null ||
      die "the server did not start; see $DATA/server.log (is port $PORT taken? set DEV_PG_PORT)"
  fi
  # Confide creates its tables, not the database: create that once. CREATE DATABASE cannot run
  # inside a transaction, so it is a psql -c of its own.
  if [ "$(psql_run -tAc "select 1 from pg_database where datname = '$DATABASE'")" != 1 ]; then
    psql_run -c "CREATE DATABASE $DATABASE"
    say "created the database $DATABASE"
  fi
  printf 'CONFIDE_DATABASE_URL=%s\n' "$URL"
}

stop() {
  if running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    say "stopped"
  else
    say "not running"
  fi
}

status() {
  if running; then
    say "running on 127.0.0.1:$PORT, data in $DATA"
  else
    say "not running (data in $DATA)"
    exit 3
  fi
}

command="${1:-}"
case "$command" in
  start) BIN="$(find_bin)"; start ;;
  stop) BIN="$(find_bin)"; stop ;;
  status) BIN="$(find_bin)"; status ;;
  url) printf 'CONFIDE_DATABASE_URL=%s\n' "$URL" ;;
  *) printf 'usage: %s start|stop|status|url\n' "$0" >&2; exit 2 ;;
esac
