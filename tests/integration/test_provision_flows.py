"""Provisioning against a running sandbox: every token flow, both redirect kinds, and the failures a client
meets (wrong password, bad PKCE verifier, reused code, Deny, scopes, revocation, password reset).

The sandbox is the shared one of tests/conftest.py (`.sandbox/$SANDBOX_NAME`, default `default`): without
it these tests skip, or fail when SANDBOX_REQUIRE_DOCKER=1. Budgets (Rack::Attack, shared by every client behind the proxy): at
most ~8 sign-ins (25 per 5 min per IP) and 2 app registrations (5 per 10 min per IP) for the whole module;
the throwaway account and app are reused through the state folder across runs. Tests that revoke, deny or
reset use only the throwaway account and app, never the credentials other tests rely on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests

from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.provision import env_exports, provision
from mastodon_sandbox.provision.apps import ensure_app, loopback_uri
from mastodon_sandbox.provision.credentials import usercred_path
from mastodon_sandbox.provision.oauth import (
    OOB,
    OAuthError,
    authorize,
    exchange_code,
    offers_grant,
    revoke,
    sign_in,
)
from mastodon_sandbox.provision.provisioner import Provisioner
from mastodon_sandbox.provision.tokens import TokenProblem, check_token

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
THROWAWAY = "throwaway_flows"
TEST_APP = "sandbox-test-flows"
TEST_SCOPES = "read write follow push read:accounts read:statuses"


def fp(secret: str) -> str:
    """A fingerprint to compare secrets by, so a failing assertion never prints a token or password."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


@pytest.fixture(scope="module", autouse=True)
def provisioned(mastodon_sandbox):
    """The shared sandbox (tests/conftest.py), provisioned: idempotent, normally `up` did it already."""
    provision(mastodon_sandbox)


@pytest.fixture(scope="module")
def prov(mastodon_sandbox):
    return Provisioner(mastodon_sandbox)


@pytest.fixture(scope="module")
def test_app(prov):
    """The throwaway tests' own app (registered once, then reused from the state folder)."""
    return ensure_app(prov.http, prov.creds, TEST_APP, TEST_SCOPES, check=True)


@pytest.fixture(scope="module")
def throwaway(prov):
    return prov.ensure_account(THROWAWAY)


@pytest.fixture(scope="module")
def web(prov, throwaway):
    """One signed-in browser session of the throwaway account, shared by the authorization tests."""
    session = prov.http.fresh()
    sign_in(session, throwaway.email, throwaway.password)
    return session


# --- what `up` leaves behind -------------------------------------------------------------------

def test_named_accounts_have_checked_default_tokens(mastodon_sandbox, prov):
    config = mastodon_sandbox.config
    for acct in config.accounts:
        rec = prov.creds.account(acct.username)
        assert rec and rec.password and rec.email == f"{acct.username}@{config.email_domain}"
        tok = prov.token(acct.username)  # reuses the saved token after checking it
        assert check_token(prov.http, tok.access_token, acct.username)["username"] == acct.username
        assert tok.flow == "code"
    admin = next(a for a in config.accounts if a.role == "Owner")
    assert "admin:read" in prov.token(admin.username).scopes


def test_provision_again_changes_nothing(mastodon_sandbox):
    state = mastodon_sandbox.state
    before = state.credentials_file.read_text()
    provision(mastodon_sandbox)
    assert state.credentials_file.read_text() == before


def test_pool_has_bulk_tokens(mastodon_sandbox, prov):
    config = mastodon_sandbox.config
    pool = [n for n, acct in prov.creds.accounts.items() if acct.pool]
    assert len(pool) >= config.pool_size
    for name in pool[:3]:
        tok = prov.token(name)
        assert tok.flow == "bulk"
        assert check_token(prov.http, tok.access_token, name)["username"] == name


def test_mastodon_py_uses_the_secret_files(mastodon_sandbox, prov):
    import mastodon  # a dependency of the package: never skipped

    state = mastodon_sandbox.state
    session = requests.Session()
    session.verify = str(state.ca_file)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE would override session.verify
    api = mastodon.Mastodon(access_token=str(usercred_path(state, "alice")), session=session, version_check_mode="none")
    assert api.account_verify_credentials()["username"] == "alice"


def test_env_exports_hold_working_tokens(mastodon_sandbox, prov):
    state = mastodon_sandbox.state
    env = env_exports(state)
    assert check_token(prov.http, env["MASTODON_ACCESS_TOKEN"], "alice")["username"] == "alice"
    assert check_token(prov.http, env["MASTODON_ADMIN_ACCESS_TOKEN"], "admin")


# --- flows -------------------------------------------------------------------------------------

def test_client_flow_gives_an_app_token(prov):
    tok = prov.token("alice", "client", "read")
    app = check_token(prov.http, tok.access_token, "app", app_token=True)
    assert app["name"] == tok.app
    with pytest.raises(TokenProblem) as e:
        check_token(prov.http, tok.access_token, "app")  # an app token on a user endpoint: 422
    assert e.value.kind == "app-token"


