"""The pytest plugin, run as a user runs it: a small suite in a fresh directory (pytester, in a subprocess)
against the shared running sandbox, warm, with two xdist workers."""

from __future__ import annotations

import collections

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.docker

SUITE = '''
import os
import pytest

def record(name):
    with open(os.environ["LEASE_LOG"], "a") as fh:
        fh.write(name + "\\n")

@pytest.mark.parametrize("i", range(14))
def test_a_leased_account_is_the_tests_own(mastodon_sandbox, mastodon_account, mastodon_session, i):
    me = mastodon_session.get(mastodon_sandbox.url + "/api/v1/accounts/verify_credentials", timeout=30)
    assert me.status_code == 200 and me.json()["username"] == mastodon_account.username
    record(mastodon_account.username)

def test_two_accounts_that_interact(mastodon_accounts):
    a, b = mastodon_accounts(2)
    assert a.username != b.username
    record(a.username)
    record(b.username)

def test_the_app_and_the_admin(mastodon_app, mastodon_admin):
    assert mastodon_app["client_id"]
    assert mastodon_admin.account_verify_credentials()["username"]

def test_settle(mastodon_settle):
    assert mastodon_settle(timeout=120).enqueued == 0
'''


def test_fixtures_under_two_workers_lease_each_account_once(pytester, mastodon_sandbox, monkeypatch):
    log = pytester.path / "leases.log"
    monkeypatch.setenv("LEASE_LOG", str(log))
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(mastodon_sandbox.state.dir.parent))
    pytester.makepyfile(test_bot=SUITE)
    result = pytester.runpytest_subprocess("-n", "2", f"--mastodon-sandbox={mastodon_sandbox.config.name}", "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=17)
    leased = log.read_text().split()
    assert len(leased) == 16
    assert not [name for name, n in collections.Counter(leased).items() if n > 1], leased  # no double lease


README_EXAMPLE = '''
def test_my_bot_replies(mastodon_accounts, mastodon_client_for, mastodon_settle):
    bot, fan = mastodon_accounts(2)
    fan_api = mastodon_client_for(fan)
    fan_api.status_post(f"@{bot.username} hello")
    mastodon_settle()
    assert mastodon_client_for(bot).notifications(types=["mention"])
'''


@pytest.mark.needs_mastodon
def test_the_readme_example_passes(pytester, mastodon_sandbox, monkeypatch):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = re.search(r"```python\n(def test_my_bot_replies.*?)```", readme, re.DOTALL).group(1)
    assert [line.split("#")[0].rstrip() for line in shown.splitlines()] == README_EXAMPLE.strip().splitlines()
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(mastodon_sandbox.state.dir.parent))
    pytester.makepyfile(test_example=README_EXAMPLE)
    result = pytester.runpytest_subprocess(f"--mastodon-sandbox={mastodon_sandbox.config.name}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_sandbox_that_is_not_there_is_one_clear_error(pytester, mastodon_sandbox, monkeypatch):
    """(tests/plugin/test_missing.py checks the same without Docker, under xdist too.)"""
    root = mastodon_sandbox.state.dir.parent
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(root))
    pytester.makepyfile(test_x="def test_x(mastodon_sandbox):\n    pass\n")
    result = pytester.runpytest_subprocess("--mastodon-sandbox=no-such-sandbox", "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"mastodon-sandbox: no sandbox 'no-such-sandbox' in the state folder {root} (it holds *"
                                 f"{mastodon_sandbox.name}*`mastodon-sandbox up --name no-such-sandbox` makes it*"])
    assert "Traceback" not in result.stdout.str()
    # for those who want it, a skip that says the same (this project's CI never asks for it)
    skipped = pytester.runpytest_subprocess("--mastodon-sandbox=no-such-sandbox", "--mastodon-sandbox-missing=skip",
                                            "-p", "no:cacheprovider", "-rs")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*SKIPPED*no sandbox 'no-such-sandbox' in the state folder*"])


