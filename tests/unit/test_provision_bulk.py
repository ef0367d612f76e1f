"""The bulk_accounts script (syntax, marker, contract) and the pool's provisioning logic, with a stand-in
stack that implements the script's JSON contract and a fake HTTPS side."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from mastodon_sandbox.errors import ruby_error

from mastodon_sandbox import server_commands
from mastodon_sandbox.config import SandboxConfig
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.provision import bulk
from mastodon_sandbox.handle import Sandbox
from mastodon_sandbox.provision.provisioner import Provisioner
from mastodon_sandbox.state import State
from tests.corpus import PRE_4_4, exchange

SCRIPT = server_commands.SCRIPTS_DIR / "bulk_accounts.rb"


@pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed here (CI installs it)")
def test_script_syntax():
    r = subprocess.run(["ruby", "-c", str(SCRIPT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_script_is_recognisable_and_run_as_one_runner():
    text = SCRIPT.read_text()
    assert text.splitlines()[0] == "# sandbox-script: bulk_accounts"
    service, argv = server_commands.rails_runner("bulk_accounts")
    assert (service, argv[:2], argv[2]) == ("web", ["bin/rails", "runner"], text)
    # It follows tootctl accounts create (lib/mastodon/cli/accounts.rb): confirm and approve after save.
    for step in ("user.save", "mark_email_as_confirmed!", "approve!", "find_or_create_for"):
        assert step in text
    assert "approved: true" not in text.replace("# ", "#").split("require 'json'")[1]


def test_pool_usernames_are_valid_mastodon_usernames():
    names = bulk.pool_usernames(12)
    assert len(names) == len(set(names)) == 12
    for name in names:
        # app/models/account.rb: local usernames match /\A[a-z0-9_]+\z/i, at most 30 characters
        assert re.fullmatch(r"[a-z0-9_]{1,30}", name), name


def test_output_line_found_among_log_lines():
    payload = {"app": {"id": "1"}, "accounts": []}
    out = "INFO Sidekiq connecting to Redis\nSANDBOX-JSON " + json.dumps(payload) + "\n"
    assert bulk.parse_output(out) == payload
    with pytest.raises(SandboxError):
        bulk.parse_output("OK\n")


def test_spec_matches_the_contract():
    spec = bulk.make_spec([{"username": "pool_01", "email": "pool_01@example.test"}], "ab" * 16, "example.test")
    assert set(spec) == {"app", "password", "email_domain", "accounts"}
    assert spec["app"] == {"name": "sandbox-pool", "scopes": "read write follow push", "redirect_uri": "urn:ietf:wg:oauth:2.0:oob"}
    assert spec["accounts"] == [{"username": "pool_01", "email": "pool_01@example.test", "role": None}]


class ContractStack:
    """Implements bulk_accounts' JSON contract in Python (as the offline stand-in does)."""

    def __init__(self):
        self.accounts: dict[str, dict] = {}
        self.tokens: dict[tuple, str] = {}
        self.runs = 0

    def exec(self, service, argv, input=None):
        assert argv[:2] == ["bin/rails", "runner"] and argv[2].startswith("# sandbox-script: bulk_accounts")
        self.runs += 1
        spec = json.loads(input)
        out = []
        for a in spec["accounts"]:
            created = a["username"] not in self.accounts
            if created:
                self.accounts[a["username"]] = {"id": str(100 + len(self.accounts)), "email": a["email"],
                                                "password": spec["password"]}
            key = (spec["app"]["name"], a["username"])
            tok = self.tokens.setdefault(key, f"tok-{a['username']}-{len(self.tokens)}")
            out.append({"username": a["username"], "email": self.accounts[a["username"]]["email"],
                        "id": self.accounts[a["username"]]["id"], "created": created, "token": tok,
                        "scopes": spec["app"]["scopes"]})
        app = {"id": "7", "name": spec["app"]["name"], "client_id": "pool-cid", "client_secret": "pool-cs",
               "scopes": spec["app"]["scopes"]}
        stdout = "INFO Sidekiq 8.1.6 connecting to Redis\nSANDBOX-JSON " + json.dumps({"app": app, "accounts": out}) + "\n"
        return subprocess.CompletedProcess(argv, 0, stdout, "")


