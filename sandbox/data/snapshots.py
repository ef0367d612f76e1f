"""Named snapshots of a sandbox's whole state — PostgreSQL, Redis and the media files — taken and put back
in seconds, and `reset` to the state the seed left.

How each part is kept (all inside the sandbox's own containers and volumes, so `destroy` removes them too):
  database  a copy made with CREATE DATABASE ... TEMPLATE (a file-level copy synced to disk: one to two
            seconds at seed size), plus a spare copy of that; restored by renaming the live database aside
            and the spare in under its name (milliseconds), so a failure puts the old one back. A background
            process (spare.py) then drops the old database and makes the next spare, holding the snapshots'
            lock until done; with no spare ready, the restore copies the snapshot itself.
  Redis     Mastodon keeps home feeds, caches, rate-limit counters and Sidekiq's queues in Redis database 0;
            a snapshot copies every key (with its TTL) into a spare logical database, and a restore copies
            them into a scratch database and SWAPDBs it with 0, atomically. Databases 1-13 hold snapshots.
  files     the S3 service's volume (and public/system), copied while the service is paused; restored with
            the service stopped, and skipped when its paths and sizes are those of the snapshot or of the
            volume right after the snapshot was last restored (nothing written since).
While a snapshot is taken or restored, web, streaming and Sidekiq are paused (SIGSTOP to their processes:
`docker pause` needs the cgroup freezer, which nested and rootless engines often lack) and their
database connections ended: on resuming, Rails checks each connection before its next query and
reconnects (4.6 trusts one used in the last 2 s unchecked, so the pause lasts until each ended connection
is that old: `Pause`), Sidekiq's and Puma's Redis
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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from .. import stores
from ..environment import DB_NAME, MEDIA_BUCKET
from ..errors import SandboxError
from ..handle import Sandbox
from ..stack import SERVICE_LABEL, exec_in
from ..progress import Progress
from ..state import State, write_private
from ..waiting import Look, wait_for
from . import journal, spare
from .settle import settle, sidekiq_stats

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,29}")
SEEDED = "seeded"  # the snapshot `seed` takes and `reset` restores
SNAPSHOT_DBS = range(1, 14)
SCRATCH_DB = 14
LIVE_DB = DB_NAME
APP_SERVICES = ("web", "streaming", "sidekiq")
FILE_VOLUMES = ("s3", "system")


IN_USE = "in-use"  # the reader-writer lock between tests using the sandbox and restores


def snapshots_dir(sandbox: Sandbox) -> Path:
    return sandbox.state.snapshots_dir


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


def read_manifest(sandbox: Sandbox, name: str) -> dict:
    path = manifest_path(sandbox, name)
    if not path.is_file():
        known = ", ".join(m["name"] for m in list_snapshots(sandbox)) or "none"
        raise SandboxError(f"no snapshot {name!r} of sandbox {sandbox.name!r} (snapshots: {known})")
    return json.loads(path.read_text())


DIGESTED_SECRETS = r"(SECRET_KEY_BASE|OTP_SECRET|ACTIVE_RECORD_ENCRYPTION_\w+|VAPID_\w+)="


def secrets_digest_of(env_text: str) -> str:
    """A digest of the secrets in an env file's text (mastodon.env, or the secrets.env an export carries)."""
    keep = sorted(line for line in env_text.splitlines() if re.match(DIGESTED_SECRETS, line))
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()[:16]


def secrets_digest(sandbox: Sandbox) -> str:
    """A digest of the secrets the data was made under (a snapshot is useless under others)."""
    env = sandbox.state.mastodon_env
    return secrets_digest_of(env.read_text() if env.exists() else "")


def running_containers(sandbox: Sandbox) -> dict[str, object]:
    return sandbox.stack.containers()


def _containers(sandbox: Sandbox, services) -> list:
    running = running_containers(sandbox)
    return [running[s] for s in services if s in running]


