"""Named snapshots of a sandbox's whole state — PostgreSQL, Redis and the media files — taken and put back
in seconds, and `reset` to the state the seed left.

How each part is kept (all inside the sandbox's own containers and volumes, so `destroy` removes them too):
  database  a copy made with CREATE DATABASE ... TEMPLATE (a file-level copy: under a second at seed size);
            restored by renaming the live database aside, copying the snapshot in under its name, then
            dropping the old one, so a failure puts the old one back.
  Redis     Mastodon keeps home feeds, caches, rate-limit counters and Sidekiq's queues in Redis database 0;
            a snapshot copies every key (with its TTL) into a spare logical database, and a restore copies
            them into a scratch database and SWAPDBs it with 0, atomically. Databases 1-13 hold snapshots.
  files     the S3 service's volume (and public/system), copied while the service is paused; restored with
            the service stopped, and skipped when its paths and sizes are those of the snapshot or of the
            volume right after the snapshot was last restored (nothing written since).
While a snapshot is taken or restored, web, streaming and Sidekiq are paused (SIGSTOP to their processes:
`docker pause` needs the cgroup freezer, which nested and rootless engines often lack) and their
database connections ended: on resuming, Rails reconnects on the next query (ActiveRecord's
PostgreSQLAdapter reconnects a lost connection and retries reads, Rails 7.1+), Sidekiq's and Puma's Redis
clients see the swapped database at once (SWAPDB is atomic and per-server), and the streaming server's
pg.Pool drops the ended clients and opens new ones. The tests check it: after a restore the API, the
tokens and a new post work without a restart.
A snapshot also keeps credentials.json, seed.json and the lease ledger, which go back with it (accounts minted
after the snapshot are gone from all three). A restore or reset takes the exclusive side of the in-use lock
(tests using the sandbox through the pytest plugin hold the shared side), so it waits for them."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import docker.errors

from .. import server_commands
from ..docker_env import docker_client
from ..errors import SandboxError
from ..handle import Sandbox
from ..progress import Progress
from .settle import settle

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,29}")
SEEDED = "seeded"  # the snapshot `seed` takes and `reset` restores
SNAPSHOT_DBS = range(1, 14)
SCRATCH_DB = 14
LIVE_DB = "mastodon_production"
APP_SERVICES = ("web", "streaming", "sidekiq")
FILE_VOLUMES = ("s3", "system")
# State-folder files that describe the data and go back with it: accounts and tokens, the seed's summary,
# the test-account pool's ledger (sandbox/testing/leases.py).
EXTRAS = ("credentials.json", "seed.json", "leases.json")


IN_USE = "in-use"  # the reader-writer lock between tests using the sandbox and restores


def snapshots_dir(sandbox: Sandbox) -> Path:
    return sandbox.state.dir / "snapshots"


def manifest_path(sandbox: Sandbox, name: str) -> Path:
    return snapshots_dir(sandbox) / name / "manifest.json"


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name or ""):
        raise SandboxError(f"bad snapshot name {name!r}: 1-30 lower-case letters, digits, - and _, starting with a letter or digit")
    return name


def list_snapshots(sandbox: Sandbox) -> list[dict]:
    out = []
    for path in sorted(snapshots_dir(sandbox).glob("*/manifest.json")):
        out.append(json.loads(path.read_text()))
    return out


def _manifest(sandbox: Sandbox, name: str) -> dict:
    path = manifest_path(sandbox, name)
    if not path.is_file():
        known = ", ".join(m["name"] for m in list_snapshots(sandbox)) or "none"
        raise SandboxError(f"no snapshot {name!r} of sandbox {sandbox.name!r} (snapshots: {known})")
    return json.loads(path.read_text())


def secrets_digest(sandbox: Sandbox) -> str:
    """A digest of the secrets the data was made under (a snapshot is useless under others)."""
    env = (sandbox.state.dir / "mastodon.env").read_text() if (sandbox.state.dir / "mastodon.env").exists() else ""
    keep = sorted(line for line in env.splitlines() if re.match(r"(SECRET_KEY_BASE|OTP_SECRET|ACTIVE_RECORD_ENCRYPTION_\w+|VAPID_\w+)=", line))
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()[:16]


def _containers(sandbox: Sandbox, services) -> list:
    client = docker_client()
    out = []
    for service in services:
        found = client.containers.list(filters={"label": [f"com.docker.compose.project={sandbox.config.project}",
                                                          f"com.docker.compose.service={service}"]})
        out += found
    return out


def _signal_all(container, signal: str) -> None:
    """SIGSTOP or SIGCONT to every process of a container but its init (kill -1 spares PID 1 and the caller).
    Not `docker pause`: it needs the cgroup freezer, which nested and rootless engines often lack."""
    result = container.exec_run(["sh", "-c", f"kill -{signal} -1"])
    if result.exit_code not in (0, 1):  # 1: nothing else to signal
        raise SandboxError(f"could not {'freeze' if signal == 'STOP' else 'resume'} {container.name}: {result.output.decode()[:200]}")


@contextmanager
def paused(sandbox: Sandbox, services=APP_SERVICES):
    """Freeze Mastodon's processes for the few hundred milliseconds of a copy or swap: nothing they do can
    fall between the database's and Redis' copies. The containers are signalled side by side."""
    from concurrent.futures import ThreadPoolExecutor

    containers = [c for c in _containers(sandbox, services) if c.status == "running"]
    with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
        list(pool.map(lambda c: _signal_all(c, "STOP"), containers))
        try:
            yield
        finally:
            list(pool.map(lambda c: _signal_all(c, "CONT"), containers))


def _exec(sandbox: Sandbox, service: str, argv: list[str]) -> tuple[int, str, str]:
    """A server command through the engine's API rather than `docker compose exec`: the Compose CLI takes
    about half a second to start, which several calls would spend over and over in a reset."""
    found = _containers(sandbox, [service])
    if not found:
        raise SandboxError(f"the {service} service of {sandbox.name!r} is not running: `mastodon-sandbox up` first")
    code, (out, err) = found[0].exec_run(argv, demux=True)
    return code, (out or b"").decode(), (err or b"").decode()


def _psql(sandbox: Sandbox, *statements: str) -> None:
    code, out, err = _exec(sandbox, *server_commands.psql_admin(list(statements)))
    if code != 0:
        lines = [x for x in (err or out).splitlines() if x.strip()]
        raise SandboxError(f"PostgreSQL refused: {lines[-1][:200] if lines else f'exit code {code}'}")


def _end_connections(db: str) -> str:
    return f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"


def _redis(sandbox: Sandbox, lua: str, *args: str) -> str:
    code, out, err = _exec(sandbox, *server_commands.redis_eval(lua, list(args)))
    if code != 0 or "ERR" in out[:200]:
        raise SandboxError(f"Redis refused: {(err or out).strip()[:200]}")
    return out.strip()


COPY_DB_LUA = """
local src, dst = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('SELECT', dst); redis.call('FLUSHDB'); redis.call('SELECT', src)
local n = 0
for _, k in ipairs(redis.call('KEYS', '*')) do redis.call('COPY', k, k, 'DB', dst, 'REPLACE'); n = n + 1 end
return n
"""
RESTORE_LUA = """
local snap, scratch = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('SELECT', scratch); redis.call('FLUSHDB'); redis.call('SELECT', snap)
for _, k in ipairs(redis.call('KEYS', '*')) do redis.call('COPY', k, k, 'DB', scratch, 'REPLACE') end
redis.call('SWAPDB', 0, scratch); redis.call('SELECT', scratch); redis.call('FLUSHDB')
return 'OK'
"""
FLUSH_LUA = "redis.call('SELECT', tonumber(ARGV[1])); redis.call('FLUSHDB'); return 'OK'"


def _volume_name(sandbox: Sandbox, volume: str) -> str:
    return f"{sandbox.config.project}_{volume}"


def _snapshot_volume(sandbox: Sandbox, name: str, volume: str) -> str:
    return f"{sandbox.config.project}_snap-{name}-{volume}"


def _helper_image(sandbox: Sandbox) -> str:
    """An image of the sandbox's own with a shell and cp (the Redis service's: Debian-based everywhere)."""
    return sandbox.stack.config_json()["services"]["redis"]["image"]


def _run_helper(sandbox: Sandbox, script: str, volumes: dict[str, str]) -> str:
    client = docker_client()
    labels = {"com.docker.compose.project": sandbox.config.project}
    for vol in volumes:
        try:
            client.volumes.get(vol)
        except docker.errors.NotFound:
            client.volumes.create(vol, labels=labels)
    out = client.containers.run(_helper_image(sandbox), ["sh", "-c", script], remove=True, entrypoint=[], user="0",
                                volumes={v: {"bind": path, "mode": "rw"} for v, path in volumes.items()}, labels=labels)
    return out.decode() if isinstance(out, bytes) else str(out)


# Where a running service has each file volume mounted, to list it in place (no helper container to start).
MOUNTED_IN = {"s3": ("s3", "/data"), "system": ("web", "/opt/mastodon/public/system")}


def _listing(sandbox: Sandbox, volume: str) -> str | None:
    """A file volume's listing, taken where a running service mounts it; None when it cannot be listed."""
    service, path = MOUNTED_IN[volume]
    try:
        code, out, _ = _exec(sandbox, service, ["sh", "-c", LISTING.replace("/data", path)])
    except SandboxError:
        return None
    return out.split()[0] if code == 0 and out.split() else None


