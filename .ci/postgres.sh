# Sourced by .ci/run: start a throwaway PostgreSQL server for the PostgreSQL tier, export
# AIKI_TEST_POSTGRES, and stop and remove the server when the script exits (trap).
# initdb refuses root, so as root the server runs as the `postgres` user (made if missing).
# A server given in AIKI_TEST_POSTGRES is used as it is.

aiki_pg_start() {
    [ -n "${AIKI_TEST_POSTGRES:-}" ] && return 0
    local initdb
    initdb=$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$initdb" ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        initdb=$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
    fi
    AIKI_PG_BIN=$(dirname "$(readlink -f "$initdb")")
    AIKI_PG_HOME=$(mktemp -d /tmp/aiki-ci-pg.XXXXXX)
    AIKI_PG_AS=()
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres "$AIKI_PG_HOME"
        AIKI_PG_AS=(runuser -u postgres --)
    fi
    trap aiki_pg_stop EXIT
    "${AIKI_PG_AS[@]}" "$AIKI_PG_BIN/initdb" -D "$AIKI_PG_HOME/data" -A trust -U postgres \
        --no-sync -E UTF8 >/dev/null
    # wal_writer_delay: asynchronous commits stay unflushed long enough for the tests to
    # see that a flush is what makes them durable.
    "${AIKI_PG_AS[@]}" "$AIKI_PG_BIN/pg_ctl" -D "$AIKI_PG_HOME/data" -l "$AIKI_PG_HOME/log" \
        -o "-k $AIKI_PG_HOME -c listen_addresses='' -c max_connections=400 -c wal_writer_delay=10s" \
        -w -t 60 start >/dev/null
    export AIKI_TEST_POSTGRES="postgresql://postgres@/postgres?host=$AIKI_PG_HOME"
}

aiki_pg_stop() {
    if [ -n "${AIKI_PG_HOME:-}" ]; then
        "${AIKI_PG_AS[@]}" "$AIKI_PG_BIN/pg_ctl" -D "$AIKI_PG_HOME/data" -m immediate -w stop \
            >/dev/null 2>&1 || true
        rm -rf "$AIKI_PG_HOME"
        AIKI_PG_HOME=
    fi
}
