"""The snapshot primitives (sandbox/stores.py) on their own, against throwaway PostgreSQL, Redis and
SeaweedFS containers of the images the shared sandbox runs (testcontainers): database copy and swap, Redis
copy and SWAPDB, dump and load for export, and a copy of the S3 service's volume that brings objects back."""

from __future__ import annotations

import io
import re
import time
import uuid
from pathlib import Path

import pytest
import requests

from mastodon_sandbox import stores
from mastodon_sandbox.errors import SandboxError

# Nothing here depends on the server: run once, in the stand-in's pass (harness_only, tests/conftest.py).
pytestmark = [pytest.mark.docker, pytest.mark.harness_only]

# The tests remove what they start; Ryuk (an image from a registry) is not needed to clean up after them.
tc_config = pytest.importorskip("testcontainers.core.config").testcontainers_config
tc_config.ryuk_disabled = True
from testcontainers.core.container import DockerContainer  # noqa: E402

LABELS = {"mastodon-sandbox.test": "stores"}


@pytest.fixture(scope="module")
def images(mastodon_sandbox) -> dict[str, str]:
    services = mastodon_sandbox.stack.config_json()["services"]
    return {name: services[name]["image"] for name in ("db", "redis", "s3")}


def _until(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} did not come up within {timeout} s")


