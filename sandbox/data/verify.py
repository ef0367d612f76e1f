"""A snapshot file (sandbox/data/archive.py) checked whole, in Python, before `snapshot import` makes or
changes anything: one pass over the gzip'd tar that checks every member as it comes, reads the small parts
into memory and the large ones (the database dump, the volumes' archives) into a private folder, then
reads the gzip stream to its end (its CRC and length: a truncated file fails there at the latest).

What the import then loads is what was checked here: the secrets as parsed, the Redis keys written anew
from the parsed RESTOREs, the dumps from that folder. The database dump's table of contents needs
PostgreSQL's own tools and is checked in the sandbox's db container just before it is loaded
(stores.Postgres.load). Each fault is one line (SandboxError) naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import posixpath
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .. import dumps
from ..environment import OPTIONAL_SECRETS, SECRET_SHAPES
from ..errors import SandboxError
from ..state import State
from . import snapshots

FORMAT = "mastodon-sandbox-snapshot/1"
MANIFEST = "manifest.json"
# What the data depends on (the rest of a sandbox's settings is where it runs, e.g. the source folder).
DATA_SETTINGS = ("server", "version", "port", "s3", "email_domain", "registrations", "accounts", "pool_size")
SMALL_LIMIT = {MANIFEST: 1 << 20, State.SECRETS: 1 << 16}  # far above any export's; state files: STATE_LIMIT
STATE_LIMIT = 64 << 20
ON_DISK = ("database.pgdump", "files/")  # the parts that may be large


# The snapshot manifest's fields the import uses, by type; others an export may carry are left out of the
# imported snapshot's manifest (a newer export's extra fields: nothing here reads them).
SNAPSHOT_FIELDS = {"name": str, "mastodon": str, "server": str, "secrets": str, "volumes": dict, "created": str,
                   "seconds": (int, float), "redis_db": int, "database": str, "imported": bool, "volumes_after_restore": dict}
REQUIRED_SNAPSHOT_FIELDS = ("name", "mastodon", "server", "secrets", "volumes")
KEPT_FIELDS = ("name", "created", "mastodon", "server", "secrets", "seconds")


@dataclass
class Verified:
    """A snapshot file's parts, every one checked."""

    path: Path
    header: dict  # format, snapshot (its manifest), settings, parts (files since `parts` was added)
    secrets: dict[str, str]
    redis: list[dumps.Restore]
    folder: Path  # database.pgdump and files/VOLUME.tar, as the file holds them
    state_files: dict[str, bytes] = field(default_factory=dict)  # credentials.json, seed.json, leases.json

    @property
    def snapshot(self) -> dict:
        return self.header["snapshot"]

    def manifest(self) -> dict:
        """The fields of the file's snapshot manifest an imported snapshot keeps."""
        return {k: self.snapshot[k] for k in KEPT_FIELDS if k in self.snapshot}

    def part(self, name: str) -> Path:
        return self.folder / name


def _refused(path: Path, why: str) -> SandboxError:
    return SandboxError(f"{path} is refused: {why}")


def _damaged(path: Path, error: BaseException) -> SandboxError:
    detail = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
    return SandboxError(f"{path} is truncated or damaged ({detail}): export it again")