TOKENS_SUITE = '''
import pytest

def test_by_lease_and_by_username(mastodon_client_for, mastodon_account):
    assert mastodon_client_for("alice").account_verify_credentials()["username"] == "alice"
    assert mastodon_client_for(mastodon_account).account_verify_credentials()["username"] == mastodon_account.username

def test_a_narrowed_token_is_refused_writes(mastodon_account, mastodon_token, mastodon_session_with_token,
                                            mastodon_client_with_token, mastodon_sandbox):
    read_only = mastodon_token(mastodon_account, "read")
    s = mastodon_session_with_token(read_only)
    assert s.get(mastodon_sandbox.url + "/api/v1/accounts/verify_credentials").json()["username"] == mastodon_account.username
    assert s.post(mastodon_sandbox.url + "/api/v1/statuses", data={"status": "no"}).status_code == 403
    from mastodon import MastodonAPIError
    with pytest.raises(MastodonAPIError):
        mastodon_client_with_token(read_only).status_post("no")

def test_no_token_a_bad_one_and_an_app_token(mastodon_client_with_token, mastodon_session_with_token, mastodon_token,
                                             mastodon_sandbox):
    from mastodon import MastodonUnauthorizedError
    with pytest.raises(MastodonUnauthorizedError):
        mastodon_client_with_token("not-a-token").account_verify_credentials()
    assert mastodon_session_with_token().get(mastodon_sandbox.url + "/api/v2/instance").status_code == 200
    app = mastodon_session_with_token(mastodon_token(None, "read"))
    assert app.get(mastodon_sandbox.url + "/api/v1/apps/verify_credentials").json()["name"] == "mastodon-sandbox"

def test_a_test_ends_its_own_poll(mastodon_client, mastodon_run_due):
    status = mastodon_client.status_post("which?", poll=mastodon_client.make_poll(["this", "that"], expires_in=3600))
    done = mastodon_run_due(poll_ids=[status["poll"]["id"]])
    assert done == {"published": [], "polls_ended": [str(status["poll"]["id"])]}
    assert mastodon_client.poll(status["poll"]["id"])["expired"]

def test_an_unknown_username_is_one_line(mastodon_client_for):
    mastodon_client_for("nobody_here")
'''


@pytest.mark.needs_mastodon  # statuses, polls
def test_clients_for_any_token_get_tls_right_whatever_requests_ca_bundle_says(pytester, mastodon_sandbox, monkeypatch):
    """Usernames, leases, narrowed, app, bad and no tokens, with REQUESTS_CA_BUNDLE set to the system's bundle
    (which does not hold the sandbox's CA), as on many CI images; and run-due for a test's own poll."""
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(mastodon_sandbox.state.dir.parent))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    pytester.makepyfile(test_tokens=TOKENS_SUITE)
    result = pytester.runpytest_subprocess(f"--mastodon-sandbox={mastodon_sandbox.config.name}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([f"*mastodon_client_for('nobody_here'): sandbox '{mastodon_sandbox.name}' has no token of an "
                                 "account 'nobody_here' (it has: *alice*mastodon_client_with_token(token)*"])


