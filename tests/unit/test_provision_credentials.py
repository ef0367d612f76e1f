"""credentials.json and the Mastodon.py .secret files: private modes, and readable by Mastodon.py itself."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from mastodon_sandbox.config import SandboxConfig
from mastodon_sandbox.provision import env_exports
from mastodon_sandbox.provision.credentials import (
    Account,
    Application,
    Credentials,
    clientcred_path,
    usercred_path,
    write_clientcred,
    write_usercred,
)
from mastodon_sandbox.state import State, write_private

APP = Application("mastodon-sandbox", "1", "cid-123", "csecret-456", ("read",), ("urn:ietf:wg:oauth:2.0:oob",), "api")
# credentials.json as the version before the records were dataclasses wrote it (its Credentials, set_account
# field by field, token dicts): named, pool, leased, seed and found accounts, both apps' kinds, an app token.
GOLDEN = Path(__file__).parent / "golden" / "credentials.json"


@pytest.fixture
def state(tmp_path):
    s = State("t", root=tmp_path)
    s.save_config(SandboxConfig(name="t", port=8443))
    return s


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_private(state):
    creds = Credentials.load(state)
    creds.set_account(Account("alice", email="alice@example.test", password="p" * 32))
    creds.save()
    write_clientcred(state, "https://localhost:8443", APP)
    write_usercred(state, "https://localhost:8443", "alice", "tok-789", APP)
    for path in (state.credentials_file, clientcred_path(state, APP.name), usercred_path(state, "alice")):
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
    assert again.token("alice", "code", "read write").access_token == "t1"
    assert again.token("alice", "code", "read").access_token == "t2"
    assert again.token("alice", "bulk", ["read", "write"]).access_token == "t3"
    assert again.token("alice", "password-grant", "read") is None
    again.drop_tokens_of_app("sandbox-pool")
    assert again.token("alice", "bulk", "read write") is None and again.token("alice", "code", "read")


def test_env_exports_from_saved_credentials(state):
    creds = Credentials.load(state)
    creds.set_base_url("https://localhost:8443")
    creds.set_app(APP)
    for name, tok in (("admin", "t-admin"), ("alice", "t-alice"), ("bob", "t-bob")):
        creds.set_token(name, "code", "read", tok, APP.name)
        creds.set_default(name, "code", "read")
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
    second.set_account(Account("bob", email="bob@example.test", password="x" * 32))
    first.save()
    second.save()
    merged = Credentials.load(state)
    assert merged.token("alice", "code", "read").access_token == "t-a"
    assert merged.token("bob", "code", "read").access_token == "t-b"
    # A removal made by one writer survives another's later save of its older view.
    third, fourth = Credentials.load(state), Credentials.load(state)
    third.drop_tokens("alice")
    third.save()
    fourth.set_account(Account("carol", email="carol@example.test"))
    fourth.save()
    final = Credentials.load(state)
    assert final.token("alice", "code", "read") is None
    assert final.account("carol").email == "carol@example.test" and final.token("bob", "code", "read")
    # Two writers changing different fields of one account both keep their change.
    fifth, sixth = Credentials.load(state), Credentials.load(state)
    fifth.set_account(replace(fifth.account("bob"), password="y" * 32))
    sixth.set_account(replace(sixth.account("bob"), id="42"))
    fifth.save()
    sixth.save()
    bob = Credentials.load(state).account("bob")
    assert (bob.password, bob.id, bob.email) == ("y" * 32, "42", "bob@example.test")


def test_a_file_of_the_existing_format_loads_and_is_written_back_identically(state, tmp_path):
    """Every record of an existing credentials.json read as a dataclass and saved again: the same bytes."""
    write_private(state.credentials_file, GOLDEN.read_bytes())
    creds = Credentials.load(state)
    copy = Credentials(State("copy", root=tmp_path / "copy"))
    copy.set_base_url(creds.base_url)
    copy.set_pool_password(creds.pool_password)
    for account in creds.accounts.values():
        copy.set_account(account)
    for app in creds.apps.values():
        copy.set_app(app)
    for owner, flows in creds.data["tokens"].items():
        for flow, by_scopes in flows.items():
            for scopes in by_scopes:
                copy.put(("tokens", owner, flow, scopes), creds.token(owner, flow, scopes).to_json())
    for username, chosen in creds.data["defaults"].items():
        copy.set_default(username, chosen["flow"], chosen["scopes"])
    copy.save()
    assert copy.state.credentials_file.read_bytes() == GOLDEN.read_bytes()


def test_records_read_from_an_existing_file(state):
    write_private(state.credentials_file, GOLDEN.read_bytes())
    creds = Credentials.load(state)
    assert creds.account("admin") == Account("admin", "1001", "admin@example.test", "a" * 32, "Owner")
    assert creds.account("found1").password is None and creds.account("lea1").seed and creds.account("pool_001").pool
    assert creds.app("sandbox-pool").source == "bulk" and "admin:write" in creds.app("mastodon-sandbox").scopes
    narrowed = creds.token("alice", "code", "read write:statuses")
    assert (narrowed.access_token, narrowed.scopes, narrowed.flow) == ("tok-alice-narrow", ("read",), "code")
    assert creds.default_token("alice").access_token == "tok-alice" and creds.default_token("bob") is None
    assert [t.flow for t in creds.tokens_of("app:mastodon-sandbox")] == ["client"]