def verify(path: Path, folder: Path) -> Verified:
    """Every check of the file at `path` that needs no container; its large parts land in `folder` (a
    private, empty folder the caller removes)."""
    path = Path(path).expanduser().resolve()
    _check_whole_file(path)
    small: dict[str, bytes] = {}
    digests: dict[str, dict] = {}
    header: dict | None = None
    try:
        with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                for member in tar:
                    _check_member(path, member, digests)
                    if header is None:
                        if member.name != MANIFEST:  # an export writes it first
                            raise SandboxError(f"{path} is not a snapshot made by `mastodon-sandbox snapshot export` "
                                               f"(no manifest.json)")
                        header = _check_header(path, json_of(path, MANIFEST, _read_small(path, tar, member)))
                        continue
                    if member.name not in _expected(header):
                        raise _refused(path, f"member {member.name!r} is not a part of a snapshot export")
                    digests[member.name] = _take(path, tar, member, folder, small)
            while gz.read(1 << 20):  # the rest of the stream, to its CRC and length
                pass
    except (EOFError, zlib.error, tarfile.TarError, OSError) as e:
        if isinstance(e, OSError) and e.errno is not None:  # the disk, not the file: e.g. no space to unpack
            raise SandboxError(f"could not read and unpack {path}: {e.strerror} ({e.filename or path})") from None
        if isinstance(e, (gzip.BadGzipFile, tarfile.ReadError)) and header is None and not digests:
            raise SandboxError(f"{path} is not a snapshot file ({str(e).splitlines()[0][:120] if str(e) else 'empty'})") from None
        raise _damaged(path, e) from None
    if header is None:
        raise SandboxError(f"{path} is not a snapshot made by `mastodon-sandbox snapshot export` (no manifest.json)")
    _check_complete(path, header, digests)
    _check_digests(path, header, digests)
    secrets_ = _check_secrets(path, small[State.SECRETS], header["snapshot"]["secrets"])
    redis = _check_redis(path, small["redis.resp"], header)
    _check_database(path, folder / "database.pgdump")
    for volume in header["snapshot"]["volumes"]:
        _check_volume_archive(path, folder / f"files/{volume}.tar", f"files/{volume}.tar")
    state_files = {name.split("/", 1)[1]: data for name, data in small.items() if name.startswith("state/")}
    for name, data in state_files.items():
        json_of(path, f"state/{name}", data)
    return Verified(path, header, secrets_, redis, folder, state_files)


def _check_whole_file(path: Path) -> None:
    if not path.is_file():
        raise SandboxError(f"no snapshot file {path}")
    if path.name.startswith(".") and path.name.endswith(".partial"):
        raise SandboxError(f"{path} is an export that did not finish (its .partial file): export it again")


def _check_member(path: Path, member: tarfile.TarInfo, seen: dict) -> None:
    """A member's name and kind: a relative path inside the archive, a regular file, once."""
    name = member.name
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise _refused(path, f"member {name!r} has an absolute path")
    if ".." in name.split("/") or "\\" in name:
        raise _refused(path, f"member {name!r} points outside the archive")
    if not member.isreg():
        kind = "a link" if member.issym() or member.islnk() else "a device" if member.isdev() else \
            "a folder" if member.isdir() else "not a regular file"
        raise _refused(path, f"member {name!r} is {kind}; a snapshot export holds only files")
    if name in seen:
        raise _refused(path, f"member {name!r} is in it twice")


def _expected(header: dict) -> set[str]:
    """The members an export of this snapshot writes (manifest.json aside)."""
    return {State.SECRETS, "database.pgdump", "redis.resp", *(f"files/{v}.tar" for v in header["snapshot"]["volumes"]),
            *(f"state/{x}" for x in State.KEPT_BY_SNAPSHOTS)}


