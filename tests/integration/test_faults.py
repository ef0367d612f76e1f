"""Faults on demand (sandbox/faults, compose/proxy/faultd.py) in front of a real Mastodon, seen by Mastodon.py and
by requests as a bot sees them: injected 429s waited for or raised, a 503 retried or raised, a delay that hits a
client's timeout, a user stream cut and reopened; each test's rules on its own leases only, gone when it ends."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import requests
from mastodon import (Mastodon, MastodonNetworkError, MastodonRatelimitError, MastodonServiceUnavailableError,
                      StreamListener)
from requests.adapters import HTTPAdapter, Retry  # urllib3's, as requests re-exports it

from mastodon_sandbox.faults.layer import FaultLayer
from mastodon_sandbox.provision.credentials import Credentials
from mastodon_sandbox.testing.fixtures import _endpoint, _session
from mastodon_sandbox.waiting import Look, wait_for

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.docker, pytest.mark.needs_mastodon]


def client(sandbox, lease, **options) -> Mastodon:
    endpoint = _endpoint(sandbox)
    return Mastodon(access_token=lease.token, api_base_url=endpoint.url, session=_session(endpoint, None),
                    version_check_mode="none", **options)


def cli(sandbox, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mastodon_sandbox.cli", "faults", *args, "--name", sandbox.name],
                          capture_output=True, text=True, timeout=120)


def test_wait_sleeps_until_the_injected_reset_then_posts(mastodon_sandbox, mastodon_account, mastodon_faults):
    mastodon_faults.add(mastodon_account, status=429, method="POST", path="/api/v1/statuses", count=1, reset_in=3)
    api = client(mastodon_sandbox, mastodon_account, ratelimit_method="wait")
    started = time.monotonic()
    posted = api.status_post("after the reset")
    # Mastodon.py slept until X-RateLimit-Reset (3 s ahead; whole seconds on its clock), then sent it again
    assert posted["content"] and time.monotonic() - started >= 1.5
    assert [(e["status"], e["method"], e["path"]) for e in mastodon_faults.log()] == [(429, "POST", "/api/v1/statuses")]


def test_throw_raises_the_ratelimit_error_with_mastodons_headers(mastodon_sandbox, mastodon_account, mastodon_faults):
    mastodon_faults.add(mastodon_account, status=429, method="POST", path="/api/v1/statuses", count=1, reset_in=60, limit=300)
    api = client(mastodon_sandbox, mastodon_account, ratelimit_method="throw")
    with pytest.raises(MastodonRatelimitError):
        api.status_post("refused")
    assert api.ratelimit_limit == 300 and api.ratelimit_remaining == 0
    assert 50 < api.ratelimit_reset - time.time() <= 61  # read from X-RateLimit-Reset, an ISO time as rack-attack writes it
    assert api.status_post("the rule was for one request")["id"]


def test_a_503_is_retried_by_a_retrying_client_and_raised_by_mastodon_py(mastodon_sandbox, mastodon_account, mastodon_faults):
    url = mastodon_sandbox.url + "/api/v1/accounts/verify_credentials"
    mastodon_faults.add(mastodon_account, status=503, path="/api/v1/accounts/verify_credentials", count=1)
    retrying = _session(_endpoint(mastodon_sandbox), mastodon_account.token)
    retrying.mount("https://", HTTPAdapter(max_retries=Retry(total=2, status_forcelist=[503], backoff_factor=0.1)))
    answer = retrying.get(url, timeout=30)
    assert answer.status_code == 200 and answer.json()["username"] == mastodon_account.username

    mastodon_faults.add(mastodon_account, status=503, path="/api/v1/accounts/verify_credentials", count=1)
    plain = _session(_endpoint(mastodon_sandbox), mastodon_account.token)
    refused = plain.get(url, timeout=30)
    # Mastodon's own words (app/controllers/concerns/api/error_handling.rb)
    assert refused.json() == {"error": "There was a temporary problem serving your request, please try again"}
    mastodon_faults.add(mastodon_account, status=503, path="/api/v1/accounts/verify_credentials", count=1)
    with pytest.raises(MastodonServiceUnavailableError):
        client(mastodon_sandbox, mastodon_account).account_verify_credentials()
    assert [e["status"] for e in mastodon_faults.log()] == [503, 503, 503]


def test_a_delayed_answer_hits_the_clients_timeout(mastodon_sandbox, mastodon_account, mastodon_faults):
    mastodon_faults.add(mastodon_account, delay=4, path="/api/v1/timelines/home", count=1)
    api = client(mastodon_sandbox, mastodon_account, request_timeout=1)
    started = time.monotonic()
    with pytest.raises(MastodonNetworkError):
        api.timeline_home()
    assert time.monotonic() - started < 3.5
    assert api.timeline_home() == []  # the rule was spent: Mastodon's own answer, at once


def test_a_closed_connection_is_a_network_error(mastodon_sandbox, mastodon_account, mastodon_faults):
    mastodon_faults.add(mastodon_account, close=True, path="/api/v1/timelines/home", count=1)
    with pytest.raises(requests.ConnectionError):
        _session(_endpoint(mastodon_sandbox), mastodon_account.token).get(
            mastodon_sandbox.url + "/api/v1/timelines/home", timeout=30)


class Notifications(StreamListener):
    def __init__(self):
        self.seen: list[str] = []
        self.arrived = threading.Event()

    def on_notification(self, notification):
        self.seen.append(notification["status"]["content"] if notification.get("status") else notification["type"])
        self.arrived.set()


def test_a_dropped_user_stream_is_reopened_and_the_next_notification_arrives(mastodon_sandbox, mastodon_accounts, mastodon_faults):
    me, fan = mastodon_accounts(2)
    mastodon_faults.add(me, stream="user", cut_after_events=1, count=1)
    listener = Notifications()
    handle = client(mastodon_sandbox, me).stream_user(listener, run_async=True, reconnect_async=True,
                                                      reconnect_async_wait_sec=1)
    try:
        fan_api = client(mastodon_sandbox, fan)
        wait_for(lambda: Look(handle.is_receiving(), True), timeout=30, interval=0.1, what="the user stream open")
        fan_api.status_post(f"@{me.username} first")
        assert listener.arrived.wait(30), "the first notification never arrived"
        # the layer cut the stream after that event; Mastodon.py reconnects a second later. Mentions sent while it
        # is away are lost (the streaming API does not replay): mention until one arrives on the new connection.
        listener.arrived.clear()
        for attempt in range(20):
            fan_api.status_post(f"@{me.username} again {attempt}")
            if listener.arrived.wait(1.5):
                break
        assert len(listener.seen) >= 2 and "again" in listener.seen[-1], listener.seen
    finally:
        handle.close()
    assert [(e["action"], e["path"]) for e in mastodon_faults.log()] == [("cut", "/api/v1/streaming/user")]


def test_a_rule_touches_only_its_own_lease(mastodon_sandbox, mastodon_accounts, mastodon_faults):
    mine, other = mastodon_accounts(2)
    mastodon_faults.add(mine, status=500, path="/api/v1/accounts/verify_credentials")
    url = mastodon_sandbox.url + "/api/v1/accounts/verify_credentials"
    assert _session(_endpoint(mastodon_sandbox), mine.token).get(url, timeout=30).status_code == 500
    assert _session(_endpoint(mastodon_sandbox), other.token).get(url, timeout=30).status_code == 200
    with pytest.raises(Exception, match="this test's own leased accounts"):
        mastodon_faults.add("alice", status=500)


TWO_WORKERS = '''
import os, time
from pathlib import Path

SYNC = Path(os.environ["FAULTS_SYNC"])
URL = "/api/v1/accounts/verify_credentials"

def _meet(me, other):
    (SYNC / me).write_text("ready")
    deadline = time.time() + 60
    while not (SYNC / other).exists():
        assert time.time() < deadline, "the other test never started"
        time.sleep(0.1)

def _check(sandbox, session, code, me, other):
    _meet(me, other)  # both rules are in force now
    try:
        assert session.get(sandbox.url + URL, timeout=30).status_code == code
    finally:
        (SYNC / (me + ".done")).write_text("")  # the other waits for it, whatever happened here
    deadline = time.time() + 60
    while not (SYNC / (other + ".done")).exists():  # its rule stays in force until it has looked too
        assert time.time() < deadline, "the other test never finished its look"
        time.sleep(0.1)

def test_one(mastodon_sandbox, mastodon_account, mastodon_session, mastodon_faults):
    mastodon_faults.add(mastodon_account, status=503, path=URL)
    _check(mastodon_sandbox, mastodon_session, 503, "one", "two")

def test_two(mastodon_sandbox, mastodon_account, mastodon_session, mastodon_faults):
    mastodon_faults.add(mastodon_account, status=429, path=URL)
    _check(mastodon_sandbox, mastodon_session, 429, "two", "one")
'''


def test_two_tests_on_two_workers_each_see_only_their_own_faults(pytester, mastodon_sandbox, monkeypatch):
    sync = pytester.path / "sync"
    sync.mkdir()
    monkeypatch.setenv("FAULTS_SYNC", str(sync))
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(mastodon_sandbox.state.dir.parent))
    pytester.makepyfile(test_faulty=TWO_WORKERS)
    result = pytester.runpytest_subprocess("-n", "2", f"--mastodon-sandbox={mastodon_sandbox.config.name}", "-q",
                                           "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=2)


FAILING = '''
import json, os

def test_fails_with_a_rule(mastodon_account, mastodon_faults):
    rule = mastodon_faults.add(mastodon_account, status=503)
    with open(os.environ["FAULTS_OUT"], "w") as fh:
        json.dump({"rule": rule.id, "username": mastodon_account.username}, fh)
    assert False, "this test fails on purpose"
'''


def test_a_failing_tests_rules_are_gone_when_it_ends(pytester, mastodon_sandbox, monkeypatch):
    out = pytester.path / "rule.json"
    monkeypatch.setenv("FAULTS_OUT", str(out))
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(mastodon_sandbox.state.dir.parent))
    pytester.makepyfile(test_failing=FAILING)
    result = pytester.runpytest_subprocess(f"--mastodon-sandbox={mastodon_sandbox.config.name}", "-q", "-p", "no:cacheprovider",
                                           timeout=300)
    result.assert_outcomes(failed=1)
    made = json.loads(out.read_text())
    assert made["rule"] not in {r.id for r in FaultLayer(mastodon_sandbox).rules()}
    token = Credentials.load(mastodon_sandbox.state).tokens_of(made["username"])[0].access_token
    answer = _session(_endpoint(mastodon_sandbox), token).get(
        mastodon_sandbox.url + "/api/v1/accounts/verify_credentials", timeout=30)
    assert answer.status_code == 200


# A path no test asks for (Mastodon answers it 404), so that a rule for every account disturbs no other test.
UNUSED = "/api/v1/faults-test-nothing-here"


def test_the_cli_adds_lists_logs_and_clears_a_rule_for_every_account(mastodon_sandbox):
    added = cli(mastodon_sandbox, "add", "--status", "502", "--path", UNUSED, "--count", "1")
    assert added.returncode == 0, added.stderr
    rule = added.stdout.strip()
    try:
        assert rule in cli(mastodon_sandbox, "list").stdout
        status = subprocess.run([sys.executable, "-m", "mastodon_sandbox.cli", "status", "--name", mastodon_sandbox.name],
                                capture_output=True, text=True, timeout=120)
        assert "fault rules set: " in status.stdout  # a forgotten rule is never a mystery
        first = mastodon_sandbox.get(UNUSED)
        assert first.status_code == 502 and "<h1>502 Bad Gateway</h1>" in first.text
        assert mastodon_sandbox.get(UNUSED).status_code == 404  # counted once: Mastodon's own answer again
        logged = [json.loads(line) for line in cli(mastodon_sandbox, "log", "--json").stdout.splitlines()]
        assert [(e["rule"], e["status"], e["account"]) for e in logged if e["rule"] == rule] == [(rule, 502, None)]
    finally:
        cleared = cli(mastodon_sandbox, "clear", rule)
    assert cleared.returncode == 0 and rule not in cli(mastodon_sandbox, "list").stdout


@pytest.mark.parametrize("args, says", [
    (["--status", "700"], "400 to 599"),
    (["--status", "503", "--count", "-1"], "count"),
    (["--status", "503", "--account", "nobody_here"], "no account 'nobody_here'"),
    (["--cut-after-events", "1", "--stream", "nosuch"], "unknown stream"),
    (["--status", "503", "--method", "FETCH"], "unknown HTTP method"),
    (["--path", "/x"], "one thing"),
], ids=["status", "count", "account", "stream", "method", "no action"])
def test_a_bad_rule_is_one_line_and_nothing_is_applied(mastodon_sandbox, args, says):
    before = (mastodon_sandbox.state.faults_dir / "rules.json")
    text = before.read_text() if before.exists() else None
    done = cli(mastodon_sandbox, "add", *args)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("mastodon-sandbox: ") and says in done.stderr, done.stderr
    assert (before.read_text() if before.exists() else None) == text