def _signal_all(container, signal: str) -> None:
    """SIGSTOP or SIGCONT to every process of a container but its init (kill -1 spares PID 1 and the caller).
    Not `docker pause`: it needs the cgroup freezer, which nested and rootless engines often lack."""
    result = exec_in(container, ["sh", "-c", f"kill -{signal} -1"])
    if result.returncode not in (0, 1):  # 1: nothing else to signal
        raise SandboxError(f"could not {'freeze' if signal == 'STOP' else 'resume'} {container.name}: {(result.stdout + result.stderr)[:200]}")


# What Rails' last use of a connection and PostgreSQL's end of that connection's last statement (which
# the swap reads) may differ by: the reply's way back to the frozen process. Generous on purpose.
LAST_USE_SLACK = 0.1
S3_IDLE_TIMEOUT = 5.0  # Mastodon's S3 client: http_idle_timeout (config/initializers/paperclip.rb)


class Pause:
    """How long the frozen processes stay frozen. Rails trusts a connection used less than
    `db_verify_timeout` ago without checking it (sandbox/config.py), and a query on one whose server side
    the copy or swap ended then fails with a 500 instead of reconnecting. Seen on real 4.6.5: with a 0.6 s
    pause the first request after a restore was a 500 (ActiveRecord::ConnectionFailed, "terminating
    connection due to administrator command"). So the processes resume only once every connection that was
    ended has been unused that long (frozen processes use none); as PostgreSQL says how long each had
    been idle, the pause is only as long as that needs."""

    def __init__(self, verify_timeout: float):
        self.verify_timeout = verify_timeout
        self.frozen_at = self.until = time.monotonic()

    def connections_ended(self, idle: float | None) -> None:
        """Connections were ended, the most recently used of them `idle` seconds ago (None: none)."""
        if idle is not None and self.verify_timeout > 0:
            self.until = max(self.until, time.monotonic() + self.verify_timeout + LAST_USE_SLACK - idle)

    def s3_restarted(self) -> None:
        """The S3 server was restarted: Mastodon's S3 client reuses a connection idle less than
        `http_idle_timeout` (5 s) and does not retry (`retry_limit` 0; config/initializers/paperclip.rb), so
        a request on one the restart ended is a 503 "temporary problem" (seen on real 4.6.5: the first
        upload after a restore). The last was used before the freeze; resume once it has lapsed."""
        self.until = max(self.until, self.frozen_at + S3_IDLE_TIMEOUT + LAST_USE_SLACK)

    def wait(self) -> None:
        """Until the processes may resume."""
        time.sleep(max(0.0, self.until - time.monotonic()))


@contextmanager
def paused(sandbox: Sandbox, services=APP_SERVICES):
    """Freeze Mastodon's processes while the database and Redis are copied or swapped: nothing they do can
    fall between the two. The containers are signalled side by side; the body tells the `Pause` it gets
    which connections it ended, and the processes resume once Rails will check those before using them."""
    containers = [c for c in _containers(sandbox, services) if c.status == "running"]
    pause = Pause(sandbox.config.release.db_verify_timeout)
    with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
        list(pool.map(lambda c: _signal_all(c, "STOP"), containers))
        pause.frozen_at = time.monotonic()
        try:
            yield pause
        except BaseException:
            pause.connections_ended(0.0)  # failed midway: it may have ended connections before it could say
            raise
        finally:
            pause.wait()
            list(pool.map(lambda c: _signal_all(c, "CONT"), containers))


FREEZABLE = (*APP_SERVICES, "s3")


def frozen(sandbox: Sandbox, running: dict | None = None) -> list:
    """The containers with a stopped process (state T): a save or restore that died while they were frozen
    left them so. Docker still calls them running and their health checks can pass for minutes."""
    containers = [c for s, c in (running if running is not None else running_containers(sandbox)).items() if s in FREEZABLE]
    return [c for c in containers if any(p[1].startswith("T") for p in c.top(ps_args="-eo pid,stat")["Processes"])]