def test_bulk_flow_for_a_named_account(prov, throwaway):
    tok = prov.token(THROWAWAY, "bulk")
    assert check_token(prov.http, tok.access_token, THROWAWAY)["username"] == THROWAWAY


def test_password_grant_follows_the_metadata(prov, throwaway):
    if offers_grant(prov.http, "password"):
        tok = prov.token(THROWAWAY, "password-grant", "read")
        assert check_token(prov.http, tok.access_token, THROWAWAY)["username"] == THROWAWAY
    else:
        with pytest.raises(SandboxError, match="does not offer the password grant; use --flow code"):
            prov.token(THROWAWAY, "password-grant", "read")


def test_code_flow_out_of_band_then_immediate(prov, test_app, web):
    first = authorize(web, test_app, TEST_SCOPES, OOB, force_form=True)
    assert not first.immediate and "/oauth/authorize/native" in first.location
    tok = exchange_code(web, test_app, first)
    assert set(tok["scope"].split()) == set(TEST_SCOPES.split())
    # A matching token now exists: the server redirects at once and hands back the same token.
    again = authorize(web, test_app, TEST_SCOPES, OOB)
    assert again.immediate
    assert fp(exchange_code(web, test_app, again)["access_token"]) == fp(tok["access_token"])


def test_code_flow_loopback_with_a_scope_subset(prov, test_app, web):
    subset = "read:accounts read:statuses"  # granular scopes, listed on the app literally
    auth = authorize(web, test_app, subset, loopback_uri())
    assert auth.location.startswith(loopback_uri() + "?") and f"state={auth.state}" in auth.location
    tok = exchange_code(web, test_app, auth)
    assert set(tok["scope"].split()) == set(subset.split())  # exactly the subset asked for
    assert check_token(prov.http, tok["access_token"], THROWAWAY)["username"] == THROWAWAY


def test_bad_verifier_then_good_then_reused_code(prov, test_app, web):
    auth = authorize(web, test_app, "read write", OOB, force_form=True)
    with pytest.raises(OAuthError) as e:
        exchange_code(web, test_app, auth, code_verifier="x" * 43)
    assert e.value.error == "invalid_grant"
    tok = exchange_code(web, test_app, auth)
    assert tok["scope"] == "read write"
    with pytest.raises(OAuthError) as e:
        exchange_code(web, test_app, auth)
    assert e.value.error == "invalid_grant"


def test_deny_is_access_denied(test_app, web):
    with pytest.raises(OAuthError) as e:
        authorize(web, test_app, "read follow", loopback_uri(), deny=True)
    assert e.value.error == "access_denied"


def test_scope_outside_the_app_is_refused_by_the_page(test_app, web):
    with pytest.raises(OAuthError) as e:
        authorize(web, test_app, "read admin:read", OOB)
    assert e.value.status == 400 and "scope" in str(e.value)


def test_wrong_password_is_reported(prov, throwaway):
    with pytest.raises(SandboxError) as e:
        sign_in(prov.http.fresh(), throwaway.email, "not-the-password")
    assert "sign-in as" in str(e.value) and "\n" not in str(e.value)


def test_revoked_token_is_reported_as_revoked(prov, test_app, web):
    auth = authorize(web, test_app, "read follow", OOB, force_form=True)
    tok = exchange_code(web, test_app, auth)["access_token"]
    assert check_token(prov.http, tok, THROWAWAY)
    revoke(prov.http, test_app, tok)
    with pytest.raises(TokenProblem) as e:
        check_token(prov.http, tok, THROWAWAY)
    assert e.value.kind == "revoked" and e.value.status == 401


def test_reset_password_revokes_the_accounts_tokens(prov, throwaway):
    """Last: it revokes every token of the throwaway account and ends its web session."""
    old = prov.token(THROWAWAY, "code", "read").access_token
    assert check_token(prov.http, old, THROWAWAY)
    old_password = prov.creds.account(THROWAWAY).password
    rec = prov.ensure_account(THROWAWAY, reset_password=True)
    assert fp(rec.password) != fp(old_password)
    with pytest.raises(TokenProblem) as e:
        check_token(prov.http, old, THROWAWAY)
    assert e.value.kind == "revoked"
    new = prov.token(THROWAWAY, "code", "read")  # signs in with the new password
    assert fp(new.access_token) != fp(old)
    assert check_token(prov.http, new.access_token, THROWAWAY)["username"] == THROWAWAY


def test_mastodon_py_works_unchanged_with_the_exported_bundle(mastodon_sandbox, monkeypatch):
    # As a user would run it after `eval "$(mastodon-sandbox env)"`: the default version check on,
    # the CA from REQUESTS_CA_BUNDLE, the token from the .secret file.
    from mastodon import Mastodon

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(mastodon_sandbox.state.bundle_file))
    api = Mastodon(access_token=str(usercred_path(mastodon_sandbox.state, "alice")))
    assert api.account_verify_credentials()["username"] == "alice"
    assert api.instance()["domain"] == mastodon_sandbox.config.domain  # v2 on Mastodon >= 4.0
    assert api.verify_minimum_version("4.3.0")
