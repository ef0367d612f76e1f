#!/bin/sh
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  # UTF8 as the official postgres images initialise it: Mastodon's db:prepare creates its database
  # from template1 as UTF8, which fails on a SQL_ASCII cluster (what initdb picks with no locale).
  initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >/dev/null
  echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >> "$PGDATA/pg_hba.conf"
fi
if [ "$1" = postgres ]; then
  shift
  # fsync off: a sandbox trades crash safety for speed.
  exec postgres -D "$PGDATA" -c listen_addresses='*' -c fsync=off -c synchronous_commit=off -c full_page_writes=off "$@"
fi
exec "$@"