def thaw(sandbox: Sandbox, running: dict | None = None) -> list[str]:
    """Resume every frozen process of the sandbox, once Rails will check the connections a cut-short save
    or restore may have ended (`Pause`); returns the services that were frozen. Only for a caller holding
    the snapshots' lock: a live save or restore freezes them on purpose."""
    stuck = frozen(sandbox, running)
    if stuck:
        # The operation that froze them may have ended their database connections moments before it died.
        pause = Pause(sandbox.config.release.db_verify_timeout)
        pause.connections_ended(0.0)
        pause.wait()
    for c in stuck:
        _signal_all(c, "CONT")
    return sorted(c.labels.get(SERVICE_LABEL, c.name) for c in stuck)


def thaw_unless_busy(sandbox: Sandbox) -> list[str]:
    """`thaw` when no save or restore is at work (its lock is free): those freeze the processes on purpose."""
    with sandbox.state.lock("snapshots", blocking=False) as free:
        return thaw(sandbox) if free else []


def _container(sandbox: Sandbox, service: str, running: dict | None = None):
    if running is None:
        return sandbox.stack.container(service)
    found = running.get(service)
    if found is None:
        raise SandboxError(f"the {service} service of {sandbox.name!r} is not running: `mastodon-sandbox up` first")
    return found


def postgres(sandbox: Sandbox, running: dict | None = None) -> stores.Postgres:
    return stores.Postgres(_container(sandbox, "db", running))


def redis(sandbox: Sandbox, running: dict | None = None) -> stores.Redis:
    return stores.Redis(_container(sandbox, "redis", running))


def snapshot_volume(name: str, volume: str) -> str:
    """The volume (of the sandbox's project) that keeps snapshot `name`'s copy of `volume`."""
    return f"snap-{name}-{volume}"


def helper_image(sandbox: Sandbox) -> str:
    """An image of the sandbox's own with a shell and cp (the Redis service's: Debian-based everywhere)."""
    return sandbox.stack.config_json()["services"]["redis"]["image"]


# Where a running service has each file volume mounted, to list it in place (no helper container to start).
MOUNTED_IN = {"s3": ("s3", "/data"), "system": ("web", "/opt/mastodon/public/system")}
# The files of the S3 volume that hold objects, for telling whether objects changed (stores.listing_script).
# SeaweedFS appends every object written or deleted to the bucket collection's volume files; its filer's
# LevelDB and metadata log, its master's raft log and the health check's write (the default collection)
# change on their own. MinIO keeps each object in files of its own; .minio.sys is its bookkeeping. A change
# to an object's metadata alone (an S3 copy, new tags), which Mastodon does not make, is not seen.
OBJECT_FILES = {"seaweedfs": rf"\( -name '{MEDIA_BUCKET}_*.dat' -o -name '{MEDIA_BUCKET}_*.idx' \)", "minio": "-not -path './.minio.sys*'"}


def object_files(sandbox: Sandbox, volume: str) -> str:
    return OBJECT_FILES.get(sandbox.config.s3, "") if volume == "s3" else ""


def _listing(sandbox: Sandbox, volume: str, running: dict | None = None) -> str | None:
    """A file volume's listing, taken where a running service mounts it; None when it cannot be listed."""
    service, path = MOUNTED_IN[volume]
    try:
        code, out, _ = stores.run(_container(sandbox, service, running), ["sh", "-c", stores.listing_script(path, object_files(sandbox, volume))])
    except SandboxError:
        return None
    return out.split()[0] if code == 0 and out.split() else None


def _changed_volumes(sandbox: Sandbox, manifest: dict, running: dict) -> list[str]:
    """The file volumes whose listing differs from the snapshot's, and from how it looked right after the
    snapshot was last restored (SeaweedFS compacts its filer's LevelDB log when it starts, so the restored
    volume settles into other file names holding the same objects). A volume that cannot be listed counts
    as changed (restored, which is slower but right). The volumes are listed side by side."""
    after = manifest.get("volumes_after_restore", {})
    names = list(manifest["volumes"])
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        now = dict(zip(names, pool.map(lambda v: _listing(sandbox, v, running), names)))
    return [v for v in names if now[v] is None or now[v] not in (manifest["volumes"][v], after.get(v))]


