#!/usr/bin/env bash
# A PostgreSQL server on loopback for the distributed tuning test (tests/tune/test_postgres.py).
#
#   bash scripts/postgres.sh        # prints the URL: postgresql://batchlab:batchlab@127.0.0.1:55432/batchlab_test
#
# Idempotent: installs Debian's postgresql package when no server binary is present, creates a cluster
# of its own in $BATCHLAB_PG_DATA (default /var/tmp/batchlab-postgres) listening on 127.0.0.1 only, port
# $BATCHLAB_PG_PORT (default 55432, so it never meets a system cluster on 5432), starts it unless it
# already answers, and creates the test role and database when they are missing. Run it again at any
# time; a running server is left as it is. Stop it with:
#   runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl" -D /var/tmp/batchlab-postgres stop
set -euo pipefail

PORT="${BATCHLAB_PG_PORT:-55432}"
DATA="${BATCHLAB_PG_DATA:-/var/tmp/batchlab-postgres}"
ROLE=batchlab
PASSWORD=batchlab
DATABASE=batchlab_test
URL="postgresql://${ROLE}:${PASSWORD}@127.0.0.1:${PORT}/${DATABASE}"

say() { echo "postgres.sh: $*" >&2; }

server_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

install_server() {
    if [ -n "$(server_bin)" ] && [ -x "$(server_bin)/postgres" ]; then
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        say "no PostgreSQL server binaries under /usr/lib/postgresql and not root: install Debian's postgresql package"
        exit 1
    fi
    say "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    for attempt in 1 2 3; do
        if apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null; then
            return
        fi
        say "apt-get failed (attempt $attempt); retrying"
        sleep $((attempt * 5))
    done
    say "could not install postgresql with apt-get"
    exit 1
}

# initdb and postgres refuse to run as root: as root, run them as the package's postgres user.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

answers() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" >/dev/null 2>&1; }

install_server
BIN="$(server_bin)"
VERSION="$(basename "$(dirname "$BIN")")"

if ! answers; then
    if [ -f "$DATA/PG_VERSION" ] && [ "$(cat "$DATA/PG_VERSION")" != "$VERSION" ]; then
        say "cluster in $DATA is from PostgreSQL $(cat "$DATA/PG_VERSION"), the server is $VERSION: making a new one"
        rm -rf "$DATA"
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        say "creating a cluster in $DATA"
        rm -rf "$DATA"
        mkdir -p "$DATA"
        [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
        chmod 700 "$DATA"
        # Local socket: the owner only (peer); TCP on loopback: passwords (scram-sha-256).
        as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
            --encoding=UTF8 --no-instructions >/dev/null
    fi
    # A stale pid file from a killed server blocks the start; pg_ctl start removes it only if no process
    # holds it, so remove it when its process is gone.
    if [ -f "$DATA/postmaster.pid" ] && ! kill -0 "$(head -1 "$DATA/postmaster.pid")" 2>/dev/null; then
        rm -f "$DATA/postmaster.pid"
    fi
    say "starting the server on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DATA -c max_connections=50" \
        >/dev/null
fi

for _ in $(seq 1 30); do
    answers && break
    sleep 1
done
if ! answers; then
    say "the server does not answer on 127.0.0.1:$PORT; see $DATA/server.log"
    exit 1
fi

psql_admin() { as_owner "$BIN/psql" -h "$DATA" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
    psql_admin -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'" >/dev/null
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
    psql_admin -c "CREATE DATABASE $DATABASE OWNER $ROLE" >/dev/null
fi

echo "$URL"