def _read_small(path: Path, tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    limit = SMALL_LIMIT.get(member.name, STATE_LIMIT)
    if member.size > limit:
        raise _refused(path, f"member {member.name} is {member.size} bytes; an export's is at most {limit}")
    return tar.extractfile(member).read()


def _take(path: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, folder: Path, small: dict) -> dict:
    """A part's bytes into `folder` (large parts) or `small`; returns its size and SHA-256."""
    src, digest, size = tar.extractfile(member), hashlib.sha256(), 0
    if member.name.startswith(ON_DISK):
        target = folder / member.name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(target, "wb") as out:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    elif member.name == "redis.resp":
        data = src.read()
        small[member.name], size = data, len(data)
        digest.update(data)
    else:
        data = _read_small(path, tar, member)
        small[member.name], size = data, len(data)
        digest.update(data)
    if size != member.size:
        raise EOFError(f"{member.name} ends early")
    return {"bytes": size, "sha256": digest.hexdigest()}


def json_of(path: Path, name: str, data: bytes):
    try:
        return json.loads(data)
    except ValueError as e:
        raise _refused(path, f"its {name} is not JSON ({e})") from None


def _check_header(path: Path, header) -> dict:
    """manifest.json: this format, a snapshot manifest and settings of the fields and types an export writes."""
    if not isinstance(header, dict):
        raise _refused(path, "its manifest.json is not an object")
    if header.get("format") != FORMAT:
        raise SandboxError(f"{path} is a snapshot file of format {header.get('format')!r}; this version reads {FORMAT}")
    snap, settings, parts = header.get("snapshot"), header.get("settings"), header.get("parts", {})
    if not isinstance(snap, dict) or not isinstance(settings, dict) or not isinstance(parts, dict):
        raise _refused(path, "its manifest.json lacks the snapshot's manifest or settings")
    for key in REQUIRED_SNAPSHOT_FIELDS:
        if key not in snap:
            raise _refused(path, f"its snapshot manifest has no {key}")
    for key, kind in SNAPSHOT_FIELDS.items():
        if key in snap and (not isinstance(snap[key], kind) or isinstance(snap[key], bool) and kind is not bool):
            raise _refused(path, f"its snapshot manifest's {key} is not of type {getattr(kind, '__name__', 'number')}")
    try:
        snapshots.check_name(snap["name"])
    except SandboxError as e:
        raise _refused(path, str(e)) from None
    if not re.fullmatch(r"\d+\.\d+\.\d+[0-9A-Za-z.-]*", snap["mastodon"]) or not re.fullmatch(r"[0-9a-f]{16}", snap["secrets"]):
        raise _refused(path, "its snapshot manifest's version or secrets digest is malformed")
    strange = [v for v in snap["volumes"] if v not in snapshots.FILE_VOLUMES or not isinstance(snap["volumes"][v], str)]
    if strange:
        raise _refused(path, f"its snapshot manifest names a volume {strange[0]!r}; a sandbox has {', '.join(snapshots.FILE_VOLUMES)}")
    _check_settings(path, settings)
    for name, part in parts.items():
        if not (isinstance(part, dict) and isinstance(part.get("bytes"), int)
                and isinstance(part.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", part["sha256"])):
            raise _refused(path, f"its manifest.json describes the part {name!r} malformed")
    return header


SETTING_TYPES = {"server": str, "version": str, "port": int, "s3": str, "email_domain": str, "registrations": str,
                 "accounts": list, "pool_size": int}


def _check_settings(path: Path, settings: dict) -> None:
    """The sandbox settings a new sandbox is made with: exactly these keys, of these types (their values are
    checked as `up` checks a user's: config.check_settings, by the import)."""
    if set(settings) != set(DATA_SETTINGS):
        odd = sorted(set(settings) ^ set(DATA_SETTINGS))
        raise _refused(path, f"its settings are not those an export writes ({', '.join(odd)})")
    for key, kind in SETTING_TYPES.items():
        if not isinstance(settings[key], kind) or isinstance(settings[key], bool):
            raise _refused(path, f"its setting {key} is not of type {kind.__name__}")
    for acct in settings["accounts"]:
        if not (isinstance(acct, dict) and set(acct) <= {"username", "role"} and isinstance(acct.get("username"), str)
                and (acct.get("role") is None or isinstance(acct["role"], str))):
            raise _refused(path, "its accounts setting is malformed")


def _check_complete(path: Path, header: dict, digests: dict) -> None:
    required = [State.SECRETS, "database.pgdump", "redis.resp", *(f"files/{v}.tar" for v in header["snapshot"]["volumes"])]
    missing = [m for m in required if m not in digests]
    if missing:
        raise SandboxError(f"{path} is incomplete: {', '.join(missing)} missing")


def _check_digests(path: Path, header: dict, digests: dict) -> None:
    """Each part is the one the export wrote (files from before `parts` was added carry none: they are
    checked as every file is, part by part, and no more)."""
    parts = header.get("parts")
    if not parts:
        return
    if set(parts) != set(digests):
        odd = sorted(set(parts) ^ set(digests))
        raise SandboxError(f"{path} is damaged: its parts are not those its manifest lists ({', '.join(odd)})")
    for name, want in parts.items():
        if (want["bytes"], want["sha256"]) != (digests[name]["bytes"], digests[name]["sha256"]):
            raise SandboxError(f"{path} is damaged: its {name} is not the one the export wrote: export it again")


def _check_secrets(path: Path, raw: bytes, digest: str) -> dict[str, str]:
    """secrets.env: comments and `KEY=value` lines, every key one a sandbox has (once), every value of the
    shape the sandbox makes it, none missing, and the secrets the snapshot was taken under."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise _refused(path, "its secrets.env is not plain ASCII") from None
    if re.search(r"[\x00-\x09\x0b-\x1f\x7f]", text):  # a \r or another control character: a line trick
        raise _refused(path, "its secrets.env holds control characters")
    found: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        if not eq or key not in SECRET_SHAPES:
            raise _refused(path, f"its secrets.env line {number} is not a sandbox secret ({key[:40]!r})")
        if key in found:
            raise _refused(path, f"its secrets.env sets {key} twice")
        if not re.fullmatch(SECRET_SHAPES[key], value):
            raise _refused(path, f"its secrets.env's {key} is not of the shape a sandbox makes it")
        found[key] = value
    missing = [k for k in SECRET_SHAPES if k not in found and k not in OPTIONAL_SECRETS]
    if missing:
        raise _refused(path, f"its secrets.env lacks {', '.join(missing)}")
    if snapshots.secrets_digest_of(text) != digest:
        raise SandboxError(f"{path} is damaged: its secrets are not those its snapshot was taken under")
    return found


def _check_redis(path: Path, data: bytes, header: dict) -> list[dumps.Restore]:
    try:
        entries = dumps.parse_restores(data)
    except dumps.DumpRefused as e:
        raise _refused(path, f"its redis.resp {e}") from None
    keys = header.get("parts", {}).get("redis.resp", {}).get("keys")
    if keys is not None and keys != len(entries):
        raise SandboxError(f"{path} is damaged: its redis.resp holds {len(entries)} keys; the export wrote {keys}")
    return entries


def _check_database(path: Path, dump: Path) -> None:
    """pg_dump's custom format (its table of contents is checked where PostgreSQL's tools are: Postgres.load)."""
    with open(dump, "rb") as f:
        if f.read(5) != b"PGDMP":
            raise _refused(path, "its database.pgdump is not in pg_dump's custom format")


def _check_volume_archive(path: Path, archive: Path, name: str) -> None:
    """A volume's archive (Docker's, of the volume's folder): members inside it — no absolute path, no `..`,
    no device or FIFO, links only to places inside it."""
    try:
        with tarfile.open(archive, mode="r:") as tar:
            for m in tar:
                inner = posixpath.normpath(m.name)
                if m.name.startswith("/") or inner == ".." or inner.startswith("../"):
                    raise _refused(path, f"its {name} holds {m.name[:80]!r}, outside the volume")
                if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
                    raise _refused(path, f"its {name} holds {m.name[:80]!r}, a device or FIFO")
                if m.issym() or m.islnk():
                    base = posixpath.dirname(inner) if m.issym() else ""
                    target = posixpath.normpath(posixpath.join(base, m.linkname))
                    if m.linkname.startswith("/") or target == ".." or target.startswith("../"):
                        raise _refused(path, f"its {name} holds a link {m.name[:80]!r} to {m.linkname[:80]!r}, outside the volume")
    except tarfile.TarError as e:
        raise _refused(path, f"its {name} is not a volume's archive ({e})") from None
