"""Telling whether the S3 service's objects changed since a snapshot (sandbox/data/snapshots.py restores
its volume only then): the digest follows the files that hold objects, not the service's own bookkeeping.
The script runs here on a folder laid out as SeaweedFS lays out its volume (seen in a sandbox's s3 volume)."""

from __future__ import annotations

import subprocess

import pytest

from mastodon_sandbox import stores
from mastodon_sandbox.data.snapshots import OBJECT_FILES


def digest(root, only: str) -> str:
    out = subprocess.run(["sh", "-c", stores.listing_script(str(root), only)], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


@pytest.fixture
def seaweed(tmp_path):
    for path, size in {"media_2.dat": 251400, "media_2.idx": 629, "media_2.vif": 203, "filerldb2/00/000001.log": 3310,
                       "filerldb2/00/MANIFEST-000000": 54, "m9333/log": 462}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"x" * size)
    return tmp_path


def test_seaweedfs_restarting_and_compacting_its_filer_log_is_not_a_change(seaweed):
    before = digest(seaweed, OBJECT_FILES["seaweedfs"])
    # what a restart did in a real sandbox: LevelDB compacted into a new table, the raft log grew
    (seaweed / "filerldb2/00/000001.log").unlink()
    (seaweed / "filerldb2/00/000002.ldb").write_bytes(b"x" * 2039)
    (seaweed / "m9333/log").write_bytes(b"x" * 583)
    (seaweed / "m9333/state").write_bytes(b"x" * 51)
    assert digest(seaweed, OBJECT_FILES["seaweedfs"]) == before
    assert digest(seaweed, "") != before  # everything counted, it would look changed


def test_an_object_written_or_deleted_is_a_change(seaweed):
    before = digest(seaweed, OBJECT_FILES["seaweedfs"])
    with open(seaweed / "media_2.dat", "ab") as f:  # SeaweedFS appends a written object to its volume file
        f.write(b"y" * 1000)
    written = digest(seaweed, OBJECT_FILES["seaweedfs"])
    assert written != before
    with open(seaweed / "media_2.idx", "ab") as f:  # and a deletion's tombstone to the index
        f.write(b"z" * 16)
    assert digest(seaweed, OBJECT_FILES["seaweedfs"]) not in (before, written)


def test_minio_bookkeeping_is_not_a_change_but_an_object_is(tmp_path):
    (tmp_path / "media/a.png").mkdir(parents=True)
    (tmp_path / "media/a.png/xl.meta").write_bytes(b"x" * 300)
    before = digest(tmp_path, OBJECT_FILES["minio"])
    (tmp_path / ".minio.sys/buckets").mkdir(parents=True)
    (tmp_path / ".minio.sys/buckets/.usage.json").write_bytes(b"{}")
    assert digest(tmp_path, OBJECT_FILES["minio"]) == before
    (tmp_path / "media/b.png").mkdir()
    (tmp_path / "media/b.png/xl.meta").write_bytes(b"x" * 310)
    assert digest(tmp_path, OBJECT_FILES["minio"]) != before