def _changed_volumes(sandbox: Sandbox, manifest: dict) -> list[str]:
    """The file volumes whose listing differs from the snapshot's, and from how it looked right after the
    snapshot was last restored (SeaweedFS compacts its filer's LevelDB log when it starts, so the restored
    volume settles into other file names holding the same objects). A volume that cannot be listed counts
    as changed (restored, which is slower but right)."""
    after = manifest.get("volumes_after_restore", {})
    changed = []
    for v, listing in manifest["volumes"].items():
        now = _listing(sandbox, v)
        if now is None or now not in (listing, after.get(v)):
            changed.append(v)
    return changed


def _file_volumes(sandbox: Sandbox) -> list[str]:
    client = docker_client()
    present = []
    for v in FILE_VOLUMES:
        try:
            client.volumes.get(_volume_name(sandbox, v))
            present.append(v)
        except docker.errors.NotFound:
            pass
    return present


# Paths and sizes, not times: SeaweedFS rewrites its filer's LevelDB files (same names and sizes, new times) each
# time it starts, so times would make every restore restart S3. Objects written or deleted change sizes
# (SeaweedFS appends to its volume files; the filer's log grows).
LISTING = "cd /data && find . -printf '%p %s\\n' | sort | sha256sum"


def save(sandbox: Sandbox, name: str, progress: Progress | None = None, replace: bool = False) -> dict:
    """Take snapshot `name` once background work has settled."""
    progress = progress or Progress(quiet=True)
    check_name(name)
    existing = {m["name"]: m for m in list_snapshots(sandbox)}
    if name in existing and not replace:
        raise SandboxError(f"snapshot {name!r} exists: delete it first, or save under another name")
    if not sandbox.stack.is_running():
        raise SandboxError(f"sandbox {sandbox.name!r} is not running: `mastodon-sandbox up` first")
    with sandbox.state.lock("snapshots"):
        if name in existing:
            _delete(sandbox, existing[name])
        used = {m["redis_db"] for m in list_snapshots(sandbox)}
        free = [i for i in SNAPSHOT_DBS if i not in used]
        if not free:
            raise SandboxError(f"{len(SNAPSHOT_DBS)} snapshots is the most a sandbox keeps: delete one first")
        progress.step("waiting for background work to settle before the snapshot")
        settle(sandbox)
        started = time.monotonic()
        database = f"snap__{name.replace('-', '_')}"
        volumes = _file_volumes(sandbox)
        listings: dict[str, str] = {}
        partial = {"name": name, "database": database, "redis_db": free[0], "volumes": {v: "" for v in volumes}}
        try:
            with paused(sandbox, (*APP_SERVICES, "s3")):
                _redis(sandbox, COPY_DB_LUA, "0", str(free[0]))
                try:
                    _psql(sandbox, f"ALTER DATABASE {LIVE_DB} ALLOW_CONNECTIONS false", _end_connections(LIVE_DB),
                          f"DROP DATABASE IF EXISTS {database}", f"CREATE DATABASE {database} TEMPLATE {LIVE_DB}")
                finally:
                    _psql(sandbox, f"ALTER DATABASE {LIVE_DB} ALLOW_CONNECTIONS true")
                for v in volumes:
                    snap = _snapshot_volume(sandbox, name, v)
                    listings[v] = _run_helper(sandbox, f"rm -rf /snap/* && cp -a /data/. /snap/ && {LISTING}",
                                              {_volume_name(sandbox, v): "/data", snap: "/snap"}).split()[0]
        except (SandboxError, docker.errors.DockerException) as e:
            _delete(sandbox, partial)  # nothing half-made is left behind
            if isinstance(e, SandboxError):
                raise
            raise SandboxError(f"the snapshot {name!r} could not be taken: {str(e).splitlines()[0][:200]}") from None
        folder = snapshots_dir(sandbox) / name
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for extra in EXTRAS:
            if (sandbox.state.dir / extra).exists():
                shutil.copy2(sandbox.state.dir / extra, folder / extra)
        manifest = {"name": name, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "mastodon": sandbox.config.release.version, "server": sandbox.config.server,
                    "secrets": secrets_digest(sandbox), "redis_db": free[0], "database": database,
                    "volumes": listings, "seconds": round(time.monotonic() - started, 2)}
        sandbox.state.write_json(folder / "manifest.json", manifest)
        return manifest


