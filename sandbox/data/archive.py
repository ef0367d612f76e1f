"""`snapshot export` and `snapshot import`: a snapshot as one file, restored on another machine's sandbox of
the same Mastodon version (a reproducible demo).

The file is a gzip'd tar, written 0600: it holds the sandbox's secrets and tokens.
  manifest.json       the snapshot's manifest, the file's format, and the settings baked into the data
  secrets.env         the secrets the data was made under (encrypted columns, signed ids, VAPID keys)
  database.pgdump     the snapshot's database, in pg_dump's custom format
  redis.resp          its Redis database, as RESTORE commands in Redis' own protocol
  files/VOLUME.tar    the S3 service's files and public/system
  state/FILE          credentials.json, seed.json and leases.json as the snapshot kept them

Import makes a new sandbox from the file — its secrets, and the settings the data depends on: the server,
the version, the port (LOCAL_DOMAIN, which carries it, is in every stored URI), the S3 backend and the
e-mail domain — brings it up without provisioning and restores the snapshot into it. An existing sandbox
takes the file only when it runs under the same secrets and version (the sandbox it came from, say after
the snapshot was deleted); the snapshot is then kept under its name, to restore when wanted.

A file is checked whole before the import makes or changes anything (sandbox/data/verify.py): its members,
manifest, secrets, Redis keys and archives, and that it is not cut short. The manifest lists each part's
size and SHA-256 (`parts`; files written before carry none and are checked part by part all the same).
The database dump's table of contents is checked in the db container right before it is loaded, and it
is loaded as an unprivileged role (stores.Postgres.load). A sandbox the import made is removed again when
any step fails: a refused file leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import dumps, stores
from ..config import SandboxConfig, check_settings
from ..docker_env import docker_client
from ..errors import SandboxError
from ..handle import Sandbox
from ..progress import Progress
from ..stack import project_filter
from ..state import State, render_env_file, write_private
from . import snapshots, verify
from .verify import DATA_SETTINGS, FORMAT, MANIFEST


@dataclass(frozen=True)
class Exported:
    name: str  # the snapshot
    file: Path
    bytes: int  # the file's size


@dataclass(frozen=True)
class Imported:
    name: str  # the snapshot
    sandbox: str  # the sandbox it went into
    created: bool  # the import made that sandbox from the file, and restored it to the snapshot
    manifest: dict  # the snapshot's manifest there


def default_file(name: str) -> Path:
    return Path(f"{name}.snapshot.tar.gz")


def export(sandbox: Sandbox, name: str, path: Path, progress: Progress | None = None) -> Exported:
    """Write snapshot `name` of `sandbox` to the new file `path` (0600)."""
    progress = progress or Progress(quiet=True)
    manifest = snapshots.read_manifest(sandbox, snapshots.check_name(name))
    if sandbox.config.hostname:
        # Its data names its domain, and other servers of its group hold copies of it: not a file of its own yet.
        raise SandboxError(f"sandbox {sandbox.name!r} has its own domain ({sandbox.config.hostname}): export is for "
                           "sandboxes on localhost; `snapshot save --group` keeps a group's state")
    path = Path(path).expanduser().resolve()
    if path.exists():
        raise SandboxError(f"{path} exists: choose another file, or remove it first")
    if not path.parent.is_dir():
        raise SandboxError(f"no folder {path.parent} to write {path.name} into")
    if not sandbox.stack.is_running():
        raise SandboxError(f"sandbox {sandbox.name!r} is not running: `mastodon-sandbox up` first")
    config = sandbox.state.load_config().to_json()
    header = {"format": FORMAT, "snapshot": manifest, "settings": {k: config[k] for k in DATA_SETTINGS}}
    folder = snapshots.snapshots_dir(sandbox) / name
    with sandbox.state.lock("snapshots"), tempfile.TemporaryDirectory(dir=sandbox.state.dir) as tmp:
        parts = Path(tmp)
        progress.step(f"dumping snapshot {name!r}: database")
        with open(parts / "database.pgdump", "wb") as f:
            snapshots.postgres(sandbox).dump(manifest["database"], f)
        progress.step("dumping Redis")
        resp = snapshots.redis(sandbox).dump(manifest["redis_db"])
        (parts / "redis.resp").write_bytes(resp)
        (parts / "files").mkdir()
        for volume in manifest["volumes"]:
            progress.step(f"archiving the {volume} files")
            with open(parts / "files" / f"{volume}.tar", "wb") as f:
                stores.export_volume(snapshots.helper_image(sandbox), sandbox.stack.volume_name(snapshots.snapshot_volume(name, volume)),
                                     f, sandbox.stack.labels)
        shutil.copyfile(sandbox.state.secrets_file, parts / State.SECRETS)
        (parts / "state").mkdir()
        for extra in State.KEPT_BY_SNAPSHOTS:
            if (folder / extra).exists():
                shutil.copyfile(folder / extra, parts / "state" / extra)
        write_file(path, header, parts, redis_keys=len(dumps.parse_restores(resp)))
    return Exported(name, path, path.stat().st_size)


def part_names(parts: Path) -> list[str]:
    """The parts in folder `parts`, in the order a file holds them (manifest.json comes before all)."""
    fixed = [n for n in (State.SECRETS, "database.pgdump", "redis.resp") if (parts / n).is_file()]
    return fixed + sorted(f"{sub}/{p.name}" for sub in ("files", "state") for p in (parts / sub).glob("*") if p.is_file())


def _describe(part: Path) -> dict:
    digest = hashlib.sha256()
    with open(part, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return {"bytes": part.stat().st_size, "sha256": digest.hexdigest()}


def write_file(path: Path, header: dict, parts: Path, redis_keys: int | None = None) -> None:
    """The snapshot file `path` (0600, all or nothing) from `header` and the parts in folder `parts`; the
    header gains each part's size and SHA-256, and the Redis part its key count."""
    names = part_names(parts)
    described = {n: _describe(parts / n) for n in names}
    if redis_keys is not None and "redis.resp" in described:
        described["redis.resp"]["keys"] = redis_keys
    header = {**header, "parts": described}
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar:
            _add_bytes(tar, MANIFEST, json.dumps(header, indent=2, sort_keys=True).encode())
            for name in names:
                info = tar.gettarinfo(parts / name, name)
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
                with open(parts / name, "rb") as f:
                    tar.addfile(info, f)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _add_bytes(tar: tarfile.TarFile, member: str, data: bytes) -> None:
    info = tarfile.TarInfo(member)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def import_(path: Path, name: str, source_dir: str | None = None, progress: Progress | None = None) -> Imported:
    """Bring the snapshot in file `path` into sandbox `name` (made from the file when it does not exist,
    and then restored to the snapshot). `source_dir` is this machine's Mastodon source folder, for a
    snapshot of the source server."""
    progress = progress or Progress(quiet=True)
    with tempfile.TemporaryDirectory(prefix="mastodon-sandbox-import-") as tmp:
        parts = verify.verify(Path(path), Path(tmp))  # every check that needs no container: nothing is made before
        snap = parts.snapshot
        state = State(name)
        if not state.exists():
            return _import_new(parts, name, state, source_dir, progress)
        sandbox = Sandbox.open(name)
        if snap["mastodon"] != sandbox.config.release.version:
            raise SandboxError(f"{parts.path} holds Mastodon {snap['mastodon']} data; sandbox {name!r} runs "
                               f"{sandbox.config.release.version}: import it with --name NEW, a new sandbox")
        if snap["secrets"] != snapshots.secrets_digest(sandbox):
            raise SandboxError(f"{parts.path} was made under other secrets than sandbox {name!r}'s: import it with --name NEW, "
                               "which makes a new sandbox with the file's secrets")
        if snapshots.manifest_path(sandbox, snap["name"]).exists():
            raise SandboxError(f"sandbox {name!r} has a snapshot {snap['name']!r}: delete it first to import this one")
        if not sandbox.stack.is_running():
            raise SandboxError(f"sandbox {name!r} is not running: `mastodon-sandbox up --name {name}` first")
        manifest = _load_parts(sandbox, parts, progress)
    return Imported(snap["name"], name, False, manifest)


