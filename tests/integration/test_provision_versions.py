"""Provisioning follows what the server offers, not its version string: on Mastodon 4.3 the password
grant is advertised and works; from 4.4 on it is gone (tested on the shared sandbox's version)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

import pytest

from mastodon_sandbox.state import State
from tests.conftest import cli

pytestmark = pytest.mark.docker


def test_a_43_sandbox_offers_and_honours_the_password_grant(make_sandbox):
    made = make_sandbox("it-v43", 38449, "--version", "4.3", "--pool-size", "2", provision=True)
    assert made.returncode == 0, made.stderr
    state = State("it-v43")
    meta = requests.get("https://localhost:38449/.well-known/oauth-authorization-server", verify=str(state.ca_file), timeout=10).json()
    assert "password" in meta["grant_types_supported"]

    out = cli("token", "alice", "--flow", "password-grant", "--name", "it-v43")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    me = requests.get("https://localhost:38449/api/v1/accounts/verify_credentials",
                      headers={"Authorization": f"Bearer {token}"}, verify=str(state.ca_file), timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "alice"
    # The pool came from the bulk runner on this version too.
    assert cli("token", "pool_01", "--flow", "bulk", "--name", "it-v43").returncode == 0
    # Mastodon.py's own password login (Mastodon.log_in with the account's e-mail and password) works too.
    import mastodon

    from mastodon_sandbox.provision.credentials import Credentials, clientcred_path

    session = requests.Session()
    session.verify, session.trust_env = str(state.ca_file), False
    alice = Credentials.load(state).account("alice")
    api = mastodon.Mastodon(client_id=str(clientcred_path(state, "mastodon-sandbox")), api_base_url="https://localhost:38449", session=session)
    token = api.log_in(alice.email, alice.password, scopes=["read"])
    assert token and api.account_verify_credentials()["username"] == "alice"

    # A restore here does not keep the processes frozen for connections to age: activerecord 7.1 checks
    # every connection it hands out (sandbox/config.py db_verify_timeout). Requests straight after a
    # restore, on connections used just before it, are answered, not 500s.
    assert cli("snapshot", "save", "v43", "--name", "it-v43").returncode == 0
    assert api.account_verify_credentials()["username"] == "alice"
    restored = cli("snapshot", "restore", "v43", "--name", "it-v43")
    assert restored.returncode == 0, restored.stderr
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(lambda _: session.get("https://localhost:38449/api/v1/accounts/verify_credentials",
                                                    headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code, range(12)))
    assert codes == [200] * 12