def test_a_project_with_its_own_sandbox_module_keeps_both(pytester, mastodon_sandbox, monkeypatch):
    """A user's top-level `sandbox` module comes first on sys.path under pytest; the plugin loads as
    `mastodon_sandbox` and neither hides it nor is hidden by it."""
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(mastodon_sandbox.state.dir.parent))
    pytester.makepyfile(sandbox="WHO = 'the project'\n")
    pytester.makepyfile(test_own="import sandbox\n\n\ndef test_own(mastodon_sandbox):\n"
                                 "    assert sandbox.WHO == 'the project'\n"
                                 "    assert mastodon_sandbox.get('/health').status_code == 200\n")
    result = pytester.runpytest_subprocess(f"--mastodon-sandbox={mastodon_sandbox.config.name}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_state_folder_is_the_projects(pytester, mastodon_sandbox, monkeypatch):
    """Without SANDBOX_STATE_DIR the plugin looks for sandboxes in .sandbox at pytest's root path (where
    `mastodon-sandbox up` run in the project put them), not in the directory pytest was started from."""
    monkeypatch.delenv("SANDBOX_STATE_DIR", raising=False)
    (pytester.path / "tests").mkdir()
    (pytester.path / "pytest.ini").write_text("[pytest]\n")
    (pytester.path / ".sandbox").symlink_to(mastodon_sandbox.state.dir.parent)
    (pytester.path / "tests" / "test_root.py").write_text("def test_root(mastodon_sandbox):\n    assert mastodon_sandbox.get('/health').ok\n")
    monkeypatch.chdir(pytester.path / "tests")
    result = pytester.runpytest_subprocess(f"--mastodon-sandbox={mastodon_sandbox.config.name}", "-p", "no:cacheprovider", "test_root.py")
    result.assert_outcomes(passed=1)


COLD_SUITE = '''
import pytest

def account_exists(sandbox, username):
    out = sandbox.stack.exec("web", ["tootctl", "accounts", "modify", username, "--approve"])
    return out.returncode == 0

@pytest.mark.mastodon_snapshot("seeded")
def test_writes_then_is_rolled_back(mastodon_sandbox):
    assert not account_exists(mastodon_sandbox, "coldwriter")
    made = mastodon_sandbox.stack.exec("web", ["tootctl", "accounts", "create", "coldwriter", "--email",
                                               "coldwriter@example.test", "--confirmed"])
    assert made.returncode == 0, made.stderr

@pytest.mark.mastodon_snapshot("seeded")
def test_starts_from_the_snapshot_again(mastodon_sandbox):
    assert not account_exists(mastodon_sandbox, "coldwriter")
    # the sandbox is this test's alone for its whole run: no other process gets the shared side meanwhile
    import subprocess, sys
    probe = "import fcntl, sys; fh = open(sys.argv[1], 'a'); fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)"
    other = subprocess.run([sys.executable, "-c", probe, str(mastodon_sandbox.state.dir / "in-use.lock")], capture_output=True)
    assert other.returncode != 0 and b"BlockingIOError" in other.stderr

def test_a_sandbox_never_seeded_skips_what_needs_the_seed(mastodon_seed):
    pass
'''


@pytest.mark.harness_only  # its second sandbox is a stand-in whatever the shared one runs
def test_cold_mode_brings_up_a_sandbox_of_its_own_and_restores_snapshots_for_marked_tests(pytester, mastodon_sandbox, monkeypatch):
    """Cold mode: the first use brings the sandbox up (a stand-in, fast) under the host lock; tests marked
    mastodon_snapshot start from that snapshot, each one, whatever the one before wrote. The snapshot is named
    `seeded`, as `seed` names it (the stand-in cannot seed: saved here by hand), and restored by that name. Each
    run saves the sandbox as before-pytest-<run> first; the plugin keeps the newest 3 of its own, never the
    user's. mastodon_seed on a sandbox never seeded skips with one line."""
    import subprocess
    import sys

    from mastodon_sandbox.data.snapshots import SEEDED
    assert SEEDED == "seeded"

    name, port = "plugin-cold", 38471
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(mastodon_sandbox.state.dir.parent))
    monkeypatch.setenv("SANDBOX_SERVER", "standin")
    monkeypatch.setenv("SANDBOX_PORT", str(port))
    cli = [sys.executable, "-m", "mastodon_sandbox.cli"]
    pytester.makepyfile(test_cold="def test_up(mastodon_sandbox):\n    assert mastodon_sandbox.get('/health').ok\n")
    try:
        first = pytester.runpytest_subprocess(f"--mastodon-sandbox={name}", "--mastodon-sandbox-mode=cold", "-p", "no:cacheprovider")
        first.assert_outcomes(passed=1)
        for snapshot in ("seeded", "before-pytest-mine"):  # the second is the user's, whatever its name looks like
            saved = subprocess.run([*cli, "snapshot", "save", snapshot, "--name", name], capture_output=True, text=True, timeout=600)
            assert saved.returncode == 0, saved.stderr
        pytester.makepyfile(test_cold=COLD_SUITE)
        for run in range(4):
            again = pytester.runpytest_subprocess(f"--mastodon-sandbox={name}", "--mastodon-sandbox-mode=cold",
                                                  "-p", "no:cacheprovider", "-rs")
            again.assert_outcomes(passed=2, skipped=1)
            listed = subprocess.run([*cli, "snapshot", "list", "--name", name], capture_output=True, text=True, timeout=60)
            names = [line.split()[0] for line in listed.stdout.splitlines()]
            # the state each run found, kept before its first restore: the newest 3 of them
            assert len([n for n in names if n.startswith("before-pytest-") and n != "before-pytest-mine"]) == min(run + 1, 3)
            assert {"seeded", "before-pytest-mine"} <= set(names)
        again.stdout.fnmatch_lines([f"SKIPPED*sandbox '{name}' is not seeded: `mastodon-sandbox seed --name {name}` fills it*"])
    finally:
        subprocess.run([*cli, "destroy", "--name", name, "--yes"], capture_output=True, timeout=300)


