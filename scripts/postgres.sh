#!/usr/bin/env bash
# A real PostgreSQL server for tests and CI, on 127.0.0.1 only.
#
#   scripts/postgres.sh start DATA_DIR PORT   # initdb (first time), start, wait until it answers; prints its URL
#   scripts/postgres.sh stop DATA_DIR         # stop the server of DATA_DIR (pg_ctl signals its postmaster.pid)
#   scripts/postgres.sh status DATA_DIR
#
# Uses the PostgreSQL binaries on PATH, else the newest /usr/lib/postgresql/*/bin; without either, as root it
# installs the Debian package (apt-get install -y postgresql). The server refuses to run as root, so as root it
# runs as the package's `postgres` user (DATA_DIR must be reachable by that user). Superuser `millstream`,
# trust authentication (loopback only: a server for tests), database `millstream`, unix socket and
# server.log inside DATA_DIR. Only the server DATA_DIR's pid file names is ever stopped.
set -euo pipefail

usage() { echo "usage: $0 start DATA_DIR PORT | stop DATA_DIR | status DATA_DIR" >&2; exit 2; }
say() { echo "postgres.sh: $*" >&2; }

find_bin() {  # the directory of initdb/pg_ctl, preferring the version DATA_DIR was made with
  local dir="$1" version=""
  [ -f "$dir/PG_VERSION" ] && version="$(cat "$dir/PG_VERSION")"
  if [ -n "$version" ] && [ -x "/usr/lib/postgresql/$version/bin/pg_ctl" ]; then
    echo "/usr/lib/postgresql/$version/bin"; return 0
  fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"; return 0
  fi
  local newest
  newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$newest" ] && [ -x "$newest/initdb" ] && { echo "$newest"; return 0; }
  return 1
}

install_postgres() {
  if [ "$(id -u)" -ne 0 ]; then
    say "PostgreSQL is not installed and only root can install it (apt-get install postgresql)"; exit 1
  fi
  say "installing PostgreSQL (apt-get install -y postgresql) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
}

owner_run() {  # run as the data dir's owner: PostgreSQL never runs as root
  if [ "$(id -u)" -eq 0 ]; then
    "$RUNUSER" -u "$(stat -c %U "$DATA")" -- "$@"
  else
    "$@"
  fi
}

[ $# -ge 2 ] || usage
RUNUSER="$(command -v runuser || echo /usr/sbin/runuser)"
ACTION="$1"
DATA="$(realpath -m "$2")"

case "$ACTION" in
  start)
    [ $# -eq 3 ] || usage
    PORT="$3"
    BIN="$(find_bin "$DATA")" || { install_postgres; BIN="$(find_bin "$DATA")"; } \
      || { say "no initdb found after installing PostgreSQL"; exit 1; }
    mkdir -p "$DATA"
    if [ "$(id -u)" -eq 0 ]; then
      id postgres >/dev/null 2>&1 || { say "as root the server runs as user postgres, which does not exist"; exit 1; }
      [ -f "$DATA/PG_VERSION" ] || chown postgres: "$DATA"
      "$RUNUSER" -u postgres -- test -w "$DATA" \
        || { say "user postgres cannot write $DATA (its parent directories need o+x)"; exit 1; }
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
      log="$(owner_run "$BIN/initdb" -D "$DATA" -U millstream --auth=trust -E UTF8 --no-locale 2>&1)" \
        || { echo "$log" >&2; exit 1; }
      {
        echo "# scripts/postgres.sh: loopback only, socket in the data dir"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '${DATA//\'/\'\'}'"
      } | owner_run tee -a "$DATA/postgresql.conf" >/dev/null
    fi
    if owner_run "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      say "already running ($DATA)"
    else
      owner_run "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -o "-p $PORT" -w -t 60 start >&2 \
        || { tail -n 30 "$DATA/server.log" >&2 || true; exit 1; }
    fi
    PORT="$(sed -n 4p "$DATA/postmaster.pid")"  # the port it listens on (a running server keeps its own)
    for _ in $(seq 60); do
      "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
      sleep 0.5
    done
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" || { say "the server does not answer on 127.0.0.1:$PORT"; exit 1; }
    if [ -z "$("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U millstream -d postgres -tAc \
               "SELECT 1 FROM pg_database WHERE datname = 'millstream'")" ]; then
      "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U millstream millstream
    fi
    echo "postgresql://millstream@127.0.0.1:$PORT/millstream"
    ;;
  stop)
    [ $# -eq 2 ] || usage
    if [ ! -f "$DATA/postmaster.pid" ]; then
      say "not running ($DATA)"; exit 0
    fi
    BIN="$(find_bin "$DATA")" || { say "no pg_ctl found"; exit 1; }
    owner_run "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >&2
    ;;
  status)
    [ $# -eq 2 ] || usage
    BIN="$(find_bin "$DATA")" || { say "no pg_ctl found"; exit 1; }
    [ -f "$DATA/PG_VERSION" ] || { say "no cluster in $DATA"; exit 3; }
    owner_run "$BIN/pg_ctl" -D "$DATA" status
    ;;
  *)
    usage
    ;;
esac