def _file_volumes(sandbox: Sandbox) -> list[str]:
    return [v for v in FILE_VOLUMES if sandbox.stack.has_volume(v)]


def free_redis_db(sandbox: Sandbox) -> int:
    """A logical Redis database no snapshot uses (call with the snapshots' lock held)."""
    used = {m["redis_db"] for m in list_snapshots(sandbox)}
    free = [i for i in SNAPSHOT_DBS if i not in used]
    if not free:
        raise SandboxError(f"{len(SNAPSHOT_DBS)} snapshots is the most a sandbox keeps: delete one first")
    return free[0]


def save(sandbox: Sandbox, name: str, progress: Progress | None = None, replace: bool = False) -> dict:
    """Take snapshot `name` once background work has settled."""
    progress = progress or Progress(quiet=True)
    check_name(name)
    existing = {m["name"]: m for m in list_snapshots(sandbox)}
    if name in existing and not replace:
        raise SandboxError(f"snapshot {name!r} exists: delete it first, or save under another name")
    if not sandbox.stack.is_running():
        raise SandboxError(f"sandbox {sandbox.name!r} is not running: `mastodon-sandbox up` first")
    extras = kept_files(sandbox.state.dir)  # a damaged file is refused before anything is made
    recover(sandbox, progress)  # never a snapshot of what a killed restore left half done
    with sandbox.state.lock("snapshots") as held:
        if name in existing:
            discard(sandbox, existing[name])
        redis_db = free_redis_db(sandbox)
        progress.step("waiting for background work to settle before the snapshot")
        settle(sandbox)
        started = time.monotonic()
        database = f"snap__{name.replace('-', '_')}"
        volumes = _file_volumes(sandbox)
        listings: dict[str, str] = {}
        partial = {"name": name, "database": database, "redis_db": redis_db, "volumes": {v: "" for v in volumes}}
        with journal.signals_held():
            journal.begin(sandbox.state, "save", name, partial=partial)
            try:
                with paused(sandbox, FREEZABLE) as pause:
                    redis(sandbox).copy_db(0, redis_db)
                    pause.connections_ended(postgres(sandbox).copy(LIVE_DB, database))
                    for v in volumes:
                        listings[v] = stores.copy_volume(helper_image(sandbox), sandbox.stack.volume_name(v),
                                                         sandbox.stack.volume_name(snapshot_volume(name, v)),
                                                         sandbox.stack.labels, object_files(sandbox, v))
            except (SandboxError, docker.errors.DockerException) as e:
                discard(sandbox, partial)  # nothing half-made is left behind
                journal.end(sandbox.state)
                if isinstance(e, SandboxError):
                    raise
                raise SandboxError(f"the snapshot {name!r} could not be taken: {str(e).splitlines()[0][:200]}") from None
            folder = snapshots_dir(sandbox) / name
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            for extra, text in extras.items():
                write_private(folder / extra, text)
            manifest = {"name": name, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "mastodon": sandbox.config.release.version, "server": sandbox.config.server,
                        "secrets": secrets_digest(sandbox), "redis_db": redis_db, "database": database,
                        "volumes": listings, "seconds": round(time.monotonic() - started, 2)}
            sandbox.state.write_json(folder / "manifest.json", manifest)  # written last: the snapshot exists from here
            journal.end(sandbox.state)
            spare.start(_container(sandbox, "db"), database, None, held, sandbox.state.dir)
        return manifest


def kept_files(state_dir: Path) -> dict[str, str]:
    """The state-folder files a snapshot keeps (State.KEPT_BY_SNAPSHOTS), read and checked: a damaged one would come back
    with every restore, so it is refused in one line instead."""
    kept = {}
    for extra in State.KEPT_BY_SNAPSHOTS:
        path = state_dir / extra
        if path.exists():
            text = path.read_text()
            try:
                json.loads(text)
            except ValueError as e:
                raise SandboxError(f"{path} is damaged ({e}): no snapshot keeps it; restore a snapshot taken before, "
                                   "or remove the file and run `mastodon-sandbox up` to provision again") from None
            kept[extra] = text
    return kept