def restore(sandbox: Sandbox, name: str, progress: Progress | None = None) -> dict:
    """Put snapshot `name` back: database, Redis, files, credentials and seed summary, all or nothing."""
    progress = progress or Progress(quiet=True)
    manifest = _manifest(sandbox, check_name(name))
    if manifest["mastodon"] != sandbox.config.release.version:
        raise SandboxError(f"snapshot {name!r} was taken on Mastodon {manifest['mastodon']}; this sandbox runs "
                           f"{sandbox.config.release.version}: restore it on a sandbox of that version")
    if manifest["secrets"] != secrets_digest(sandbox):
        raise SandboxError(f"snapshot {name!r} was taken under other secrets: it cannot be restored into this sandbox")
    if not sandbox.stack.is_running():
        raise SandboxError(f"sandbox {sandbox.name!r} is not running: `mastodon-sandbox up` first")
    # Tests that use the sandbox hold the shared side of IN_USE (the pytest plugin): a restore waits for them.
    with sandbox.state.rwlock(IN_USE, shared=False), sandbox.state.lock("snapshots"):
        try:
            # a job still running would write into the restored state; what waits in the queues goes back
            # with Redis, so one quiet look is enough here
            settle(sandbox, timeout=30, quiet_for=0)
        except SandboxError:
            pass
        started = time.monotonic()
        old = f"{LIVE_DB}__before_restore"
        changed = _changed_volumes(sandbox, manifest)
        with paused(sandbox):
            # one psql run: the live database aside, the snapshot copied in under its name, the old one dropped
            try:
                _psql(sandbox, f"ALTER DATABASE {LIVE_DB} ALLOW_CONNECTIONS false", _end_connections(LIVE_DB),
                      f"DROP DATABASE IF EXISTS {old}", f"ALTER DATABASE {LIVE_DB} RENAME TO {old}",
                      f"CREATE DATABASE {LIVE_DB} TEMPLATE {manifest['database']}", f"DROP DATABASE {old}")
            except SandboxError:
                _recover_live_database(sandbox, old)
                raise
            _redis(sandbox, RESTORE_LUA, str(manifest["redis_db"]), str(SCRATCH_DB))
            if changed:
                sandbox.stack.run("stop", "s3", timeout=60)
                for v in changed:
                    _run_helper(sandbox, "rm -rf /data/* /data/.[!.]* 2>/dev/null; cp -a /snap/. /data/",
                                {_volume_name(sandbox, v): "/data", _snapshot_volume(sandbox, name, v): "/snap"})
                sandbox.stack.run("start", "s3", timeout=60)
        folder = snapshots_dir(sandbox) / name
        for extra in EXTRAS:
            if (folder / extra).exists():
                shutil.copy2(folder / extra, sandbox.state.dir / extra)
            elif extra != "credentials.json" and (sandbox.state.dir / extra).exists():
                (sandbox.state.dir / extra).unlink()  # not there when the snapshot was taken
        if changed:
            sandbox.stack.wait_ready(timeout=120)
            manifest.setdefault("volumes_after_restore", {}).update({v: _listing(sandbox, v) for v in changed})
            sandbox.state.write_json(folder / "manifest.json", manifest)
        return {"name": name, "seconds": round(time.monotonic() - started, 2), "files_restored": changed}