class NoStack:
    """For tests that reach no server-side command: any exec is a failure."""

    def exec(self, service, argv, input=None):
        raise AssertionError(f"ran {argv[:3]} in {service}")


NO_STACK = NoStack()


class FakeResponse:
    def __init__(self, status, body):
        self.status_code, self._body, self.headers = status, body, {}
        self.text = json.dumps(body)

    def json(self):
        return self._body


class FakeHttp:
    """verify_credentials against the stack's tokens; `revoked` tokens answer 401 as Mastodon does."""

    base_url = "https://localhost"

    def __init__(self, stack, metadata):
        self.stack, self._metadata, self.revoked, self.checks = stack, metadata, set(), 0

    def metadata(self):
        return self._metadata

    def get(self, path, headers=None, params=None, **kw):
        if path == "/api/v1/accounts/lookup":  # by username, as a local account is found on the server
            return FakeResponse(200 if params["acct"] in self.stack.accounts else 404, {})
        assert path == "/api/v1/accounts/verify_credentials"
        self.checks += 1
        tok = headers["Authorization"].removeprefix("Bearer ")
        if tok in self.revoked:
            return FakeResponse(401, {"error": "The access token was revoked"})
        for (_app, user), t in self.stack.tokens.items():
            if t == tok:
                return FakeResponse(200, {"id": self.stack.accounts[user]["id"], "username": user})
        return FakeResponse(401, {"error": "The access token is invalid"})


@pytest.fixture
def metadata():
    return exchange("f1-health-https.jsonl", "oauth metadata")["response"]["json"]


def test_pool_is_made_once_and_reused(tmp_path, metadata):
    state = State("t", root=tmp_path)
    config = SandboxConfig(name="t", pool_size=3)
    stack = ContractStack()
    http = FakeHttp(stack, metadata)
    prov = Provisioner(Sandbox(config, state, stack), http=http)
    prov.ensure_pool()
    assert stack.runs == 1
    saved = json.loads(state.credentials_file.read_text())
    for name in bulk.pool_usernames(3):
        acct = saved["accounts"][name]
        assert acct["password"] == saved["pool_password"] and acct["id"] == stack.accounts[name]["id"]
        assert saved["tokens"][name]["bulk"]["read write follow push"]["access_token"] == stack.tokens[("sandbox-pool", name)]
    # Re-running with every token working runs nothing on the server.
    Provisioner(Sandbox(config, state, stack), http=http).ensure_pool()
    assert stack.runs == 1
    # A revoked token: one more runner, for the whole pool, which reuses the accounts.
    http.revoked.add(stack.tokens[("sandbox-pool", "pool_02")])
    stack.tokens.pop(("sandbox-pool", "pool_02"))
    Provisioner(Sandbox(config, state, stack), http=http).ensure_pool()
    assert stack.runs == 2
    again = json.loads(state.credentials_file.read_text())
    assert again["tokens"]["pool_02"]["bulk"]["read write follow push"]["access_token"] == stack.tokens[("sandbox-pool", "pool_02")]
    assert again["accounts"]["pool_01"]["password"] == saved["pool_password"]  # untouched


def test_password_grant_follows_the_servers_metadata(tmp_path, metadata):
    state = State("t", root=tmp_path)
    prov = Provisioner(Sandbox(SandboxConfig(name="t"), state, NO_STACK), http=FakeHttp(ContractStack(), metadata))
    assert "password" not in metadata["grant_types_supported"]  # v4.6.5, recorded
    with pytest.raises(SandboxError, match="does not offer the password grant; use --flow code"):
        prov.choose_flow("alice", "password-grant")
    # A pre-4.4 server's metadata (Mastodon.py's cassette) still lists the grant.
    body = re.search(r"string: '(\{\"issuer\".*?\})'", (PRE_4_4 / "test_log_in_password.yaml").read_text()).group(1)
    old = json.loads(body)
    prov_old = Provisioner(Sandbox(SandboxConfig(name="t"), state, NO_STACK), http=FakeHttp(ContractStack(), old))
    assert prov_old.choose_flow("alice", "password-grant") == "password-grant"