@dataclass(frozen=True)
class Restored:
    """What a restore did: which snapshot, how long it took, which file volumes it had to copy back."""

    name: str
    seconds: float
    files_restored: list[str]


def restorable(sandbox: Sandbox, name: str) -> dict:
    """The manifest of snapshot `name` when this running sandbox can take it back; one line otherwise."""
    manifest = read_manifest(sandbox, check_name(name))
    if manifest["mastodon"] != sandbox.config.release.version:
        raise SandboxError(f"snapshot {name!r} was taken on Mastodon {manifest['mastodon']}; this sandbox runs "
                           f"{sandbox.config.release.version}: restore it on a sandbox of that version")
    if manifest["secrets"] != secrets_digest(sandbox):
        raise SandboxError(f"snapshot {name!r} was taken under other secrets: it cannot be restored into this sandbox")
    if "proxy" not in running_containers(sandbox):
        raise SandboxError(f"sandbox {sandbox.name!r} is not running: `mastodon-sandbox up` first")
    return manifest


def restore(sandbox: Sandbox, name: str, progress: Progress | None = None) -> Restored:
    """Put snapshot `name` back: database, Redis, files, credentials and seed summary, all or nothing."""
    manifest = restorable(sandbox, name)
    # Tests that use the sandbox hold the shared side of IN_USE (the pytest plugin): a restore waits for them.
    with sandbox.state.rwlock(IN_USE, shared=False), sandbox.state.lock("snapshots") as held:
        if journal.read(sandbox.state):
            _clear_abandoned(sandbox)  # this restore puts back everything a dead one left half done
        return _restore_locked(sandbox, manifest, held)


def _restore_locked(sandbox: Sandbox, manifest: dict, held) -> Restored:
    name = manifest["name"]
    started = time.monotonic()
    running = running_containers(sandbox)
    db, kv = postgres(sandbox, running), redis(sandbox, running)
    # A job still running would write into the restored state: wait until none runs. What waits in the
    # queues or the schedule is replaced with Redis, so it does not matter.
    if "sidekiq" in running:
        _wait_while_sidekiq_busy(sandbox, timeout=15)
    with journal.signals_held():
        journal.begin(sandbox.state, "restore", name)
        with paused(sandbox) as pause, ThreadPoolExecutor(max_workers=2) as pool:
            # which file volumes changed and whether the database has a spare copy ready, side by side
            changed_soon = pool.submit(_changed_volumes, sandbox, manifest, running)
            spare_ready = pool.submit(db.has_spare, manifest["database"])
            changed = changed_soon.result()
            # the database first: when its swap fails (and is undone), Redis is left as it was
            old, idle = db.replace(LIVE_DB, manifest["database"], use_spare=spare_ready.result())
            pause.connections_ended(idle)
            kv.swap_in(manifest["redis_db"], 0, SCRATCH_DB)
            if changed:
                sandbox.stack.run("stop", "s3", timeout=60)
                for v in changed:
                    stores.copy_volume(helper_image(sandbox), sandbox.stack.volume_name(snapshot_volume(name, v)),
                                       sandbox.stack.volume_name(v), sandbox.stack.labels)
                sandbox.stack.run("start", "s3", timeout=60)
                # Mastodon resumes only once S3 takes writes again (its health check makes one).
                sandbox.stack.wait_ready(timeout=120, only=("s3",))
                pause.s3_restarted()
        folder = snapshots_dir(sandbox) / name
        for extra in State.KEPT_BY_SNAPSHOTS:
            if (folder / extra).exists():
                shutil.copy2(folder / extra, sandbox.state.dir / extra)
            elif extra != "credentials.json" and (sandbox.state.dir / extra).exists():
                (sandbox.state.dir / extra).unlink()  # not there when the snapshot was taken
        if changed:
            manifest.setdefault("volumes_after_restore", {}).update({v: _listing(sandbox, v) for v in changed})
            sandbox.state.write_json(folder / "manifest.json", manifest)
        journal.end(sandbox.state)
        spare.start(db.container, manifest["database"], old, held, sandbox.state.dir)  # keeps the lock until done
    return Restored(name, round(time.monotonic() - started, 2), changed)


