"""Named snapshots on every server (PostgreSQL, Redis and the S3 service are real in both stacks), on a
sandbox of their own: what is made after a snapshot is gone after restoring it, credentials included."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from mastodon_sandbox.handle import Sandbox
from tests.conftest import cli, server_args, upload_picture

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
    # Straight after: the connection the lookup above used was ended by the swap less than 2 s after its
    # use, which Rails 8 would trust unchecked (a 500) had the processes resumed too soon. Several at once,
    # so that more than one of Puma's threads (and connections) answers.
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(lambda _: sb.get("/api/v1/accounts/lookup", params={"acct": "carol"}).status_code, range(12)))
    assert codes == [404] * 12
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


@pytest.mark.needs_mastodon
def test_media_stored_after_a_snapshot_is_gone_after_restoring_it(snap):
    """S3 objects go back with the database: a picture uploaded after the snapshot is no longer served, and
    a restore with nothing written since leaves the S3 volume alone (and takes seconds)."""
    import requests

    sb = snap
    ca = str(sb.state.ca_file)
    assert cli("snapshot", "save", "media", "--name", NAME).returncode == 0
    token = cli("token", "alice", "--name", NAME).stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    media = upload_picture(sb, token)
    assert requests.get(media["url"], verify=ca, timeout=30).status_code == 200

    out = cli("snapshot", "restore", "media", "--name", NAME)
    assert out.returncode == 0 and "files put back: s3" in out.stdout, out.stdout + out.stderr
    # Straight after (seconds after Mastodon last wrote to S3): the restore restarted the S3 server, and the
    # next upload must not be handed a pooled connection the restart ended (a 503 "temporary problem").
    after = upload_picture(sb, token)
    assert requests.get(media["url"], verify=ca, timeout=30).status_code in (403, 404)  # the object is gone from S3
    assert sb.get(f"/api/v1/media/{media['id']}", headers=auth).status_code == 404

    assert "files put back: s3" in cli("snapshot", "restore", "media", "--name", NAME).stdout  # `after` goes too
    assert requests.get(after["url"], verify=ca, timeout=30).status_code in (403, 404)
    again = cli("snapshot", "restore", "media", "--name", NAME)
    assert again.returncode == 0 and "files put back" not in again.stdout, again.stdout
    print(f"\n[snapshots] {sb.config.server}: first restore {out.stdout.strip()}; nothing written since: {again.stdout.strip()}")


def test_an_exported_snapshot_imports_as_a_new_sandbox_with_its_accounts_tokens_and_files(snap, mastodon_sandbox, tmp_path):
    """`snapshot export` writes one private file; `snapshot import` on a machine without the sandbox (here:
    its port freed, its name not used) makes a sandbox from it whose accounts, tokens and media are those of
    the snapshot. A sandbox under other secrets refuses the file, in one line and unchanged."""
    import os
    import stat

    import requests

    sb, imported = snap, "it-snap-imported"
    alice = cli("token", "alice", "--name", NAME).stdout.strip()
    media = upload_picture(sb, alice) if sb.config.server != "standin" else None
    assert cli("snapshot", "save", "demo", "--name", NAME).returncode == 0
    file = tmp_path / "demo.snapshot.tar.gz"
    out = cli("snapshot", "export", "demo", "--file", str(file), "--name", NAME, "--quiet")
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(os.stat(file).st_mode) == 0o600 and "keep it private" in out.stdout
    secret = (sb.state.dir / "secrets.env").read_text().split("SECRET_KEY_BASE=")[1].split()[0]
    assert secret not in out.stdout + out.stderr
    again = cli("snapshot", "export", "demo", "--file", str(file), "--name", NAME)
    assert again.returncode == 1 and "exists: choose another file" in again.stderr

    refused = cli("snapshot", "import", str(file), "--name", mastodon_sandbox.name)
    assert refused.returncode == 1 and "made under other secrets" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "demo" not in cli("snapshot", "list", "--name", mastodon_sandbox.name).stdout

    # the sandbox it came from (same secrets) takes it back as a named snapshot, to restore when wanted
    assert cli("snapshot", "delete", "demo", "--name", NAME).returncode == 0
    back = cli("snapshot", "import", str(file), "--name", NAME)
    assert back.returncode == 0 and f"kept it in sandbox {NAME!r}" in back.stdout, back.stdout + back.stderr
    restored = cli("snapshot", "restore", "demo", "--name", NAME)
    assert restored.returncode == 0, restored.stderr

    sb.stack.run("stop", "proxy")  # the port the data's URLs carry, as on a machine where it is free
    try:
        out = cli("snapshot", "import", str(file), "--name", imported, *server_args(mastodon_sandbox)[4:], "--quiet")
        assert out.returncode == 0, out.stderr[-2000:]
        assert f"made sandbox {imported!r} from it and restored it" in out.stdout
        imp = Sandbox.open(imported)
        assert imp.config.port == PORT and imp.state.ca_file.read_bytes() != sb.state.ca_file.read_bytes()
        me = imp.get("/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {alice}"})
        assert me.status_code == 200 and me.json()["username"] == "alice"
        assert cli("token", "alice", "--name", imported).stdout.strip() == alice  # the credentials came along
        if media:
            assert requests.get(media["url"], verify=str(imp.state.ca_file), timeout=30).status_code == 200
        assert [line.split()[0] for line in cli("snapshot", "list", "--name", imported).stdout.splitlines()] == ["demo"]
        print(f"\n[snapshots] {sb.config.server}: export {file.stat().st_size / 1e6:.1f} MB; import: {out.stdout.strip()}")
    finally:
        cli("destroy", "--name", imported, "--yes")
        sb.stack.run("start", "proxy")