def test_a_lease_refill_names_its_accounts_as_up_names_the_pool():
    """One spelling of the pool's names: a refill of the lease pool goes on where `up`'s pool stops."""
    from mastodon_sandbox.testing.leases import fresh_names

    assert bulk.pool_usernames(3) == ["pool_01", "pool_02", "pool_03"]
    assert fresh_names(set(bulk.pool_usernames(3)), 2) == bulk.pool_usernames(5)[3:]
    assert fresh_names({"pool_02", "alice"}, 3) == [bulk.pool_username(n) for n in (1, 3, 4)]
    assert bulk.pool_usernames(100)[-2:] == ["pool_99", "pool_100"]


def test_default_scopes_come_from_the_role_and_the_server(tmp_path, metadata):
    prov = Provisioner(Sandbox(SandboxConfig(name="t"), State("t", root=tmp_path), NO_STACK), http=FakeHttp(ContractStack(), metadata))
    assert prov.default_scopes("alice") == "read write follow push"
    assert prov.default_scopes("admin") == "read write follow push admin:read admin:write"
    assert prov.default_flow("alice") == "code" and prov.default_flow("pool_01") == "bulk"


def test_failure_line_names_the_error():
    # As real v4.6.5 printed it for a 5-character password (Rails 8.1.3's runner evaluates the script).
    ruby = ("/usr/local/bundle/gems/railties-8.1.3/lib/rails/commands/runner/runner_command.rb:113:in `block in <main>': "
            "a1b2c3: password too_short (RuntimeError)\n"
            "\tfrom /usr/local/bundle/gems/railties-8.1.3/lib/rails/commands/runner/runner_command.rb:84:in `map'\n")
    assert ruby_error(ruby) == "a1b2c3: password too_short (RuntimeError)"
    keyerror = ("/usr/local/bundle/gems/railties-8.1.3/lib/rails/commands/runner/runner_command.rb:69:in `fetch': "
                'key not found: "app" (KeyError)\n')
    assert ruby_error(keyerror) == 'key not found: "app" (KeyError)'
    python = "Traceback (most recent call last):\n  File \"x.py\", line 1\nTypeError: bad thing\n"
    assert ruby_error(python) == "TypeError: bad thing"
    assert ruby_error("") is None


@pytest.mark.parametrize("flow", [None, "code", "bulk", "client"])
def test_a_token_is_refused_for_an_account_the_sandbox_does_not_know_and_makes_none(tmp_path, metadata, flow):
    """Only `accounts create` makes accounts: `token nobody --flow bulk` once made "nobody" as a side effect."""
    state = State("t", root=tmp_path)
    stack = ContractStack()
    prov = Provisioner(Sandbox(SandboxConfig(name="t"), state, stack), http=FakeHttp(stack, metadata))
    with pytest.raises(SandboxError) as caught:
        prov.token("nobody", flow, "read")
    assert str(caught.value) == "the sandbox has no account 'nobody': create it with `mastodon-sandbox accounts create nobody`"
    assert stack.runs == 0 and "nobody" not in stack.accounts and not state.credentials_file.exists()
    stack.accounts["nobody"] = {"id": "9", "email": "nobody@example.test", "password": "x"}  # made on the server
    if flow == "bulk":
        token = prov.token("nobody", flow, "read").access_token
        assert token in stack.tokens.values() and stack.runs == 1  # on the server, so the bulk flow may token it


def test_admin_scopes_are_refused_for_an_account_without_a_role(tmp_path, metadata):
    state = State("t", root=tmp_path)
    stack = ContractStack()
    prov = Provisioner(Sandbox(SandboxConfig(name="t"), state, stack), http=FakeHttp(stack, metadata))
    with pytest.raises(SandboxError) as caught:
        prov.token("alice", "bulk", "read admin:write")
    assert str(caught.value) == ("alice has no role (a plain user), so admin:write would be refused by every admin endpoint: "
                                 "leave the admin scopes out, or ask for a token of admin")
    assert stack.runs == 0 and not state.credentials_file.exists()
    assert "admin:write" in prov.token("admin", "bulk", "read admin:write").scopes  # the Owner may
