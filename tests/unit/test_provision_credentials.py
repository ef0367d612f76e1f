"""credentials.json and the Mastodon.py .secret files: private modes, and readable by Mastodon.py itself."""

from __future__ import annotations

import json
import stat

import pytest

from mastodon_sandbox.config import SandboxConfig
from mastodon_sandbox.provision import env_exports
from mastodon_sandbox.provision.credentials import (
    Credentials,
    clientcred_path,
    usercred_path,
    write_clientcred,
    write_usercred,
)
from mastodon_sandbox.state import State

APP = {"name": "mastodon-sandbox", "client_id": "cid-123", "client_secret": "csecret-456", "scopes": ["read"]}


@pytest.fixture
def state(tmp_path):
    s = State("t", root=tmp_path)
    s.save_config(SandboxConfig(name="t", port=8443))
    return s


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_private(state):
    creds = Credentials.load(state)
    creds.set_account("alice", email="alice@example.test", password="p" * 32, role=None)
    creds.save()
    write_clientcred(state, "https://localhost:8443", APP)
    write_usercred(state, "https://localhost:8443", "alice", "tok-789", APP)
    for path in (state.credentials_file, clientcred_path(state, APP["name"]), usercred_path(state, "alice")):
        assert mode(path) == 0o600, path
    assert mode(state.secrets_dir) == 0o700
    assert json.loads(state.credentials_file.read_text())["accounts"]["alice"]["password"] == "p" * 32


def test_secret_files_work_with_mastodon_py(state):
    import mastodon  # a dependency of the package: never skipped

    base = "https://localhost:8443"
    app_file = write_clientcred(state, base, APP)
    user_file = write_usercred(state, base, "alice", "tok-789", APP)
    # As Mastodon.py's docs show; no request is made with version_check_mode="none".
    api = mastodon.Mastodon(client_id=str(app_file), version_check_mode="none")
    assert (api.client_id, api.client_secret, api.api_base_url) == ("cid-123", "csecret-456", base)
    api = mastodon.Mastodon(access_token=str(user_file), version_check_mode="none")
    assert (api.access_token, api.api_base_url) == ("tok-789", base)
    assert (api.client_id, api.client_secret) == ("cid-123", "csecret-456")
    # The token file is exactly what Mastodon.py itself would persist for this login.
    assert user_file.read_text() == api.persistable_login_credentials()


def test_tokens_by_account_flow_and_scopes(state):
    creds = Credentials.load(state)
    creds.set_token("alice", "code", "read write", "t1", "mastodon-sandbox")
    creds.set_token("alice", "code", ["read"], "t2", "mastodon-sandbox")
    creds.set_token("alice", "bulk", "read write", "t3", "sandbox-pool")
    creds.save()
    again = Credentials.load(state)
    assert again.token("alice", "code", "read write")["access_token"] == "t1"
    assert again.token("alice", "code", "read")["access_token"] == "t2"
    assert again.token("alice", "bulk", ["read", "write"])["access_token"] == "t3"
    assert again.token("alice", "password-grant", "read") is None
    again.drop_tokens_of_app("sandbox-pool")
    assert again.token("alice", "bulk", "read write") is None and again.token("alice", "code", "read")


def test_env_exports_from_saved_credentials(state):
    creds = Credentials.load(state)
    creds.put(("base_url",), "https://localhost:8443")
    creds.set_app(APP)
    for name, tok in (("admin", "t-admin"), ("alice", "t-alice"), ("bob", "t-bob")):
        creds.set_token(name, "code", "read", tok, APP["name"])
        creds.put(("defaults", name), {"flow": "code", "scopes": "read"})
    creds.save()
    env = env_exports(state)
    assert env["MASTODON_API_BASE_URL"] == "https://localhost:8443"
    assert env["MASTODON_ACCESS_TOKEN"] == "t-alice"
    assert env["MASTODON_ADMIN_ACCESS_TOKEN"] == "t-admin"  # admin is the Owner in the default accounts
    assert env["MASTODON_ACCESS_TOKEN_BOB"] == "t-bob"
    assert (env["MASTODON_CLIENT_ID"], env["MASTODON_CLIENT_SECRET"]) == ("cid-123", "csecret-456")


def test_concurrent_writers_keep_each_others_work(state):
    """Two processes (say, two pytest-xdist workers) load, change and save: nothing is lost."""
    first, second = Credentials.load(state), Credentials.load(state)
    first.set_token("alice", "code", "read", "t-a", "app")
    second.set_token("bob", "code", "read", "t-b", "app")
    second.set_account("bob", email="bob@example.test", password="x" * 32)
    first.save()
    second.save()
    merged = Credentials.load(state)
    assert merged.token("alice", "code", "read")["access_token"] == "t-a"
    assert merged.token("bob", "code", "read")["access_token"] == "t-b"
    # A removal made by one writer survives another's later save of its older view.
    third, fourth = Credentials.load(state), Credentials.load(state)
    third.drop_tokens("alice")
    third.save()
    fourth.set_account("carol", email="carol@example.test")
    fourth.save()
    final = Credentials.load(state)
    assert final.token("alice", "code", "read") is None
    assert final.account("carol")["email"] == "carol@example.test" and final.token("bob", "code", "read")
    # Two writers changing different fields of one account both keep their change.
    fifth, sixth = Credentials.load(state), Credentials.load(state)
    fifth.set_account("bob", password="y" * 32)
    sixth.set_account("bob", id="42")
    fifth.save()
    sixth.save()
    bob = Credentials.load(state).account("bob")
    assert (bob["password"], bob["id"], bob["email"]) == ("y" * 32, "42", "bob@example.test")
