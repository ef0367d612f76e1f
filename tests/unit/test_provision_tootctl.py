"""tootctl output parsing and account creation against REAL tootctl runs (corpus f2), and the commands'
shapes against what was actually run."""

from __future__ import annotations

import re
import subprocess

import pytest

from mastodon_sandbox import server_commands
from mastodon_sandbox.config import Account, SandboxConfig
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.provision.accounts import ensure_account
from mastodon_sandbox.provision import credentials
from mastodon_sandbox.provision.credentials import Credentials
from mastodon_sandbox.provision.tootctl import interpret, parse_error, parse_new_password, saw_ok
from mastodon_sandbox.state import State
from tests.corpus import exchanges



def records(name: str) -> dict[str, dict]:
    return {d["label"]: d for d in exchanges(name)}


def proc(rec: dict) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(rec["argv"], rec["rc"], rec["stdout"], rec["stderr"])


class ReplayStack:
    """Answers exec() with the recorded run whose argv matches exactly (argv[0] is `tootctl` in both)."""

    def __init__(self, recs: dict[str, dict]):
        self.recs = list(recs.values())
        self.calls: list[list[str]] = []

    def exec(self, service, argv, input=None):
        assert service == "web"
        self.calls.append(argv)
        for rec in self.recs:
            if rec["argv"] == argv:
                return proc(rec)
        raise AssertionError(f"no recorded run for {argv}")


def test_password_comes_from_its_line_not_the_first_line():
    rec = records("f2-tootctl.jsonl")["create alice"]
    first = rec["stdout"].splitlines()[0]
    assert first != "OK"  # the Sidekiq log line comes first in the real output
    result = interpret(proc(rec))
    assert result.ok and re.fullmatch(r"[0-9a-f]{32}", result.password)
    # The password parsed from tootctl is the one that signed alice in on the real server (f4, 302).
    sign_ins = [d for d in records("f4-oauth-code.jsonl").values()
                if d["label"] == "alice: POST sign_in" and d["response"]["status"] == 302]
    assert sign_ins and sign_ins[0]["request"]["body"]["user[password]"] == result.password


def test_every_successful_run_says_ok_and_errors_fail():
    for label, rec in records("f2-tootctl.jsonl").items():
        result = interpret(proc(rec))
        assert result.ok == (rec["rc"] == 0 and saw_ok(rec["stdout"])), label
        if rec["rc"] != 0:
            assert result.error and "\n" not in result.error, label
        has_line = "New password:" in rec["stdout"]
        assert (parse_new_password(rec["stdout"]) is not None) == has_line, label


def test_errors_become_one_line():
    recs = records("f2-tootctl.jsonl")
    assert parse_error(recs["create duplicate"]["stderr"]) == "account.username taken"
    assert parse_error(recs["create bad email"]["stderr"]) == "email invalid, blocked"
    assert parse_error(recs["create unknown role"]["stderr"]) == recs["create unknown role"]["stderr"].strip()
    assert parse_error(recs["modify unknown"]["stderr"]) == "No user with such username"


def test_commands_have_the_shape_of_the_real_runs():
    recs = records("f2-tootctl.jsonl")
    assert server_commands.accounts_create("alice", "alice@example.test")[1] == recs["create alice"]["argv"]
    assert server_commands.accounts_create("boss", "boss@example.test", "Owner")[1] == recs["create owner"]["argv"]
    assert server_commands.accounts_reset_password("carol")[1] == recs["modify reset password"]["argv"]
    assert server_commands.cache_clear()[1] == recs["cache clear"]["argv"]
    assert server_commands.settings_registrations("open")[1] == recs["registrations open"]["argv"]
    assert server_commands.version()[1] == recs["version"]["argv"]