def _import_new(parts: verify.Verified, name: str, state: State, source_dir: str | None, progress: Progress) -> Imported:
    """A new sandbox `name` made from the file — its secrets and data settings — and restored to its
    snapshot; removed again, whatever it had come to, when a step fails."""
    snap = parts.snapshot
    settings = dict(parts.header["settings"])
    settings["accounts"] = tuple(SandboxConfig.from_json({"name": name, "accounts": settings["accounts"]}).accounts)
    if settings["server"] == "source":
        settings["source_dir"] = source_dir or ""
    check_settings(SandboxConfig(name=name, **settings))  # every fault before anything is made
    pristine = _nothing_in_docker(name)
    progress.step(f"creating sandbox {name!r} from {parts.path.name}: Mastodon {snap['mastodon']} ({settings['server']} server), "
                  f"the snapshot's secrets and settings")
    from .up import up

    try:
        # the secrets as checked, written anew: nothing else a file's secrets.env held reaches an env file
        write_private(state.secrets_file, render_env_file(parts.secrets, header="mastodon-sandbox secrets: "
                                                                f"from the snapshot file {parts.path.name}, never rotated"))
        sandbox = up(name, settings, progress, provision=False)
        manifest = _load_parts(sandbox, parts, progress)
        progress.step(f"restoring snapshot {snap['name']!r}")
        snapshots.restore(sandbox, snap["name"])
    except BaseException:
        _remove_made(name, state, pristine)
        raise
    return Imported(snap["name"], name, True, manifest)