def _recover_live_database(sandbox: Sandbox, old: str) -> None:
    """After a failed swap: the live database back under its name, open to connections (all or nothing)."""
    code, out, _ = _exec(sandbox, *server_commands.psql_admin(
        [f"SELECT datname FROM pg_database WHERE datname IN ('{LIVE_DB}', '{old}')"]))
    names = {line.strip() for line in out.splitlines()}
    if LIVE_DB not in names and old in names:
        _psql(sandbox, f"ALTER DATABASE {old} RENAME TO {LIVE_DB}")
    if LIVE_DB in names and old in names:
        _psql(sandbox, f"DROP DATABASE {old}")
    _psql(sandbox, f"ALTER DATABASE {LIVE_DB} ALLOW_CONNECTIONS true")


def _delete(sandbox: Sandbox, manifest: dict) -> None:
    _psql(sandbox, f"DROP DATABASE IF EXISTS {manifest['database']}")
    _redis(sandbox, FLUSH_LUA, str(manifest["redis_db"]))
    client = docker_client()
    for v in manifest.get("volumes", {}):
        try:
            client.volumes.get(_snapshot_volume(sandbox, manifest["name"], v)).remove(force=True)
        except docker.errors.NotFound:
            pass
    shutil.rmtree(snapshots_dir(sandbox) / manifest["name"], ignore_errors=True)


def delete(sandbox: Sandbox, name: str) -> None:
    manifest = _manifest(sandbox, check_name(name))
    with sandbox.state.lock("snapshots"):
        _delete(sandbox, manifest)


def reset(sandbox: Sandbox, progress: Progress | None = None) -> dict:
    """Back to the state the seed left (the `seeded` snapshot, taken by `seed`)."""
    if not manifest_path(sandbox, SEEDED).is_file():
        raise SandboxError(f"sandbox {sandbox.name!r} has no seeded state to reset to: `mastodon-sandbox seed` first "
                           f"(or `mastodon-sandbox snapshot save NAME` and `snapshot restore NAME`)")
    return restore(sandbox, SEEDED, progress)
