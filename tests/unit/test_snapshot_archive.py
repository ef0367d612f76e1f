"""`snapshot import` refuses a file that is not a whole, unaltered snapshot export in one line, before it makes
anything (no state folder, no containers): sandbox/data/archive.py and sandbox/data/verify.py. The files
are written by the module's own writer (archive.write_file) from small parts, then altered."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tempfile

import pytest

from mastodon_sandbox import dumps
from mastodon_sandbox.config import SandboxConfig
from mastodon_sandbox.data import archive, snapshots, verify
from mastodon_sandbox.environment import generate_secrets
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.state import render_env_file

SECRETS = render_env_file(generate_secrets(SandboxConfig(name="x", server="standin", version="4.6.5")), header="secrets")
SETTINGS = {"server": "standin", "version": "4.6.5", "port": 8443, "s3": "seaweedfs", "email_domain": "example.test",
            "registrations": "none", "accounts": [], "pool_size": 0}
REDIS = dumps.encode_restores([dumps.Restore(b"feed:home:1", 0, b"\x00\x03abc\x0b\x00payload"),
                               dumps.Restore(b"cache:x", 60000, b"\x00\x01v\x0b\x00checksum")])


def _tar(members: dict[str, bytes] | None = None, extra: list[tarfile.TarInfo] = ()) -> bytes:
    """A volume's archive as Docker writes it (names under ./)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(_info(".", tarfile.DIRTYPE))
        for name, data in (members or {"./media/a.png": b"png" * 100}).items():
            tar.addfile(_info(name, size=len(data)), io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buf.getvalue()


def _info(name: str, kind=tarfile.REGTYPE, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, link
    return info


def _header(secrets: str = SECRETS, **settings) -> dict:
    snapshot = {"name": "demo", "mastodon": "4.6.5", "server": "standin", "secrets": snapshots.secrets_digest_of(secrets),
                "volumes": {"s3": "x"}, "database": "snap__demo", "redis_db": 1, "created": "2026-01-01T00:00:00Z", "seconds": 1.5}
    return {"format": archive.FORMAT, "snapshot": snapshot, "settings": {**SETTINGS, **settings}}


def _export(path, header: dict | None = None, drop: tuple[str, ...] = (), secrets: str = SECRETS, redis: bytes = REDIS,
            volume: bytes | None = None, database: bytes | None = None, keys: int | None = None):
    """A snapshot file written by archive.write_file from parts made here."""
    parts = path.parent / f"parts-{path.name}"
    (parts / "files").mkdir(parents=True)
    (parts / "state").mkdir()
    files = {"secrets.env": secrets.encode(), "redis.resp": redis, "files/s3.tar": _tar() if volume is None else volume,
             # incompressible: the file is some 40 KB, so a cut at any per cent lands in a part
             "database.pgdump": b"PGDMP" + os.urandom(40_000) if database is None else database,
             "state/credentials.json": json.dumps({"accounts": {"alice": {"token": "t"}}}).encode()}
    for name, data in files.items():
        if name not in drop:
            (parts / name).write_bytes(data)
    header = header or _header(secrets)
    archive.write_file(path, header, parts, redis_keys=keys if keys is not None else 2 if redis == REDIS else None)
    if "manifest.json" in drop:
        _rewrite(path, lambda members: [(i, d) for i, d in members if i.name != "manifest.json"])
    return path


def _members(path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(path, "r:gz") as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar]


def _rewrite(path, change) -> None:
    """The file's members passed through `change` (a list of (TarInfo, bytes) in, one out), gzip'd again."""
    members = change(_members(path))
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _with_member(path, info: tarfile.TarInfo, data: bytes | None = None, first: bool = False):
    _rewrite(path, lambda members: [(info, data), *members] if first else [*members, (info, data)])
    return path


@pytest.fixture(autouse=True)
def state_root(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where verify unpacks the large parts
    (tmp_path / "tmp").mkdir()
    return tmp_path / "state"


def _refused(path, message: str, state_root) -> SandboxError:
    """The import of `path` fails in one line matching `message`, and leaves nothing behind."""
    with pytest.raises(SandboxError) as e:
        archive.import_(path, "imported")
    text = str(e.value)
    assert message in text, text
    assert "\n" not in text and "\r" not in text
    assert not (state_root / "imported").exists() and not state_root.exists()
    assert not os.listdir(tempfile.gettempdir())  # the unpacked parts are gone too
    return e.value


# --- the refusals the import has always made -------------------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda p: p, "no snapshot file"),
    (lambda p: (p.write_text("hello"), p)[1], "is not a snapshot file"),
    (lambda p: _export(p, drop=("manifest.json",)), "not a snapshot made by `mastodon-sandbox snapshot export`"),
    (lambda p: _export(p, header={"format": "mastodon-sandbox-snapshot/99"}), "this version reads mastodon-sandbox-snapshot/1"),
    (lambda p: _export(p, drop=("database.pgdump", "files/s3.tar")), "is incomplete: database.pgdump, files/s3.tar missing"),
])
def test_a_bad_file_is_one_line_and_makes_nothing(tmp_path, state_root, make, message):
    _refused(make(tmp_path / "demo.snapshot.tar.gz"), message, state_root)


def test_secrets_other_than_the_snapshot_was_taken_under_are_refused(tmp_path, state_root):
    other = render_env_file(generate_secrets(SandboxConfig(name="x", server="standin", version="4.6.5")))
    _refused(_export(tmp_path / "f.tar.gz", header=_header(SECRETS), secrets=other), "is damaged: its secrets are not those", state_root)


def test_a_bad_setting_in_the_file_is_refused_before_anything_is_made(tmp_path, state_root):
    _refused(_export(tmp_path / "bad.snapshot.tar.gz", header=_header(email_domain="not a domain")), "bad e-mail domain", state_root)


def test_the_default_file_is_named_after_the_snapshot():
    assert str(archive.default_file("demo")) == "demo.snapshot.tar.gz"


# --- a whole file ----------------------------------------------------------------------------------------

def test_a_whole_file_verifies_and_its_parts_are_what_was_written(tmp_path):
    path = _export(tmp_path / "demo.snapshot.tar.gz")
    header = json.loads(tarfile.open(path).extractfile("manifest.json").read())
    assert header["parts"]["redis.resp"]["keys"] == 2 and set(header["parts"]) == {
        "secrets.env", "database.pgdump", "redis.resp", "files/s3.tar", "state/credentials.json"}
    assert [m.name for m, _ in _members(path)][0] == "manifest.json"
    parts = verify.verify(path, tmp_path / "unpacked")
    assert [e.key for e in parts.redis] == [b"feed:home:1", b"cache:x"] and parts.redis[1].ttl == 60000
    assert parts.secrets == dict(line.split("=", 1) for line in SECRETS.splitlines() if "=" in line)
    assert parts.part("database.pgdump").read_bytes()[:5] == b"PGDMP" and parts.part("files/s3.tar").is_file()
    assert set(parts.state_files) == {"credentials.json"}
    assert parts.manifest() == {k: header["snapshot"][k] for k in ("name", "created", "mastodon", "server", "secrets", "seconds")}


@pytest.mark.parametrize("version", ["4.6.5", "4.3.24"])
def test_the_secrets_a_sandbox_makes_always_pass(tmp_path, version):
    # verify's shapes follow sandbox/environment.py: a fresh sandbox's secrets (with OTP_SECRET on 4.3) pass
    for i in range(20):
        text = render_env_file(generate_secrets(SandboxConfig(name="x", server="standin", version=version)), header="s")
        assert verify._check_secrets(tmp_path, text.encode(), snapshots.secrets_digest_of(text))


def test_a_file_from_before_the_parts_were_listed_still_imports_as_far_as_the_checks_go(tmp_path):
    path = _export(tmp_path / "old.snapshot.tar.gz")

    def old(members):
        out = []
        for info, data in members:
            if info.name == "manifest.json":
                header = json.loads(data)
                del header["parts"]
                data = json.dumps(header).encode()
                info.size = len(data)
            out.append((info, data))
        return out

    _rewrite(path, old)
    assert len(verify.verify(path, tmp_path / "unpacked").redis) == 2


# --- the Redis part ---------------------------------------------------------------------------------------

def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


@pytest.mark.parametrize("resp, message", [
    (REDIS + _command(b"FLUSHALL"), "its redis.resp holds a 'FLUSHALL' command"),
    (_command(b"CONFIG", b"SET", b"dir", b"/etc") + REDIS, "its redis.resp holds a 'CONFIG' command (byte 0)"),
    (REDIS + _command(b"SET", b"k", b"v"), "holds a 'SET' command"),
    (REDIS + _command(b"SELECT", b"0") + REDIS, "holds a 'SELECT' command"),
    (_command(b"RESTORE", b"k", b"0", b"payload"), "holds a RESTORE of another form"),
    (_command(b"RESTORE", b"k", b"-5", b"payload", b"REPLACE"), "with a bad time to live '-5'"),
    (REDIS + REDIS, "restores key 'feed:home:1' twice"),
    (b"FLUSHALL\r\n", "is not in Redis' protocol at byte 0"),
    (REDIS + b"*5\r\n$7\r\nRESTORE\r\n$99\r\nshort\r\n", "ends in the middle of a command"),
    (REDIS + b"*1\r\n$3\r\nFLUSHALL\r\n", "a bulk string's length is wrong"),
    (b"*1\r\n:5\r\n", "is not in Redis' protocol at byte 4"),
])
def test_a_redis_part_with_anything_but_restores_is_refused(tmp_path, state_root, resp, message):
    _refused(_export(tmp_path / "r.tar.gz", redis=resp), message, state_root)


def test_a_redis_part_of_other_keys_than_the_export_wrote_is_refused(tmp_path, state_root):
    _refused(_export(tmp_path / "r.tar.gz", redis=REDIS, keys=5), "its redis.resp holds 2 keys; the export wrote 5", state_root)


def test_a_part_altered_after_the_export_is_refused(tmp_path, state_root):
    path = _export(tmp_path / "r.tar.gz")
    extra = REDIS + _command(b"RESTORE", b"planted", b"0", b"x", b"REPLACE")

    def plant(members):
        return [(_resized(i, extra), extra) if i.name == "redis.resp" else (i, d) for i, d in members]

    _rewrite(path, plant)
    _refused(path, "is damaged: its redis.resp is not the one the export wrote", state_root)


def _resized(info: tarfile.TarInfo, data: bytes) -> tarfile.TarInfo:
    info.size = len(data)
    return info


def test_restores_are_parsed_whole_and_written_anew():
    entries = dumps.parse_restores(REDIS)
    assert dumps.encode_restores(entries) == REDIS
    assert dumps.keys_digest(entries) == dumps.keys_digest(reversed(entries))
    assert dumps.parse_restores(b"") == []


# --- the tar's members ------------------------------------------------------------------------------------

@pytest.mark.parametrize("info, message", [
    (_info("../x", size=3), "member '../x' points outside the archive"),
    (_info("state/../../x", size=3), "points outside the archive"),
    (_info("/etc/x", size=3), "member '/etc/x' has an absolute path"),
    (_info("state/seed.json", tarfile.SYMTYPE, link="/etc/passwd"), "member 'state/seed.json' is a link"),
    (_info("state/seed.json", tarfile.LNKTYPE, link="secrets.env"), "is a link"),
    (_info("dev", tarfile.CHRTYPE), "member 'dev' is a device"),
    (_info("files", tarfile.DIRTYPE), "member 'files' is a folder"),
    (_info("run.sh", size=3), "member 'run.sh' is not a part of a snapshot export"),
    (_info("files/other.tar", size=3), "member 'files/other.tar' is not a part"),
    (_info("redis.resp", size=3), "member 'redis.resp' is in it twice"),
])
def test_a_member_out_of_place_is_refused(tmp_path, state_root, info, message):
    path = _with_member(_export(tmp_path / "m.tar.gz"), info, b"abc" if info.isreg() else None)
    _refused(path, message, state_root)


def test_a_member_out_of_place_is_refused_before_the_manifest_too(tmp_path, state_root):
    path = _with_member(_export(tmp_path / "m.tar.gz"), _info("../x", size=3), b"abc", first=True)
    _refused(path, "member '../x' points outside the archive", state_root)


@pytest.mark.parametrize("extra, message", [
    (_info("./../../etc/cron.d/x", size=0), "outside the volume"),
    (_info("/etc/x", size=0), "outside the volume"),
    (_info("./a/l", tarfile.SYMTYPE, link="/etc/shadow"), "a link './a/l' to '/etc/shadow', outside the volume"),
    (_info("./a/l", tarfile.SYMTYPE, link="../../x"), "outside the volume"),
    (_info("./a/h", tarfile.LNKTYPE, link="../etc/passwd"), "outside the volume"),
    (_info("./dev", tarfile.BLKTYPE), "a device or FIFO"),
    (_info("./fifo", tarfile.FIFOTYPE), "a device or FIFO"),
])
def test_a_volume_archive_reaching_outside_its_volume_is_refused(tmp_path, state_root, extra, message):
    _refused(_export(tmp_path / "v.tar.gz", volume=_tar(extra=[extra])), message, state_root)


def test_a_volume_archive_with_links_inside_it_passes(tmp_path):
    volume = _tar(extra=[_info("./media/b.png", tarfile.SYMTYPE, link="a.png"), _info("./media/c.png", tarfile.LNKTYPE, link="./media/a.png"),
                         _info("./media/d", tarfile.SYMTYPE, link="../media/a.png")])
    verify.verify(_export(tmp_path / "v.tar.gz", volume=volume), tmp_path / "unpacked")


def test_a_database_part_not_made_by_pg_dump_is_refused(tmp_path, state_root):
    _refused(_export(tmp_path / "d.tar.gz", database=b"DROP ROLE postgres;"), "its database.pgdump is not in pg_dump's custom format",
             state_root)


# --- cut short --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("percent", [5, 50, 99])
def test_a_truncated_file_is_one_line(tmp_path, state_root, percent):
    whole = _export(tmp_path / "whole.tar.gz").read_bytes()
    cut = tmp_path / "cut.snapshot.tar.gz"
    cut.write_bytes(whole[:len(whole) * percent // 100])
    _refused(cut, "is truncated or damaged (", state_root)
    assert str(cut) in str(_refused(cut, "export it again", state_root))


def test_a_file_cut_anywhere_is_one_line(tmp_path, state_root):
    whole = _export(tmp_path / "whole.tar.gz").read_bytes()
    cut = tmp_path / "cut.snapshot.tar.gz"
    for size in sorted({len(whole) * p // 100 for p in range(1, 100)} | {len(whole) - n for n in (1, 4, 8, 9, 20)} | {20, 100}):
        cut.write_bytes(whole[:size])
        with pytest.raises(SandboxError) as e:
            verify.verify(cut, tmp_path / f"u{size}")
        assert "\n" not in str(e.value)
        assert "is truncated or damaged" in str(e.value) or "is not a snapshot file" in str(e.value), (size, str(e.value))


def test_a_damaged_byte_is_one_line(tmp_path, state_root):
    whole = bytearray(_export(tmp_path / "whole.tar.gz").read_bytes())
    whole[len(whole) // 2] ^= 0xFF
    bad = tmp_path / "bad.snapshot.tar.gz"
    bad.write_bytes(bytes(whole))
    _refused(bad, "is truncated or damaged (", state_root)


def test_a_half_written_export_is_one_line(tmp_path, state_root):
    whole = _export(tmp_path / "whole.tar.gz").read_bytes()
    partial = tmp_path / ".demo.snapshot.tar.gz.partial"  # what an export that was killed leaves
    partial.write_bytes(whole[:len(whole) // 2])
    _refused(partial, "is an export that did not finish", state_root)
    # a gzip stream closed early (a writer that stopped between members): the parts it lacks are named
    half = tmp_path / "half.snapshot.tar.gz"
    members = _members(tmp_path / "whole.tar.gz")[:3]
    with gzip.open(half, "wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data))
    _refused(half, "is incomplete: redis.resp, files/s3.tar missing", state_root)


# --- the secrets ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda s: s + "DB_HOST=evil\n", f"line {SECRETS.count(chr(10)) + 1} is not a sandbox secret ('DB_HOST')"),
    (lambda s: s.replace("\nS3_SECRET_KEY=", "\nDB_HOST=evil\nS3_SECRET_KEY="), "is not a sandbox secret ('DB_HOST')"),
    (lambda s: s.replace("\nS3_SECRET_KEY=", "\rDB_HOST=evil\nS3_SECRET_KEY="), "its secrets.env holds control characters"),
    (lambda s: s + "SECRET_KEY_BASE=" + "a" * 128 + "\n", "sets SECRET_KEY_BASE twice"),
    (lambda s: s.replace("VAPID_PUBLIC_KEY=", "VAPID_PUBLIC_KEY=x"), "its secrets.env's VAPID_PUBLIC_KEY is not of the shape"),
    (lambda s: s.replace("S3_ACCESS_KEY=sandbox-", "S3_ACCESS_KEY=evil-"), "S3_ACCESS_KEY is not of the shape"),
    (lambda s: "\n".join(x for x in s.splitlines() if not x.startswith("S3_SECRET_KEY")) + "\n", "lacks S3_SECRET_KEY"),
    (lambda s: s + "# é\n", "is not plain ASCII"),
    (lambda s: s + "export PATH\n", "is not a sandbox secret ('export PATH')"),
])
def test_a_secrets_file_with_anything_but_the_sandbox_secrets_is_refused(tmp_path, state_root, change, message):
    secrets = change(SECRETS)
    _refused(_export(tmp_path / "s.tar.gz", header=_header(secrets), secrets=secrets), message, state_root)


# --- the manifest -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda h: h["settings"].update(source_dir="/etc"), "its settings are not those an export writes (source_dir)"),
    (lambda h: h["settings"].pop("port"), "its settings are not those an export writes (port)"),
    (lambda h: h["settings"].update(port="8443"), "its setting port is not of type int"),
    (lambda h: h["settings"].update(accounts=[{"username": "a", "password": "x"}]), "its accounts setting is malformed"),
    (lambda h: h["snapshot"].update(volumes={"../../etc": "x"}), "names a volume '../../etc'"),
    (lambda h: h["snapshot"].update(name="../x"), "is refused: bad snapshot name '../x'"),
    (lambda h: h["snapshot"].update(redis_db="0; FLUSHALL"), "its snapshot manifest's redis_db is not of type int"),
    (lambda h: h["snapshot"].pop("secrets"), "its snapshot manifest has no secrets"),
    (lambda h: h.update(snapshot=[]), "lacks the snapshot's manifest or settings"),
])
def test_a_manifest_out_of_shape_is_refused(tmp_path, state_root, change, message):
    header = _header()
    change(header)
    _refused(_export(tmp_path / "h.tar.gz", header=header), message, state_root)
