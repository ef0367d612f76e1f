"""`snapshot import` refuses a file that is not a whole snapshot export in one line, before it makes
anything (no state folder, no containers): sandbox/data/archive.py."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from sandbox.data import archive, snapshots
from sandbox.errors import SandboxError

SECRETS = "SECRET_KEY_BASE=abc\nVAPID_PUBLIC_KEY=def\nS3_ACCESS_KEY=x\n"


def _export(path, header: dict | None = None, drop: tuple[str, ...] = (), secrets: str = SECRETS):
    snapshot = {"name": "demo", "mastodon": "4.6.5", "secrets": snapshots.secrets_digest_of(SECRETS), "volumes": {"s3": "x"},
                "database": "snap__demo", "redis_db": 1}
    header = header or {"format": archive.FORMAT, "snapshot": snapshot,
                        "settings": {"server": "standin", "version": "4.6.5", "port": 8443, "s3": "seaweedfs",
                                     "email_domain": "example.test", "registrations": "none", "accounts": [], "pool_size": 0}}
    members = {"manifest.json": json.dumps(header).encode(), "secrets.env": secrets.encode(), "database.pgdump": b"PGDMP",
               "redis.resp": b"", "files/s3.tar": b""}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            if name not in drop:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(autouse=True)
def state_root(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "no snapshot file"),
    (lambda p: (p.write_text("hello"), p)[1], "is not a snapshot file"),
    (lambda p: _export(p, drop=("manifest.json",)), "not a snapshot made by `mastodon-sandbox snapshot export`"),
    (lambda p: _export(p, header={"format": "mastodon-sandbox-snapshot/99"}), "this version reads mastodon-sandbox-snapshot/1"),
    (lambda p: _export(p, drop=("database.pgdump", "files/s3.tar")), "is incomplete: database.pgdump, files/s3.tar missing"),
    (lambda p: _export(p, secrets="SECRET_KEY_BASE=other\n"), "is damaged: its secrets are not those"),
])
def test_a_bad_file_is_one_line_and_makes_nothing(tmp_path, state_root, make, message):
    path = make(tmp_path / "demo.snapshot.tar.gz")
    with pytest.raises(SandboxError, match=message.replace("(", r"\(").replace("`", ".")) as e:
        archive.import_(path, "imported")
    assert "\n" not in str(e.value)
    assert not (state_root / "imported").exists()


def test_a_bad_setting_in_the_file_is_refused_before_anything_is_made(tmp_path, state_root):
    path = _export(tmp_path / "demo.snapshot.tar.gz")
    header = json.loads(tarfile.open(path).extractfile("manifest.json").read())
    header["settings"]["email_domain"] = "not a domain"
    bad = _export(tmp_path / "bad.snapshot.tar.gz", header=header)
    with pytest.raises(SandboxError, match="bad e-mail domain"):
        archive.import_(bad, "imported")
    assert not (state_root / "imported").exists()


def test_the_default_file_is_named_after_the_snapshot():
    assert str(archive.default_file("demo")) == "demo.snapshot.tar.gz"