@pytest.fixture(scope="module")
def pg(images):
    with DockerContainer(images["db"]).with_env("POSTGRES_HOST_AUTH_METHOD", "trust") as c:
        inner = c.get_wrapped_container()
        # TCP, not the socket: the entrypoint's first, initialising server listens on the socket only
        _until(lambda: stores.run(inner, ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"])[0] == 0, "PostgreSQL")
        db = stores.Postgres(inner)
        db.sql("CREATE DATABASE live")
        yield db


def _rows(db: stores.Postgres, database: str) -> list[str]:
    code, out, err = stores.run(db.container, ["psql", "-X", "-qAt", "-U", "postgres", "-d", database, "-c", "SELECT v FROM t ORDER BY v"])
    assert code == 0, err
    return out.split()


def _write(db: stores.Postgres, database: str, *statements: str) -> None:
    argv = ["psql", "-X", "-q", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1"]
    for s in statements:
        argv += ["-c", s]
    code, _, err = stores.run(db.container, argv)
    assert code == 0, err


def test_a_database_copy_is_independent_and_replaces_the_live_one_all_or_nothing(pg):
    _write(pg, "live", "DROP TABLE IF EXISTS t", "CREATE TABLE t (v text)", "INSERT INTO t VALUES ('before')")
    pg.copy("live", "snap__a")
    _write(pg, "live", "INSERT INTO t VALUES ('after')")
    assert _rows(pg, "snap__a") == ["before"]
    assert _rows(pg, "live") == ["after", "before"]

    assert not pg.has_spare("snap__a")
    old = pg.replace("live", "snap__a", use_spare=False).old  # copied from the template now
    assert _rows(pg, "live") == ["before"]
    assert _rows(pg, "snap__a") == ["before"]  # the snapshot stays, for the next restore
    assert old in pg.databases()  # the old live database, aside (closed) until make_spare drops it

    pg.make_spare("snap__a", drop=old)
    assert pg.has_spare("snap__a") and old not in pg.databases()
    _write(pg, "live", "INSERT INTO t VALUES ('after again')")
    old = pg.replace("live", "snap__a", use_spare=True).old  # the spare renamed into place
    assert _rows(pg, "live") == ["before"] and not pg.has_spare("snap__a")
    _write(pg, "live", "INSERT INTO t VALUES ('writable')")  # open to connections
    pg.make_spare("snap__a", drop=old)

    # a swap from a snapshot that is not there fails midway and leaves the live database as it was
    with pytest.raises(SandboxError, match="PostgreSQL refused"):
        pg.replace("live", "snap__missing", use_spare=False)
    assert _rows(pg, "live") == ["before", "writable"]
    assert not [d for d in pg.databases() if "__old_" in d]
    _write(pg, "live", "INSERT INTO t VALUES ('still writable')")  # and open to connections again

    pg.drop("snap__a")  # the snapshot and its spare
    assert not {"snap__a", "snap__a__spare"} & pg.databases()


def _session(db: stores.Postgres, database: str, sql: str) -> None:
    """A client that runs `sql` in `database` and then keeps its connection open, doing nothing."""
    # detached (the exec returns at once, the client stays): not stack.exec_in, which waits for the command
    db.container.exec_run(["sh", "-c", f"(echo {sql!r}; sleep 60) | psql -X -q -U postgres -d {database}"], detach=True)


def _states(db: stores.Postgres, database: str) -> list[str]:
    out = db.sql(f"SELECT 'state:' || state FROM pg_stat_activity WHERE datname = '{database}'")
    return sorted(line.strip()[6:] for line in out.splitlines() if line.strip().startswith("state:"))


def test_ending_connections_says_how_long_the_most_recently_used_one_was_idle(pg):
    # what a snapshot's pause is measured by: Rails trusts a connection used in the last 2 s unchecked
    _write(pg, "live", "DROP TABLE IF EXISTS t", "CREATE TABLE t (v text)")
    pg.copy("live", "snap__idle")
    _session(pg, "live", "SELECT 1;")
    _until(lambda: _states(pg, "live") == ["idle"], "an idle session")
    time.sleep(1.5)
    _session(pg, "live", "SELECT 2;")
    _until(lambda: _states(pg, "live") == ["idle", "idle"], "a second idle session")
    time.sleep(0.5)
    old, idle = pg.replace("live", "snap__idle", use_spare=False)
    assert 0.4 <= idle < 1.4  # the second session's, not the first's (~2 s)
    assert _states(pg, "live") == [] and _states(pg, old) == []  # both were ended
    pg.make_spare("snap__idle", drop=old)

    # a client in the middle of a transaction counts as using its connection now
    _session(pg, "live", "BEGIN; SELECT 1;")
    _until(lambda: _states(pg, "live") == ["idle in transaction"], "a session in a transaction")
    time.sleep(1.0)
    old, idle = pg.replace("live", "snap__idle", use_spare=True)
    assert idle == 0.0
    pg.make_spare("snap__idle", drop=old)

    assert pg.copy("live", "snap__idle") is None  # nothing was connected
    pg.drop("snap__idle")


def test_a_database_dump_loads_into_a_new_database_and_is_refused_over_an_existing_one(pg):
    _write(pg, "live", "DROP TABLE IF EXISTS t", "CREATE TABLE t (v text)", "INSERT INTO t VALUES ('x'), ('y')")
    dump = io.BytesIO()
    pg.dump("live", dump)
    assert dump.getvalue()[:5] == b"PGDMP"  # pg_dump's custom format
    pg.load("imported", dump)
    assert _rows(pg, "imported") == ["x", "y"]
    with pytest.raises(SandboxError, match="exists already"):
        pg.load("imported", dump)


# A database shaped like Mastodon's (db/schema.rb, lib/mastodon/snowflake.rb, db/views): a plpgsql function
# used as a column default, tables with data, sequences, foreign keys, indexes, a view, a materialized view.
MASTODON_SHAPED = r"""
CREATE SEQUENCE statuses_id_seq;
CREATE FUNCTION timestamp_id(table_name text) RETURNS bigint AS $$
  DECLARE time_part bigint; tail bigint;
  BEGIN
    time_part := ((date_part('epoch', now()) * 1000))::bigint << 16;
    tail := nextval(table_name || '_id_seq') & 65535;
    RETURN time_part | tail;
  END
$$ LANGUAGE plpgsql VOLATILE;
CREATE TABLE accounts (id bigserial PRIMARY KEY, username varchar NOT NULL, domain varchar);
CREATE UNIQUE INDEX index_accounts_on_username_and_domain_lower ON accounts (lower(username), COALESCE(lower(domain), ''));
CREATE TABLE statuses (id bigint PRIMARY KEY DEFAULT timestamp_id('statuses'), account_id bigint NOT NULL REFERENCES accounts (id),
                       text text NOT NULL DEFAULT '');
CREATE TABLE users (id bigserial PRIMARY KEY, account_id bigint REFERENCES accounts (id), current_sign_in_ip inet);
CREATE MATERIALIZED VIEW account_summaries AS SELECT id AS account_id, username FROM accounts;
CREATE UNIQUE INDEX ON account_summaries (account_id);
CREATE VIEW user_ips AS SELECT id AS user_id, current_sign_in_ip AS ip FROM users;
INSERT INTO accounts (username) VALUES ('admin'), ('alice');
INSERT INTO statuses (account_id, text) VALUES (1, 'hello'), (2, 'hi');
INSERT INTO users (account_id, current_sign_in_ip) VALUES (1, '10.0.0.1');
"""
# The stand-in's own schema (what a stand-in sandbox's database holds)
STANDIN_SCHEMA = (Path(__file__).resolve().parents[2] / "compose/standin/standin/schema.sql").read_text()


def _dump_of(db: stores.Postgres, sql: str, *extra: str) -> bytes:
    """A pg_dump of a new database made by `sql` (then dropped)."""
    db.sql("DROP DATABASE IF EXISTS shaped", "CREATE DATABASE shaped")
    code, _, err = stores.run(db.container, ["sh", "-c", f"psql -X -q -v ON_ERROR_STOP=1 -U postgres -d shaped <<'EOF'\n{sql}\nEOF"])
    assert code == 0, err
    if extra:
        _write(db, "shaped", *extra)
    dump = io.BytesIO()
    db.dump("shaped", dump)
    db.drop("shaped")
    return dump.getvalue()


def _toc_string(text: bytes) -> bytes:
    """A string as pg_dump's custom format writes it in its table of contents (a sign byte, a 4-byte length)."""
    return b"\x00" + len(text).to_bytes(4, "little") + text


def _patched(dump: bytes, old: bytes, new: bytes) -> bytes:
    assert dump.count(old) == 1 and len(new) <= len(old)
    return dump.replace(old, new.ljust(len(old)))  # same length: the data's offsets stay right


def _restorers(db: stores.Postgres) -> list[str]:
    return re.findall(r"role:(\S+)", db.sql("SELECT 'role:' || rolname FROM pg_roles WHERE rolname LIKE '%restorer'"))


def _owners(db: stores.Postgres, database: str) -> set[str]:
    code, out, err = stores.run(db.container, ["psql", "-X", "-qAt", "-U", "postgres", "-d", database, "-c",
                                               "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                                               "UNION SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
                                               "UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"])
    assert code == 0, err
    return set(out.split())


@pytest.mark.parametrize("schema", [MASTODON_SHAPED, STANDIN_SCHEMA], ids=["mastodon-shaped", "standin"])
def test_a_real_dump_passes_the_table_of_contents_check_and_loads_owned_by_postgres(pg, schema):
    dump = _dump_of(pg, schema)
    pg.load("loaded", io.BytesIO(dump))
    try:
        assert _owners(pg, "loaded") == {"postgres"}  # as db:prepare makes them
        assert not _restorers(pg)  # the unprivileged role the restore ran as is gone
        if schema is MASTODON_SHAPED:
            code, out, _ = stores.run(pg.container, ["psql", "-X", "-qAt", "-U", "postgres", "-d", "loaded", "-c",
                                                     "INSERT INTO statuses (account_id) VALUES (1) RETURNING id > 0; SELECT count(*) FROM account_summaries"])
            assert out.split() == ["t", "2"]
    finally:
        pg.drop("loaded")


def _refused_and_nothing_left(db: stores.Postgres, dump: bytes, message: str, kind=stores.Refused) -> None:
    before = db.databases()
    with pytest.raises(kind) as e:
        db.load("refused", io.BytesIO(dump))
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert db.databases() == before and not _restorers(db)
    assert stores.run(db.container, ["ls", "/tmp/refused.pgdump"])[0] != 0


def test_a_dump_naming_another_database_or_a_role_is_refused_before_anything_is_made(pg):
    dump = _dump_of(pg, "CREATE TABLE t (v text); INSERT INTO t VALUES ('x');", "COMMENT ON TABLE t IS 'a table'")
    # the dump's own DATABASE entry renamed: an entry of another database
    other = _patched(dump, _toc_string(b"shaped") + _toc_string(b"DATABASE"), _toc_string(b"others") + _toc_string(b"DATABASE"))
    _refused_and_nothing_left(pg, other, "the database dump is refused: it holds DATABASE - 'others")
    # an entry of a kind pg_dump never writes for one database (its TOC only is read: the length may change)
    role = dump.replace(_toc_string(b"COMMENT"), _toc_string(b"ROLE"), 1)
    _refused_and_nothing_left(pg, role, "holds an entry no dump of a Mastodon database has")
    _refused_and_nothing_left(pg, b"PGDMP" + b"\x00" * 50, "the database dump is not one pg_restore reads", SandboxError)


def test_a_dump_with_another_schema_or_extension_is_refused(pg):
    code, _, _ = stores.run(pg.container, ["sh", "-c", "ls $(pg_config --sharedir)/extension/pgcrypto.control"])
    extension = ("CREATE EXTENSION pgcrypto",) if code == 0 else ()
    _refused_and_nothing_left(pg, _dump_of(pg, "CREATE SCHEMA evil; CREATE TABLE evil.t (v text);"), "holds SCHEMA - 'evil")
    if extension:
        _refused_and_nothing_left(pg, _dump_of(pg, "CREATE TABLE t (v text);", *extension), "holds EXTENSION - 'pgcrypto")


def test_sql_behind_an_allowed_entry_runs_without_the_superuser_s_powers(pg):
    """A TOC names each entry's kind, not the SQL it runs: here a COMMENT entry's SQL is swapped for other SQL
    (same length, so the file stays valid). Its listing passes; the restore runs as an unprivileged role,
    so the SQL can neither act as the superuser nor leave objects a Mastodon database never has."""
    comment = b"COMMENT ON TABLE public.t IS '" + b"x" * 200 + b"';"
    dump = _dump_of(pg, "CREATE TABLE t (v text); INSERT INTO t VALUES ('x');", f"COMMENT ON TABLE t IS '{'x' * 200}'")
    program = _patched(dump, comment, b"COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned';")
    _refused_and_nothing_left(pg, program, "pg_restore into refused failed", SandboxError)
    assert stores.run(pg.container, ["ls", "/tmp/pwned"])[0] != 0  # the program never ran
    schema = _patched(dump, comment, b"CREATE SCHEMA evil; CREATE TABLE evil.t (v text);")
    _refused_and_nothing_left(pg, schema, "restoring it made schema evil")
    role = _patched(dump, comment, b"CREATE ROLE evil SUPERUSER;")
    _refused_and_nothing_left(pg, role, "pg_restore into refused failed", SandboxError)
    assert "evil" not in pg.sql("SELECT rolname FROM pg_roles")


@pytest.fixture(scope="module")
def redis(images):
    with DockerContainer(images["redis"]).with_command("redis-server --protected-mode no") as c:
        inner = c.get_wrapped_container()
        _until(lambda: stores.run(inner, ["redis-cli", "ping"])[1].strip() == "PONG", "Redis")
        yield stores.Redis(inner)


def _cli(r: stores.Redis, db: int, *args: str) -> str:
    code, out, err = stores.run(r.container, ["redis-cli", "--raw", "-n", str(db), *args])
    assert code == 0, err
    return out.strip()


def test_redis_copies_keep_ttls_and_a_swap_brings_the_copy_back_whole(redis):
    _cli(redis, 0, "FLUSHALL")
    _cli(redis, 0, "SET", "feed:home:1", "old")
    _cli(redis, 0, "SET", "cache:x", "1", "EX", "600")
    _cli(redis, 0, "RPUSH", "queue:default", "job1")
    assert redis.copy_db(0, 1) == 3
    assert 0 < int(_cli(redis, 1, "TTL", "cache:x")) <= 600

    _cli(redis, 0, "SET", "feed:home:1", "new")
    _cli(redis, 0, "SET", "made:after", "1")
    _cli(redis, 0, "RPUSH", "queue:default", "job2")
    redis.swap_in(1, 0, 14)
    assert _cli(redis, 0, "GET", "feed:home:1") == "old"
    assert _cli(redis, 0, "EXISTS", "made:after") == "0"
    assert _cli(redis, 0, "LRANGE", "queue:default", "0", "-1").split() == ["job1"]
    assert _cli(redis, 1, "DBSIZE") == "3"  # the snapshot stays
    assert _cli(redis, 14, "DBSIZE") == "0"  # the scratch database is left empty


def test_a_redis_dump_loads_into_another_database_binary_values_and_ttls_included(redis):
    _cli(redis, 2, "FLUSHDB")
    _cli(redis, 2, "SET", "plain", "value")
    _cli(redis, 2, "SET", "with ttl", "v", "EX", "900")
    _cli(redis, 2, "HSET", "hash", "field", "1")
    code, _, err = stores.run(redis.container, ["sh", "-c", "printf 'a\\000b\\377\\r\\n' | redis-cli -n 2 -x SET binary"])
    assert code == 0, err
    resp = redis.dump(2)
    _cli(redis, 3, "SET", "stale", "1")
    assert redis.load(3, resp) == 4
    assert _cli(redis, 3, "EXISTS", "stale") == "0"
    assert _cli(redis, 3, "GET", "plain") == "value"
    assert _cli(redis, 3, "HGET", "hash", "field") == "1"
    assert 0 < int(_cli(redis, 3, "TTL", "with ttl")) <= 900
    assert _cli(redis, 3, "PTTL", "plain") == "-1"
    code, out, _ = stores.run(redis.container, ["sh", "-c", "redis-cli -n 3 --no-raw GET binary"])
    assert out.strip() == '"a\\x00b\\xff\\r\\n"'


def test_a_redis_dump_with_other_commands_is_refused_before_redis_is_touched(redis):
    _cli(redis, 4, "SET", "kept", "1")
    _cli(redis, 0, "SET", "live", "1")
    _cli(redis, 5, "SET", "untouched", "1")
    good = redis.dump(4)
    for extra in (b"*1\r\n$8\r\nFLUSHALL\r\n", b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n",
                  b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$3\r\ndir\r\n$4\r\n/etc\r\n"):
        with pytest.raises(stores.Refused, match="the Redis dump is refused: it holds a"):
            redis.load(5, good + extra)
    assert _cli(redis, 0, "GET", "live") == "1" and _cli(redis, 5, "GET", "untouched") == "1"  # not even emptied
    assert redis.load(5, good) == 1 and _cli(redis, 5, "GET", "kept") == "1"


@pytest.fixture
def seaweedfs(images):
    volume = f"stores-test-s3-{uuid.uuid4().hex[:8]}"
    container = (DockerContainer(images["s3"]).with_exposed_ports(9000)
                 .with_env("MINIO_ROOT_USER", "test").with_env("MINIO_ROOT_PASSWORD", "test-secret-123")
                 .with_env("S3_BUCKET", "media").with_volume_mapping(volume, "/data", "rw"))
    container.start()
    try:
        yield container, volume
    finally:
        container.stop()
        import docker

        for v in (volume, f"{volume}-snap"):
            try:
                docker.from_env().volumes.get(v).remove(force=True)
            except docker.errors.NotFound:
                pass


def _s3_url(container, key: str) -> str:
    """The address the engine published port 9000 on (testcontainers' guess of the host needs TC_HOST on
    some machines; the binding itself is always right for a local engine)."""
    inner = container.get_wrapped_container()
    inner.reload()
    bound = inner.attrs["NetworkSettings"]["Ports"]["9000/tcp"][0]
    host = "127.0.0.1" if bound["HostIp"] in ("", "0.0.0.0") else bound["HostIp"]
    return f"http://{host}:{bound['HostPort']}/media/{key}"


def _put(container, key: str, body: str) -> None:
    """An object into the bucket through SeaweedFS' filer (the S3 API wants signed requests)."""
    code, out, err = stores.run(container.get_wrapped_container(), [
        "sh", "-c", f"mkdir -p /tmp/up && printf %s '{body}' > /tmp/up/{key} && weed filer.copy /tmp/up/{key} http://127.0.0.1:8888/buckets/media/"])
    assert code == 0, out + err


def test_a_copy_of_the_s3_volume_brings_back_its_objects_and_drops_later_ones(seaweedfs, images):
    container, volume = seaweedfs
    _until(lambda: requests.get(_s3_url(container, "none"), timeout=2).status_code == 404, "SeaweedFS", 90)
    _put(container, "kept.txt", "kept")
    _until(lambda: requests.get(_s3_url(container, "kept.txt"), timeout=2).text == "kept", "the first object")

    container.get_wrapped_container().stop()
    snap = f"{volume}-snap"
    listing = stores.copy_volume(images["redis"], volume, snap, LABELS)
    assert listing == stores.volume_listing(images["redis"], volume, LABELS)
    container.get_wrapped_container().start()
    _until(lambda: requests.get(_s3_url(container, "kept.txt"), timeout=2).text == "kept", "SeaweedFS after the copy")
    _put(container, "later.txt", "later")
    _until(lambda: requests.get(_s3_url(container, "later.txt"), timeout=2).status_code == 200, "the later object")
    assert stores.volume_listing(images["redis"], volume, LABELS) != listing  # writing changes the listing

    container.get_wrapped_container().stop()
    stores.copy_volume(images["redis"], snap, volume, LABELS)
    container.get_wrapped_container().start()
    _until(lambda: requests.get(_s3_url(container, "kept.txt"), timeout=2).text == "kept", "SeaweedFS after the restore")
    assert requests.get(_s3_url(container, "later.txt"), timeout=5).status_code == 404


def test_a_volume_exports_to_an_archive_and_imports_into_another(images):
    import docker

    src, dst = f"stores-test-src-{uuid.uuid4().hex[:8]}", f"stores-test-dst-{uuid.uuid4().hex[:8]}"
    try:
        stores.run_helper(images["redis"], "mkdir -p /data/a/b && printf hi > /data/a/b/f && printf x > /data/.hidden && chown 999 /data/a/b/f",
                          {src: "/data"}, LABELS)
        archive = io.BytesIO()
        stores.export_volume(images["redis"], src, archive, LABELS)
        stores.run_helper(images["redis"], "printf stale > /data/old", {dst: "/data"}, LABELS)
        stores.import_volume(images["redis"], dst, archive, LABELS)
        assert stores.volume_listing(images["redis"], dst, LABELS) == stores.volume_listing(images["redis"], src, LABELS)
        out = stores.run_helper(images["redis"], "cat /data/a/b/f; stat -c ' %u' /data/a/b/f; ls -A /data", {dst: "/data"}, LABELS)
        assert out.split() == ["hi", "999", ".hidden", "a"]
    finally:
        for v in (src, dst):
            try:
                docker.from_env().volumes.get(v).remove(force=True)
            except docker.errors.NotFound:
                pass