def test_every_command_is_built_from_its_table_entry():
    """The table is the only place an argv is written: each builder renders its entry, whole."""
    built = {
        "db:prepare": server_commands.db_prepare(),
        "accounts create": server_commands.accounts_create("a", "a@b.c", "Admin"),
        "accounts modify --reset-password": server_commands.accounts_reset_password("a"),
        "settings registrations": server_commands.settings_registrations("approved"),
        "cache clear": server_commands.cache_clear(),
        "version": server_commands.version(),
        "runner bulk_accounts": server_commands.rails_runner("bulk_accounts"),
        "runner tootctl_batch": server_commands.tootctl_batch(),
        "mail list": server_commands.mail_list(),
        "mail show": server_commands.mail_show("a@b.c"),
        "runner run_due": server_commands.run_due(),
        "runner authorized_fetch": server_commands.authorized_fetch(),
        "redis eval": server_commands.redis_eval("return 1", []),
        "sidekiq look": server_commands.sidekiq_look(1_800_000_000.0),
        "federation log": server_commands.federation_log(),
        "federation log size": server_commands.federation_log_size(),
        "faults reload": server_commands.faults_reload("localhost", 3),
        "faults log": server_commands.faults_log(),
        "psql admin": server_commands.psql_admin(["SELECT 1", "SELECT 2"]),
        "psql script": server_commands.psql_script(),
        "pg hba method": server_commands.pg_hba_method("trust", "scram-sha-256"),
        "pg dump": server_commands.pg_dump("snap__a", "/tmp/a.pgdump"),
        "pg list": server_commands.pg_list("/tmp/a.pgdump"),
        "pg restore": server_commands.pg_restore("snap__a", "/tmp/a.pgdump", "snap__a_restorer"),
        "redis pipe": server_commands.redis_pipe(3, "/tmp/a.resp"),
    }
    assert set(built) == set(server_commands.COMMANDS_BY_NAME)
    for name, (service, argv) in built.items():
        entry = server_commands.COMMANDS_BY_NAME[name]
        assert service == entry.service, name
        fixed = [t for t in entry.argv if "{" not in t and not t.startswith("[")]
        assert all(t in argv for t in fixed), (name, argv)
        assert not any("{" in t and "}" in t and t.strip("{}").isupper() for t in argv), (name, argv)


def test_building_a_command_fills_optional_parts_and_refuses_bad_values():
    assert "--role" not in server_commands.accounts_create("a", "a@b.c")[1]
    assert server_commands.accounts_create("a", "a@b.c", "Owner")[1][-2:] == ["--role", "Owner"]
    # The sandbox's `none` is tootctl's `close` (lib/mastodon/cli/settings.rb: open, approved, close).
    assert server_commands.settings_registrations("none")[1][-1] == "close"
    with pytest.raises(SandboxError, match="is not one of open, approved, close"):
        server_commands.settings_registrations("sometimes")
    with pytest.raises(SandboxError, match="no value for USERNAME"):
        server_commands.build("accounts create", EMAIL="a@b.c")
    with pytest.raises(SandboxError, match="not an e-mail address"):
        server_commands.mail_show("../../etc/passwd")


@pytest.fixture
def state(tmp_path):
    return State("t", root=tmp_path)


def test_ensure_account_creates_saves_and_reuses(state):
    stack = ReplayStack(records("f2-tootctl.jsonl"))
    config = SandboxConfig(name="t")
    creds = Credentials.load(state)
    rec = ensure_account(config, stack, creds, Account("alice"))
    assert rec.email == "alice@example.test"
    assert rec.password == parse_new_password(records("f2-tootctl.jsonl")["create alice"]["stdout"])
    assert state.credentials_file.stat().st_mode & 0o777 == 0o600
    # Idempotent: a second run with saved credentials runs nothing.
    again = ensure_account(config, stack, Credentials.load(state), Account("alice"))
    assert again == rec and len(stack.calls) == 1


def test_existing_account_without_password_points_at_reset(state):
    stack = ReplayStack({"dup": {**records("f2-tootctl.jsonl")["create duplicate"],
                                 "argv": server_commands.accounts_create("alice", "alice@example.test")[1]}})
    with pytest.raises(SandboxError) as e:
        ensure_account(SandboxConfig(name="t"), stack, Credentials.load(state), Account("alice"))
    assert "--reset-password" in str(e.value) and "\n" not in str(e.value)


