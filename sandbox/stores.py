"""The three stores a sandbox keeps its data in — PostgreSQL, Redis and file volumes — and the few operations on
each: what `up` asks the database (lifecycle.py, backends.py) and what snapshots copy and swap (data/).

Every operation runs inside a container given as a Docker SDK container object (a sandbox's service, or a
throwaway container in tests/containers/), with argv taken from the server-command list, so the same code
copies and swaps a sandbox's data and is tested on its own against real PostgreSQL, Redis and SeaweedFS.
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from pathlib import Path
from typing import BinaryIO, NamedTuple

import docker.errors

from . import dumps, server_commands
from .docker_env import docker_client
from .errors import SandboxError, command_failed, last_words
from .stack import exec_in


def run(container, argv: list[str]) -> tuple[int, str, str]:
    """argv in the container (stack.exec_in), as its exit code, stdout and stderr."""
    proc = exec_in(container, argv)
    return proc.returncode, proc.stdout, proc.stderr


def put_file(container, path: str, source: BinaryIO | bytes) -> None:
    """A file into the container at `path` (its folder must exist), from bytes or a whole open file."""
    if not isinstance(source, bytes) and source.seekable():
        source.seek(0)
    data = source if isinstance(source, bytes) else source.read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(Path(path).name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    if not container.put_archive(str(Path(path).parent), buf.getvalue()):
        raise SandboxError(f"could not copy {Path(path).name} into {container.name}")


def get_file(container, path: str, dest: BinaryIO) -> None:
    """A file out of the container into an open file."""
    stream, _ = container.get_archive(path)
    buf = io.BytesIO(b"".join(stream))
    with tarfile.open(fileobj=buf) as tar:
        member = tar.next()
        if member is None or not member.isfile():
            raise SandboxError(f"{path} in {container.name} is not a file")
        src = tar.extractfile(member)
        while chunk := src.read(1 << 20):
            dest.write(chunk)


class Replaced(NamedTuple):
    old: str  # the old live database, renamed aside
    idle: float | None  # how long the most recently used connection it ended had been idle (None: none)


class Postgres:
    """PostgreSQL as its superuser. Copies use CREATE DATABASE ... TEMPLATE, a file-level copy synced to
    disk (one to two seconds at a seeded sandbox's size), which needs the template without connections."""

    def __init__(self, container):
        self.container = container

    def sql(self, *statements: str) -> str:
        code, out, err = run(self.container, server_commands.psql_admin(list(statements))[1])
        if code != 0:
            raise command_failed("PostgreSQL refused", code, out, err)
        return out

    def databases(self) -> set[str]:
        rows = self.sql("SELECT datname FROM pg_database").splitlines()[2:]  # under the header and its rule
        return {r.strip() for r in rows if r.strip() and not re.fullmatch(r"\(\d+ rows?\)", r.strip())}

    def cluster_id(self) -> str:
        """The cluster's system identifier: chosen once by initdb and kept in pg_control, so a new data
        volume is a new cluster whatever the volume's timestamps say (PostgreSQL's shutdown changes those)."""
        found = re.search(r"cluster:(\d+)", self.sql("SELECT 'cluster:' || system_identifier FROM pg_control_system()"))
        if found is None:
            raise SandboxError("PostgreSQL did not tell its cluster's identifier")
        return found.group(1)

    def local_usernames(self, db: str, usernames: list[str]) -> set[str]:
        """Which of `usernames` are local accounts in database `db` (none when `db` does not exist or holds
        no accounts table yet)."""
        if db not in self.databases() or not usernames:
            return set()
        if "table:yes" not in self.sql(f"\\connect {db}", "SELECT 'table:' || CASE WHEN to_regclass('public.accounts') "
                                                          "IS NULL THEN 'no' ELSE 'yes' END"):
            return set()  # no schema yet: db:prepare has not run
        names = ", ".join("'" + u.lower().replace("'", "''") + "'" for u in usernames)
        out = self.sql(f"\\connect {db}", "SELECT 'user:' || lower(username) FROM accounts "
                                          f"WHERE domain IS NULL AND lower(username) IN ({names})")
        return set(re.findall(r"user:(\S+)", out))

    @staticmethod
    def _end_connections(db: str) -> str:
        """Ends every connection to `db` but the caller's, printing `ended:N:S`: S is how many seconds ago
        the most recently used of them finished its last statement — 0 for one that was in the middle of
        something (a query, a transaction), nothing when there were none. The state is read before the
        ending: pg_stat_activity is a snapshot taken at its first use in the statement."""
        used = "CASE WHEN state = 'idle' THEN coalesce(state_change, clock_timestamp()) ELSE clock_timestamp() END"
        return (f"SELECT 'ended:' || count(pg_terminate_backend(pid)) || ':' || "
                f"coalesce(min(extract(epoch FROM clock_timestamp() - {used}))::text, '') "
                f"FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()")

    @staticmethod
    def _idle(out: str) -> float | None:
        """`_end_connections`' S from psql's output (None: no connection was ended)."""
        found = re.search(r"ended:\d+:([0-9.eE+-]*)", out)
        if found is None:
            raise SandboxError(f"PostgreSQL did not say which connections it ended: {out.strip()[:200]}")
        return max(0.0, float(found.group(1))) if found.group(1) else None

    def copy(self, source: str, target: str) -> float | None:
        """`target` becomes a copy of `source` (replacing any `target`); `source` refuses connections
        meanwhile, and those it had are ended (their clients reconnect afterwards). Returns how long the
        most recently used of those had been idle (see `_end_connections`)."""
        try:
            out = self.sql(f"ALTER DATABASE {source} ALLOW_CONNECTIONS false", self._end_connections(source),
                           f"DROP DATABASE IF EXISTS {target}", f"CREATE DATABASE {target} TEMPLATE {source}")
        finally:
            self.sql(f"ALTER DATABASE {source} ALLOW_CONNECTIONS true")
        return self._idle(out)

    @staticmethod
    def spare_of(source: str) -> str:
        return f"{source}__spare"

    def has_spare(self, source: str) -> bool:
        return self.spare_of(source) in self.databases()

    def replace(self, live: str, source: str, use_spare: bool) -> Replaced:
        """`live` becomes a copy of `source`, all or nothing, and the old live database is renamed aside
        (`make_spare` drops it). With `use_spare` (see `has_spare`) the spare copy of `source` is renamed
        into place (milliseconds); otherwise the copy is made now (a second or two: the template is copied
        and synced to disk). A failure midway puts the old database back under its name."""
        old = f"{live}__old_{time.time_ns()}"
        take = [f"ALTER DATABASE {self.spare_of(source)} RENAME TO {live}"] if use_spare else \
            [f"CREATE DATABASE {live} TEMPLATE {source}"]
        try:
            out = self.sql(f"ALTER DATABASE {live} ALLOW_CONNECTIONS false", self._end_connections(live),
                           f"ALTER DATABASE {live} RENAME TO {old}", *take)
        except SandboxError:
            self._recover(live, old)
            raise
        return Replaced(old, self._idle(out))

    def make_spare(self, source: str, drop: str | None = None) -> None:
        """A spare copy of `source` for the next `replace` (and `drop`, an old database, gone): slow work
        that a restore leaves to a background process (sandbox/data/spare.py)."""
        spare = self.spare_of(source)
        # old databases a failed earlier run left behind go too
        olds = [d for d in self.databases() if drop and d.startswith(drop.rsplit("__old_", 1)[0] + "__old_")]
        self.sql(*(f"DROP DATABASE IF EXISTS {d}" for d in olds), f"DROP DATABASE IF EXISTS {spare}",
                 f"CREATE DATABASE {spare} TEMPLATE {source}")

    def _recover(self, live: str, old: str) -> None:
        names = self.databases()
        if live not in names and old in names:
            self.sql(f"ALTER DATABASE {old} RENAME TO {live}")
        self.sql(f"ALTER DATABASE {live} ALLOW_CONNECTIONS true")

    def put_back(self, live: str) -> None:
        """After a `replace` cut short (its caller killed): `live` under its name and open to connections
        again — the database most recently renamed aside from it, when no copy was put in its place."""
        names = self.databases()
        aside = sorted((d for d in names if d.startswith(f"{live}__old_")), key=lambda d: int(d.rsplit("_", 1)[1]))
        if live not in names and not aside:
            raise SandboxError(f"the database {live} is gone and none was set aside: restore a snapshot")
        self._recover(live, aside[-1] if aside else live)

    def drop(self, name: str) -> None:
        """Database `name` and its spare copy, if any."""
        self.sql(f"DROP DATABASE IF EXISTS {name}", f"DROP DATABASE IF EXISTS {self.spare_of(name)}")

    def dump(self, name: str, dest: BinaryIO) -> None:
        """Database `name` in pg_dump's custom format (compressed), written to `dest`."""
        path = f"/tmp/{name}.pgdump"
        code, out, err = run(self.container, server_commands.pg_dump(name, path)[1])
        try:
            if code != 0:
                raise command_failed(f"pg_dump of {name} failed", code, out, err)
            get_file(self.container, path, dest)
        finally:
            run(self.container, ["rm", "-f", path])

    def load(self, name: str, source: BinaryIO) -> None:
        """A new database `name` from a dump made by `dump`; refused when `name` exists or when the dump's
        table of contents holds what a Mastodon database's does not (dumps.check_toc), before anything is
        made. A TOC shows each entry's kind and name, not the SQL it runs, so pg_restore logs in as a role of
        its own that owns the new database and nothing else: no SQL in a dump acts as the superuser. The
        objects then pass to postgres (as if db:prepare had made them) and the role is dropped; a restore
        that fails leaves neither database nor role."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,50}", name):
            raise SandboxError(f"bad database name {name!r}")
        if name in self.databases():
            raise SandboxError(f"the database {name} exists already")
        path, role = f"/tmp/{name}.pgdump", f"{name}_restorer"
        put_file(self.container, path, source)
        try:
            self._check_dump(path)
            self.sql(f"DROP ROLE IF EXISTS {role}", f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
                     f"CREATE DATABASE {name} OWNER {role}")
            try:
                code, out, err = run(self.container, server_commands.pg_restore(name, path, role)[1])
                if code != 0:
                    raise SandboxError(f"pg_restore into {name} failed: {_error_line(err or out)}")
                # the database's own settings go (its owner could set them: a search_path, say)
                self.sql(f"\\connect {name}", f"REASSIGN OWNED BY {role} TO postgres", f"DROP OWNED BY {role}",
                         f"ALTER DATABASE {name} RESET ALL")
                self._check_restored(name)
                self.sql(f"DROP ROLE {role}")
            except BaseException:
                _quietly(self.drop, name)
                _quietly(self.sql, f"DROP ROLE IF EXISTS {role}")
                raise
        finally:
            _remove(self.container, path)

    def _check_dump(self, path: str) -> None:
        """The dump's table of contents, by the rule of dumps.check_toc."""
        code, out, err = run(self.container, server_commands.pg_list(path)[1])
        if code != 0:
            raise command_failed("the database dump is not one pg_restore reads", code, out, err)
        try:
            dumps.check_toc(out)
        except dumps.DumpRefused as e:
            raise Refused(f"the database dump is refused: it {e}") from None

    # What the restore made, by the catalogue (the SQL of a dump's entries can make more than their kinds
    # say; a database's owner may create trusted extensions): schemas but public, extensions but plpgsql,
    # triggers, rules but views', row-security policies, publications.
    RESTORED_EXTRAS = ("SELECT 'extra:schema ' || nspname FROM pg_namespace WHERE nspname NOT IN ('public', "
                       "'information_schema') AND nspname !~ '^pg_' "
                       "UNION ALL SELECT 'extra:extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql' "
                       "UNION ALL SELECT 'extra:trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal "
                       "UNION ALL SELECT 'extra:rule ' || rulename FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class "
                       "WHERE rulename <> '_RETURN' AND c.relnamespace = 'public'::regnamespace "
                       "UNION ALL SELECT 'extra:policy ' || polname FROM pg_policy "
                       "UNION ALL SELECT 'extra:publication ' || pubname FROM pg_publication")

    def _check_restored(self, name: str) -> None:
        found = re.findall(r"extra:(\S+ \S+)", self.sql(f"\\connect {name}", self.RESTORED_EXTRAS))
        if found:
            raise Refused(f"the database dump is refused: restoring it made {found[0]}, which a Mastodon database "
                               "never has")


class Redis:
    """Redis' logical databases: Mastodon uses 0 (feeds, caches, rate limits, Sidekiq); copies go into
    spare ones with every key's TTL (COPY keeps it), and a restore SWAPDBs a fresh copy with 0 —
    atomically, so Puma, Sidekiq and streaming see the whole old or the whole new state."""

    COPY_LUA = """
local src, dst = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('SELECT', dst); redis.call('FLUSHDB'); redis.call('SELECT', src)
local n = 0
for _, k in ipairs(redis.call('KEYS', '*')) do redis.call('COPY', k, k, 'DB', dst, 'REPLACE'); n = n + 1 end
return n
"""
    SWAP_IN_LUA = """
local snap, live, scratch = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('SELECT', scratch); redis.call('FLUSHDB'); redis.call('SELECT', snap)
for _, k in ipairs(redis.call('KEYS', '*')) do redis.call('COPY', k, k, 'DB', scratch, 'REPLACE') end
redis.call('SWAPDB', live, scratch); redis.call('SELECT', scratch); redis.call('FLUSHDB')
return 'OK'
"""
    FLUSH_LUA = "redis.call('SELECT', tonumber(ARGV[1])); redis.call('FLUSHDB'); return 'OK'"
    # DUMP's payloads are binary and redis-cli prints text: hex them in the script, one value per line.
    DUMP_LUA = """
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end
redis.call('SELECT', tonumber(ARGV[1]))
local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local ttl = redis.call('PTTL', k)
  out[#out + 1] = hex(k); out[#out + 1] = tostring(ttl < 0 and 0 or ttl); out[#out + 1] = hex(redis.call('DUMP', k))
end
return out
"""

    def __init__(self, container):
        self.container = container

    def eval(self, lua: str, *args: str) -> str:
        code, out, err = run(self.container, server_commands.redis_eval(lua, list(args))[1])
        if code != 0 or out.startswith("ERR") or "\nERR" in out[:300]:
            raise SandboxError(f"Redis refused: {(err or out).strip()[:200]}")
        return out.strip()

    def copy_db(self, source: int, target: int) -> int:
        """Every key of `source` into `target` (emptied first); returns how many."""
        return int(self.eval(self.COPY_LUA, str(source), str(target)) or 0)

    def swap_in(self, snapshot: int, live: int, scratch: int) -> None:
        """`live` becomes a copy of `snapshot` in one atomic step; `snapshot` is kept."""
        self.eval(self.SWAP_IN_LUA, str(snapshot), str(live), str(scratch))

    def flush(self, db: int) -> None:
        self.eval(self.FLUSH_LUA, str(db))

    def dump(self, db: int) -> bytes:
        """Database `db` as Redis' own protocol: one RESTORE ... REPLACE per key, for `load`."""
        lines = [x for x in self.eval(self.DUMP_LUA, str(db)).split("\n") if x]
        return dumps.encode_restores(dumps.Restore(bytes.fromhex(lines[i]), int(lines[i + 1]), bytes.fromhex(lines[i + 2]))
                                     for i in range(0, len(lines), 3))

    def load(self, db: int, resp: bytes) -> int:
        """Database `db` emptied, then filled from `dump`'s output; returns how many keys came in. The
        output is parsed first and only its RESTOREs, written anew, reach Redis (dumps.parse_restores):
        anything else in it is refused before Redis is touched."""
        try:
            entries = dumps.parse_restores(resp)
        except dumps.DumpRefused as e:
            raise Refused(f"the Redis dump is refused: it {e}") from None
        self.flush(db)
        if not entries:
            return 0
        path = "/tmp/sandbox-load.resp"
        put_file(self.container, path, dumps.encode_restores(entries))
        try:
            code, out, err = run(self.container, server_commands.redis_pipe(db, path)[1])
        finally:
            _remove(self.container, path)
        # redis-cli --pipe ends with "errors: N, replies: M"
        if code != 0 or "errors: 0," not in out:
            raise command_failed("Redis did not take the keys", code, out, err)
        return int(out.rsplit("replies: ", 1)[-1].strip() or 0)


class Refused(SandboxError):
    """A dump `load` will not load: it holds what an export never writes."""


def _error_line(text: str) -> str:
    """The line of a tool's output that says what went wrong (pg_restore follows it with the statement)."""
    lines = [x.strip() for x in text.splitlines() if "error" in x.lower()]
    return lines[0][:200] if lines else (last_words(text) or "no output")


def _remove(container, path: str) -> None:
    """A file put_file left (root's: the engine writes it so) removed as root, whoever the image runs as."""
    exec_in(container, ["rm", "-f", path], user="0")


def _quietly(call, *args) -> None:
    """A clean-up step that must not hide the error that called for it."""
    try:
        call(*args)
    except (SandboxError, docker.errors.DockerException):
        pass


def listing_script(root: str, only: str = "") -> str:
    """A shell line printing one digest of the paths and sizes under `root` (the files `find` expression
    `only` picks; all by default). Paths and sizes, not times: a service that rewrites a file unchanged
    must not look like new data."""
    return f"cd {root} && find . {only} -printf '%p %s\\n' | sort | sha256sum"


def run_helper(image: str, script: str, volumes: dict[str, str], labels: dict[str, str]) -> str:
    """A shell script in a throwaway container of `image` (any with sh and cp) with named volumes mounted
    (created, with `labels`, when missing); returns what it printed."""
    client = docker_client()
    for vol in volumes:
        try:
            client.volumes.get(vol)
        except docker.errors.NotFound:
            client.volumes.create(vol, labels=labels)
    out = client.containers.run(image, ["sh", "-c", script], remove=True, entrypoint=[], user="0", labels=labels,
                                volumes={v: {"bind": path, "mode": "rw"} for v, path in volumes.items()})
    return out.decode() if isinstance(out, bytes) else str(out)


def copy_volume(image: str, source: str, target: str, labels: dict[str, str], only: str = "") -> str:
    """Volume `target` becomes a copy of `source` (ownership and modes kept); returns the copy's listing
    (`listing_script`). The service writing `source` must be paused or stopped."""
    return run_helper(image, f"rm -rf /dst/* /dst/.[!.]* 2>/dev/null; cp -a /src/. /dst/ && {listing_script('/dst', only)}",
                      {source: "/src", target: "/dst"}, labels).split()[0]


def volume_listing(image: str, volume: str, labels: dict[str, str], only: str = "") -> str:
    return run_helper(image, listing_script("/data", only), {volume: "/data"}, labels).split()[0]


def export_volume(image: str, volume: str, dest: BinaryIO, labels: dict[str, str]) -> None:
    """A volume's files as a tar archive written to `dest` (through a stopped helper: no process runs)."""
    client = docker_client()
    helper = client.containers.create(image, ["true"], entrypoint=[], labels=labels,
                                      volumes={volume: {"bind": "/data", "mode": "ro"}})
    try:
        stream, _ = helper.get_archive("/data/.")
        for chunk in stream:
            dest.write(chunk)
    finally:
        helper.remove(force=True)


def import_volume(image: str, volume: str, source: BinaryIO, labels: dict[str, str]) -> None:
    """Volume `volume` (created when missing, emptied otherwise) filled from `export_volume`'s archive."""
    run_helper(image, "rm -rf /data/* /data/.[!.]* 2>/dev/null; true", {volume: "/data"}, labels)
    client = docker_client()
    helper = client.containers.create(image, ["true"], entrypoint=[], labels=labels,
                                      volumes={volume: {"bind": "/data", "mode": "rw"}})
    try:
        source.seek(0)
        if not helper.put_archive("/data", source.read()):
            raise SandboxError(f"could not fill the volume {volume}")
    finally:
        helper.remove(force=True)
