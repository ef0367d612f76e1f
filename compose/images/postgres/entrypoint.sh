#!/bin/sh
set -e
AUTH="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  # As the official image's docker-entrypoint.sh: the superuser gets POSTGRES_PASSWORD, and without one
  # only POSTGRES_HOST_AUTH_METHOD=trust may initialise a cluster. The password reaches initdb on stdin.
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$AUTH" != trust ]; then
    echo "Database is uninitialized and superuser password is not specified: set POSTGRES_PASSWORD" >&2
    exit 1
  fi
  # UTF8 as the official postgres images initialise it: Mastodon's db:prepare creates its database
  # from template1 as UTF8, which fails on a SQL_ASCII cluster (what initdb picks with no locale).
  if [ -n "$POSTGRES_PASSWORD" ]; then
    initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host="$AUTH" --pwfile=/dev/stdin >/dev/null <<PW
$POSTGRES_PASSWORD
PW
  else
    initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host="$AUTH" >/dev/null
  fi
  echo "host all all all $AUTH" >> "$PGDATA/pg_hba.conf"
fi
if [ "$1" = postgres ]; then
  shift
  # fsync off: a sandbox trades crash safety for speed.
  exec postgres -D "$PGDATA" -c listen_addresses='*' -c fsync=off -c synchronous_commit=off -c full_page_writes=off "$@"
fi
exec "$@"