def _nothing_in_docker(name: str) -> bool:
    """Whether Docker holds nothing of a sandbox `name` (a failed import then removes all it finds of it;
    otherwise `up` refuses the leftovers, which are not the import's to remove)."""
    found = project_filter(SandboxConfig(name=name).project)
    client = docker_client()
    return not client.containers.list(all=True, filters=found) and not client.volumes.list(filters=found)


def _remove_made(name: str, state: State, pristine: bool) -> None:
    """What a failed import made of sandbox `name`: its containers, volumes and network, and its state
    folder. A failure to remove is left unsaid: the import's own error is the one to show."""
    if not pristine:
        state.remove()
        return
    from ..lifecycle import destroy

    try:
        destroy(name, Progress(quiet=True))
    except SandboxError:
        state.remove()


def _load_parts(sandbox: Sandbox, parts: verify.Verified, progress: Progress) -> dict:
    """The file's database, Redis keys and volumes become snapshot `snap['name']` of `sandbox`; what was
    loaded is removed again when a part fails."""
    snap = parts.snapshot
    name = snap["name"]
    with sandbox.state.lock("snapshots"):
        manifest = {**parts.manifest(), "redis_db": snapshots.free_redis_db(sandbox), "database": f"snap__{name.replace('-', '_')}",
                    "volumes": {}, "imported": True}
        try:
            progress.step("loading the database")
            with open(parts.part("database.pgdump"), "rb") as f:
                snapshots.postgres(sandbox).load(manifest["database"], f)
            progress.step("loading Redis")
            snapshots.redis(sandbox).load(manifest["redis_db"], dumps.encode_restores(parts.redis))
            for volume in snap["volumes"]:
                progress.step(f"loading the {volume} files")
                target = sandbox.stack.volume_name(snapshots.snapshot_volume(name, volume))
                manifest["volumes"][volume] = ""  # a volume made is removed again on failure (discard)
                with open(parts.part(f"files/{volume}.tar"), "rb") as f:
                    stores.import_volume(snapshots.helper_image(sandbox), target, f, sandbox.stack.labels)
                manifest["volumes"][volume] = stores.volume_listing(snapshots.helper_image(sandbox), target, sandbox.stack.labels,
                                                                    snapshots.object_files(sandbox, volume))
        except stores.Refused as e:
            snapshots.discard(sandbox, manifest)
            raise SandboxError(f"{parts.path}: {e}") from None
        except BaseException:
            snapshots.discard(sandbox, manifest)
            raise
        folder = snapshots.snapshots_dir(sandbox) / name
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for extra, data in parts.state_files.items():
            write_private(folder / extra, data)
        sandbox.state.write_json(folder / "manifest.json", manifest)
    return manifest