def test_unknown_role_is_one_line(state):
    rec = records("f2-tootctl.jsonl")["create unknown role"]
    stack = ReplayStack({"x": {**rec, "argv": server_commands.accounts_create("erin", "erin@example.test", "Wizard")[1]}})
    with pytest.raises(SandboxError) as e:
        ensure_account(SandboxConfig(name="t"), stack, Credentials.load(state), Account("erin", "Wizard"))
    assert "Cannot find user role with that name" in str(e.value)


def test_reset_password_replaces_password_and_forgets_tokens(state):
    stack = ReplayStack(records("f2-tootctl.jsonl"))
    creds = Credentials.load(state)
    creds.set_account(credentials.Account("carol", email="carol@example.test", password="0" * 32))
    creds.set_token("carol", "code", "read", "tok", "app")
    creds.save()
    rec = ensure_account(SandboxConfig(name="t"), stack, creds, Account("carol"), reset_password=True)
    assert rec.password == parse_new_password(records("f2-tootctl.jsonl")["modify reset password"]["stdout"])
    assert Credentials.load(state).token("carol", "code", "read") is None


def test_bad_username_is_refused_before_running_anything(state):
    stack = ReplayStack({})
    with pytest.raises(SandboxError, match="underscores"):
        ensure_account(SandboxConfig(name="t"), stack, Credentials.load(state), Account("pool-01"))
    assert stack.calls == []


def test_reset_password_of_an_account_the_state_lacks_records_it_whole(state):
    stack = ReplayStack(records("f2-tootctl.jsonl"))
    rec = ensure_account(SandboxConfig(name="t"), stack, Credentials.load(state), Account("carol"), reset_password=True)
    saved = Credentials.load(state).account("carol")
    assert saved == rec and saved.email == "carol@example.test" and re.fullmatch(r"[0-9a-f]{32}", saved.password)


class BatchStack(ReplayStack):
    """Answers the tootctl_batch runner as the shipped script does: one SANDBOX-JSON line holding each
    command's recorded exit status and output (a Sidekiq log line first, as on real Mastodon)."""

    def exec(self, service, argv, input=None):
        import json

        assert (service, argv) == server_commands.tootctl_batch()
        answers = []
        for cmd in json.loads(input):
            rec = next(r for r in self.recs if r["argv"] == ["tootctl", *cmd])
            answers.append({"status": rec["rc"], "stdout": rec["stdout"], "stderr": rec["stderr"]})
        self.calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "INFO  Sidekiq client with redis_options {}\nSANDBOX-JSON " + json.dumps(answers) + "\n", "")


def test_named_accounts_are_made_in_one_boot_and_read_as_separate_calls(tmp_path):
    from mastodon_sandbox.provision.accounts import ensure_accounts

    recs = records("f2-tootctl.jsonl")
    created = [recs["create owner"], recs["create alice"]]
    assert len(created) == 2
    accounts = [Account(r["argv"][3], r["argv"][r["argv"].index("--role") + 1] if "--role" in r["argv"] else None) for r in created]
    config = SandboxConfig(name="t", email_domain=created[0]["argv"][5].split("@")[1], accounts=tuple(accounts))
    creds = Credentials(State("t", root=tmp_path))
    stack = BatchStack(recs)
    ensure_accounts(config, stack, creds, list(config.accounts))
    assert len(stack.calls) == 1  # one Rails boot for both
    for r, acct in zip(created, accounts):
        assert creds.account(acct.username).password == parse_new_password(r["stdout"])


def test_a_failed_command_in_a_batch_is_named_and_the_others_are_kept(tmp_path):
    from mastodon_sandbox.provision.accounts import ensure_accounts

    recs = records("f2-tootctl.jsonl")
    dup, ok = recs["create duplicate"], recs["create bob"]
    config = SandboxConfig(name="t", accounts=(Account(ok["argv"][3]), Account("alice")))
    creds = Credentials(State("t", root=tmp_path))
    stack = BatchStack({"ok": ok, "dup": {**dup, "argv": ["tootctl", "accounts", "create", "alice", "--email", "alice@example.test", "--confirmed", "--approve"]}})
    with pytest.raises(SandboxError, match="alice exists on the server but the sandbox has no password"):
        ensure_accounts(config, stack, creds, list(config.accounts))
    assert creds.account(ok["argv"][3]).password  # saved at once: the password exists nowhere else
