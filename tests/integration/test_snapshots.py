"""Named snapshots on every server (PostgreSQL, Redis and the S3 service are real in both stacks), on a
sandbox of their own: what is made after a snapshot is gone after restoring it, credentials included."""

from __future__ import annotations

import json

import pytest

from sandbox.handle import Sandbox
from tests.conftest import cli

pytestmark = pytest.mark.docker

NAME, PORT = "it-snap", 38452


@pytest.fixture(scope="module")
def snap(make_sandbox_module):
    return make_sandbox_module(NAME, PORT)


def accounts_in(sb: Sandbox) -> set[str]:
    return set(json.loads(sb.state.credentials_file.read_text())["accounts"])


def test_restore_goes_back_to_the_snapshot_and_keeps_tokens_working(snap):
    sb = snap
    assert cli("snapshot", "save", "base", "--name", NAME).returncode == 0
    listed = cli("snapshot", "list", "--name", NAME).stdout
    assert listed.startswith("base ") and sb.config.release.version in listed
    made = cli("accounts", "create", "carol", "--name", NAME)
    assert made.returncode == 0, made.stderr
    assert sb.get("/api/v1/accounts/lookup", params={"acct": "carol"}).status_code == 200
    assert "carol" in accounts_in(sb)

    out = cli("snapshot", "restore", "base", "--name", NAME)
    assert out.returncode == 0, out.stderr
    print(f"\n[snapshots] {sb.config.server}: {out.stdout.strip()}")
    assert sb.get("/api/v1/accounts/lookup", params={"acct": "carol"}).status_code == 404
    assert "carol" not in accounts_in(sb)  # the credentials went back with the snapshot
    token = cli("token", "alice", "--name", NAME)
    assert token.returncode == 0, token.stderr  # a saved token from before the snapshot still works
    me = sb.get("/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token.stdout.strip()}"})
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert cli("accounts", "create", "carol", "--name", NAME).returncode == 0  # and the server takes writes


def test_bad_names_and_unknown_snapshots_are_one_line_and_change_nothing(snap):
    for args, message in ((["snapshot", "restore", "nope"], "no snapshot 'nope'"),
                          (["snapshot", "save", "Bad Name"], "bad snapshot name 'Bad Name'"),
                          (["snapshot", "save", "base"], "snapshot 'base' exists"),
                          (["reset"], "has no seeded state to reset to")):
        out = cli(*args, "--name", NAME)
        assert out.returncode == 1 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert [line.split()[0] for line in cli("snapshot", "list", "--name", NAME).stdout.splitlines()] == ["base"]


def test_delete_removes_a_snapshot_and_what_it_kept(snap):
    import docker

    assert cli("snapshot", "save", "gone", "--name", NAME).returncode == 0
    assert cli("snapshot", "delete", "gone", "--name", NAME).returncode == 0
    names = [v.name for v in docker.from_env().volumes.list(filters={"label": f"com.docker.compose.project={snap.config.project}"})]
    assert not [n for n in names if "snap-gone" in n]
    assert "gone" not in cli("snapshot", "list", "--name", NAME).stdout
