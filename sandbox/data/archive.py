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
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

from ..config import SandboxConfig, check_settings
from ..environment import SECRETS_FILE
from ..errors import SandboxError
from ..handle import Sandbox
from ..progress import Progress
from ..state import State, write_private
from . import snapshots, stores

FORMAT = "mastodon-sandbox-snapshot/1"
# What the data depends on (the rest of a sandbox's settings is where it runs, e.g. the source folder).
DATA_SETTINGS = ("server", "version", "port", "s3", "email_domain", "registrations", "accounts", "pool_size")


def default_file(name: str) -> Path:
    return Path(f"{name}.snapshot.tar.gz")


def export(sandbox: Sandbox, name: str, path: Path, progress: Progress | None = None) -> dict:
    """Write snapshot `name` of `sandbox` to the new file `path` (0600)."""
    progress = progress or Progress(quiet=True)
    manifest = snapshots.read_manifest(sandbox, snapshots.check_name(name))
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
        (parts / "redis.resp").write_bytes(snapshots.redis(sandbox).dump(manifest["redis_db"]))
        (parts / "files").mkdir()
        for volume in manifest["volumes"]:
            progress.step(f"archiving the {volume} files")
            with open(parts / "files" / f"{volume}.tar", "wb") as f:
                stores.export_volume(snapshots.helper_image(sandbox), snapshots.snapshot_volume(sandbox, name, volume),
                                     f, snapshots.labels(sandbox))
        partial = path.with_name(f".{path.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar:
                _add_bytes(tar, "manifest.json", json.dumps(header, indent=2, sort_keys=True).encode())
                _add_bytes(tar, SECRETS_FILE, (sandbox.state.dir / SECRETS_FILE).read_bytes())
                tar.add(parts / "database.pgdump", "database.pgdump")
                tar.add(parts / "redis.resp", "redis.resp")
                for volume in manifest["volumes"]:
                    tar.add(parts / "files" / f"{volume}.tar", f"files/{volume}.tar")
                for extra in snapshots.EXTRAS:
                    if (folder / extra).exists():
                        tar.add(folder / extra, f"state/{extra}")
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return {"name": name, "file": str(path), "bytes": path.stat().st_size}


def _add_bytes(tar: tarfile.TarFile, member: str, data: bytes) -> None:
    info = tarfile.TarInfo(member)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


def _read_header(tar: tarfile.TarFile, path: Path) -> dict:
    try:
        header = json.loads(tar.extractfile("manifest.json").read())
    except (KeyError, ValueError, AttributeError):
        raise SandboxError(f"{path} is not a snapshot made by `mastodon-sandbox snapshot export` (no manifest.json)") from None
    if header.get("format") != FORMAT:
        raise SandboxError(f"{path} is a snapshot file of format {header.get('format')!r}; this version reads {FORMAT}")
    return header


def import_(path: Path, name: str, source_dir: str | None = None, progress: Progress | None = None) -> dict:
    """Bring the snapshot in file `path` into sandbox `name` (made from the file when it does not exist,
    and then restored to the snapshot). `source_dir` is this machine's Mastodon source folder, for a
    snapshot of the source server."""
    progress = progress or Progress(quiet=True)
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise SandboxError(f"no snapshot file {path}")
    try:
        tar = tarfile.open(path, mode="r:gz")
    except (tarfile.TarError, OSError) as e:
        raise SandboxError(f"{path} is not a snapshot file ({e})") from None
    with tar:
        header = _read_header(tar, path)
        snap = header["snapshot"]
        snapshots.check_name(snap["name"])
        members = set(tar.getnames())
        missing = [m for m in (SECRETS_FILE, "database.pgdump", "redis.resp", *(f"files/{v}.tar" for v in snap["volumes"]))
                   if m not in members]
        if missing:
            raise SandboxError(f"{path} is incomplete: {', '.join(missing)} missing")
        secrets_text = tar.extractfile(SECRETS_FILE).read().decode()
        if snapshots.secrets_digest_of(secrets_text) != snap["secrets"]:
            raise SandboxError(f"{path} is damaged: its secrets are not those its snapshot was taken under")

        state = State(name)
        created = not state.exists()
        if created:
            settings = dict(header["settings"])
            settings["accounts"] = tuple(SandboxConfig.from_json({"name": name, "accounts": settings["accounts"]}).accounts)
            if settings["server"] == "source":
                settings["source_dir"] = source_dir or ""
            check_settings(SandboxConfig(name=name, **settings))  # every fault before anything is made
            progress.step(f"creating sandbox {name!r} from {path.name}: Mastodon {snap['mastodon']} ({settings['server']} server), "
                          f"the snapshot's secrets and settings")
            write_private(state.dir / SECRETS_FILE, secrets_text)
            from ..lifecycle import up

            try:
                sandbox = up(name, settings, progress, provision=False)
            except BaseException:
                if not state.exists():
                    state.remove()  # nothing was made: leave no secrets behind
                raise
        else:
            sandbox = Sandbox.open(name)
            if snap["mastodon"] != sandbox.config.release.version:
                raise SandboxError(f"{path} holds Mastodon {snap['mastodon']} data; sandbox {name!r} runs "
                                   f"{sandbox.config.release.version}: import it with --name NEW, a new sandbox")
            if snap["secrets"] != snapshots.secrets_digest(sandbox):
                raise SandboxError(f"{path} was made under other secrets than sandbox {name!r}'s: import it with --name NEW, "
                                   "which makes a new sandbox with the file's secrets")
            if snapshots.manifest_path(sandbox, snap["name"]).exists():
                raise SandboxError(f"sandbox {name!r} has a snapshot {snap['name']!r}: delete it first to import this one")
            if not sandbox.stack.is_running():
                raise SandboxError(f"sandbox {name!r} is not running: `mastodon-sandbox up --name {name}` first")
        manifest = _load_parts(sandbox, tar, snap, progress)
    if created:
        progress.step(f"restoring snapshot {snap['name']!r}")
        snapshots.restore(sandbox, snap["name"])
    return {"name": snap["name"], "sandbox": name, "created": created, "manifest": manifest}


def _load_parts(sandbox: Sandbox, tar: tarfile.TarFile, snap: dict, progress: Progress) -> dict:
    """The file's database, Redis keys and volumes become snapshot `snap['name']` of `sandbox`; what was
    loaded is removed again when a part fails."""
    name = snap["name"]
    with sandbox.state.lock("snapshots"):
        manifest = {**snap, "redis_db": snapshots.free_redis_db(sandbox), "database": f"snap__{name.replace('-', '_')}", "volumes": {},
                    "imported": True}
        manifest.pop("volumes_after_restore", None)
        try:
            progress.step("loading the database")
            snapshots.postgres(sandbox).load(manifest["database"], tar.extractfile("database.pgdump"))
            progress.step("loading Redis")
            snapshots.redis(sandbox).load(manifest["redis_db"], tar.extractfile("redis.resp").read())
            for volume in snap["volumes"]:
                progress.step(f"loading the {volume} files")
                target = snapshots.snapshot_volume(sandbox, name, volume)
                with tempfile.TemporaryFile() as f:
                    f.write(tar.extractfile(f"files/{volume}.tar").read())
                    stores.import_volume(snapshots.helper_image(sandbox), target, f, snapshots.labels(sandbox))
                manifest["volumes"][volume] = stores.volume_listing(snapshots.helper_image(sandbox), target, snapshots.labels(sandbox),
                                                                    snapshots.object_files(sandbox, volume))
        except BaseException:
            snapshots.discard(sandbox, manifest)
            raise
        folder = snapshots.snapshots_dir(sandbox) / name
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for extra in snapshots.EXTRAS:
            if f"state/{extra}" in tar.getnames():
                write_private(folder / extra, tar.extractfile(f"state/{extra}").read())
        sandbox.state.write_json(folder / "manifest.json", manifest)
    return manifest
