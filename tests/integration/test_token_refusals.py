"""`token` on a running sandbox refuses, in one line and changing nothing, an account the sandbox does not know
(making accounts is `accounts create`'s job, on every flow) and admin scopes for an account without a role."""

from __future__ import annotations

import json

import pytest

from tests.conftest import cli

pytestmark = pytest.mark.docker

NOBODY = "nobody_token_check"  # never made by any test


def one_line_refusal(*args: str) -> str:
    out = cli(*args)
    err = out.stderr.strip()
    assert out.returncode == 1 and out.stdout == "" and len(err.splitlines()) == 1, (out.returncode, out.stdout, err)
    return err


@pytest.mark.parametrize("flow", ["code", "bulk", "client", "password-grant"])
def test_a_token_for_an_unknown_account_makes_no_account(mastodon_sandbox, flow):
    err = one_line_refusal("token", NOBODY, "--flow", flow, "--name", mastodon_sandbox.name)
    if flow != "password-grant" or "does not offer the password grant" not in err:
        assert err == f"mastodon-sandbox: the sandbox has no account {NOBODY!r}: create it with `mastodon-sandbox accounts create {NOBODY}`"
    assert mastodon_sandbox.get("/api/v1/accounts/lookup", params={"acct": NOBODY}).status_code == 404
    assert NOBODY not in json.loads(mastodon_sandbox.state.credentials_file.read_text())["accounts"]


def test_admin_scopes_for_an_account_without_a_role_are_refused(mastodon_sandbox):
    before = mastodon_sandbox.state.credentials_file.read_text()
    err = one_line_refusal("token", "alice", "--scopes", "admin:write", "--new", "--name", mastodon_sandbox.name)
    assert "alice has no role (a plain user), so admin:write would be refused by every admin endpoint" in err
    assert mastodon_sandbox.state.credentials_file.read_text() == before