def _clear_abandoned(sandbox: Sandbox) -> dict | None:
    """Under the snapshots' lock: undo what a save or restore whose process died left behind — its frozen
    processes resumed, a half-taken snapshot removed, the live database back under its name — and return
    its record (a restore is then done again by the caller)."""
    record = journal.read(sandbox.state)
    if record is None:
        return None
    # Both close the live database while they copy it (stores.Postgres.copy, replace) and open it again
    # after: a kill in between leaves it refusing every new connection (seen on real 4.6.5: a 500 on the
    # first request after `up`). Opened before the processes resume, so none of them meets it closed.
    postgres(sandbox).put_back(LIVE_DB)
    thaw(sandbox)
    if record["op"] == "save":
        discard(sandbox, record["partial"])
    journal.end(sandbox.state)
    return record


def recover(sandbox: Sandbox, progress: Progress | None = None) -> str | None:
    """Finish what a save or restore whose process died left half done: a restore is done again (the
    snapshot is whole: database, Redis, files and credentials all come back to it), a half-taken snapshot
    is removed. Returns what was done, or None when nothing was cut short. Any command that uses the data
    calls this first (processes frozen with no record are `up`'s and `status`'s to resume: thaw_unless_busy)."""
    progress = progress or Progress(quiet=True)
    state = sandbox.state
    if journal.read(state) is None:
        return None
    with state.rwlock(IN_USE, shared=False), state.lock("snapshots") as held:
        record = _clear_abandoned(sandbox)
        if record is None:
            return None  # its process finished it meanwhile
        what = journal.describe(record)
        if record["op"] == "save":
            done = f"removed the half-taken snapshot of a {what} that was cut short"
            progress.step(done)
            return done
        progress.step(f"finishing a {what} that was cut short")
        try:
            manifest = read_manifest(sandbox, record["snapshot"])
        except SandboxError:
            return f"a {what} was cut short and its snapshot is gone: the sandbox is as the cut left it"
        _restore_locked(sandbox, manifest, held)
        return f"finished a {what} that was cut short"


def _wait_while_sidekiq_busy(sandbox: Sandbox, timeout: float) -> None:
    """Until no Sidekiq processor runs a job (sandbox/data/settle.py says how that is known); after `timeout`
    the restore goes on regardless, as a job may run long."""
    def look() -> Look[bool]:
        return Look(sidekiq_stats(sandbox).busy == 0, True)

    wait_for(look, timeout=timeout, interval=0.3, what="Sidekiq's running job did not end", give_up=True)


def discard(sandbox: Sandbox, manifest: dict) -> None:
    postgres(sandbox).drop(manifest["database"])
    redis(sandbox).flush(manifest["redis_db"])
    for v in manifest.get("volumes", {}):
        sandbox.stack.remove_volume(snapshot_volume(manifest["name"], v))
    shutil.rmtree(snapshots_dir(sandbox) / manifest["name"], ignore_errors=True)


def delete(sandbox: Sandbox, name: str) -> None:
    manifest = read_manifest(sandbox, check_name(name))
    recover(sandbox)
    with sandbox.state.lock("snapshots"):
        discard(sandbox, manifest)


def reset(sandbox: Sandbox, progress: Progress | None = None) -> Restored:
    """Back to the state the seed left (the `seeded` snapshot, taken by `seed`)."""
    if not manifest_path(sandbox, SEEDED).is_file():
        raise SandboxError(f"sandbox {sandbox.name!r} has no seeded state to reset to: `mastodon-sandbox seed` first "
                           f"(or `mastodon-sandbox snapshot save NAME` and `snapshot restore NAME`)")
    return restore(sandbox, SEEDED, progress)
