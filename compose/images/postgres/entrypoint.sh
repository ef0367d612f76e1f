#!/bin/sh
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >/dev/null
  echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >> "$PGDATA/pg_hba.conf"
fi
if [ "$1" = postgres ]; then
  shift
  # fsync off: a sandbox trades crash safety for speed.
  exec postgres -D "$PGDATA" -c listen_addresses='*' -c fsync=off -c synchronous_commit=off -c full_page_writes=off "$@"
fi
exec "$@"