def test_a_warm_run_does_not_restore_unless_asked(pytester, mastodon_sandbox, monkeypatch):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(mastodon_sandbox.state.dir.parent))
    pytester.makepyfile(test_x="import pytest\n\n@pytest.mark.mastodon_snapshot('seeded')\n"
                               "def test_x(mastodon_sandbox):\n    pass\n")
    result = pytester.runpytest_subprocess(f"--mastodon-sandbox={mastodon_sandbox.config.name}", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*asks for snapshot 'seeded', which would change sandbox*--mastodon-sandbox-restore*"])


STRESS_SUITE = '''
import os
import pytest

@pytest.mark.parametrize("i", range(240))
def test_lease(mastodon_account, i):
    with open(os.environ["LEASE_LOG"], "a") as fh:
        fh.write(mastodon_account.username + "\\n")
'''


@pytest.mark.harness_only
def test_stress_two_workers_hundreds_of_leases_no_double_lease(pytester, mastodon_sandbox, monkeypatch):
    """A few hundred tests on two workers lease an account each: every account once, one stack (no second
    `up`), the pool grown in bulk (two Rails runs, not thirty)."""
    log = pytester.path / "leases.log"
    monkeypatch.setenv("LEASE_LOG", str(log))
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(mastodon_sandbox.state.dir.parent))
    containers_before = {c["name"]: c["id"] for c in _containers(mastodon_sandbox)}
    pytester.makepyfile(test_stress=STRESS_SUITE)
    result = pytester.runpytest_subprocess("-n", "2", f"--mastodon-sandbox={mastodon_sandbox.config.name}", "--mastodon-pool-refill=120",
                                           "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=240)
    leased = log.read_text().split()
    assert len(leased) == 240 and len(set(leased)) == 240, collections.Counter(leased).most_common(3)
    assert {c["name"]: c["id"] for c in _containers(mastodon_sandbox)} == containers_before  # the same stack throughout


def _containers(sandbox) -> list[dict]:
    from mastodon_sandbox.docker_env import docker_client

    found = docker_client().containers.list(filters={"label": f"com.docker.compose.project={sandbox.config.project}"})
    return [{"name": c.name, "id": c.id} for c in found]


TARGET_SUITE = '''
import os
import pytest

def test_who(mastodon_target, mastodon_account, mastodon_client):
    assert mastodon_client.account_verify_credentials()["username"] == mastodon_account.username
    with open(os.environ["TARGET_LOG"], "a") as fh:
        fh.write(f"{mastodon_target} {mastodon_account.username}\\n")

@pytest.mark.mastodon_writes
def test_writes(mastodon_client):
    assert mastodon_client.status_post("a write", visibility="unlisted")["visibility"] == "unlisted"

@pytest.mark.mastodon_targets("sandbox")
def test_sandbox_only(mastodon_target):
    assert mastodon_target == "sandbox"
'''


@pytest.mark.needs_mastodon  # the remote target must be Mastodon: the stand-in is refused
def test_the_remote_target_and_both(pytester, mastodon_sandbox, monkeypatch):
    """--mastodon-target=remote points the client fixtures at a remote instance (here the sandbox as if it were
    one, through a leased account's token): read-only unless allowed, tests marked for the sandbox only are
    deselected; `both` runs each test once per target its marker allows."""
    from mastodon_sandbox.testing.leases import lease

    [mine] = lease(mastodon_sandbox, 1, holder="remote-target test")
    log = pytester.path / "targets.log"
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(mastodon_sandbox.state.dir.parent))
    monkeypatch.setenv("TARGET_LOG", str(log))
    monkeypatch.setenv("MASTODON_CONTRACT_URL", mastodon_sandbox.url)
    monkeypatch.setenv("MASTODON_CONTRACT_TOKEN", mine.token)
    monkeypatch.setenv("MASTODON_CONTRACT_CA", str(mastodon_sandbox.state.ca_file))
    monkeypatch.delenv("MASTODON_CONTRACT_WRITES", raising=False)
    pytester.makepyfile(test_targets=TARGET_SUITE)
    common = (f"--mastodon-sandbox={mastodon_sandbox.config.name}", "-p", "no:cacheprovider", "-rs")

    remote = pytester.runpytest_subprocess("--mastodon-target=remote", *common)
    remote.assert_outcomes(passed=1, skipped=1, deselected=1)
    remote.stdout.fnmatch_lines(["*the remote target is read-only*"])
    assert log.read_text().split() == ["remote", mine.username]

    log.unlink()
    both = pytester.runpytest_subprocess("--mastodon-target=both", *common)
    both.assert_outcomes(passed=4, skipped=1)
    targets = log.read_text().split()
    assert sorted(targets[::2]) == ["remote", "sandbox"] and mine.username in targets
