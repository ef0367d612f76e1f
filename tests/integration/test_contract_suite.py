"""The contract suite as a user runs it, `mastodon-sandbox contract`, against the running sandbox: as the
sandbox target; as a remote server (CI has no internet), read-only by default and with writes on bot
accounts that it cleans up after; and bad targets, each one line and a non-zero exit with nothing left
behind. Real Mastodon only: the stand-in has no statuses, and the suite refuses it (checked here too)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from mastodon_sandbox.contract.endpoints import entity_for
from mastodon_sandbox.contract.validate import validate
from mastodon_sandbox.data.settle import settle
from mastodon_sandbox.provision.provisioner import Provisioner
from mastodon_sandbox.testing.leases import lease

pytestmark = [pytest.mark.docker, pytest.mark.needs_mastodon]

QUIRKS_4_6_5 = {"idempotency-key-repeat-500", "unknown-api-route-html-404", "non-numeric-limit-empty-page"}


def contract(*args: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    """`mastodon-sandbox contract ...` from a folder of the user's (no checkout), with only the given
    MASTODON_CONTRACT_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MASTODON_CONTRACT_")}
    return subprocess.run([sys.executable, "-m", "mastodon_sandbox.cli", "contract", *args], capture_output=True, text=True,
                          env={**clean, **env}, cwd=cwd, timeout=600, check=False)


def account(sandbox, token: str) -> dict:
    return api(sandbox, token, "GET", "/api/v1/accounts/verify_credentials").json()


def api(sandbox, token: str, method: str, path: str, **kw) -> requests.Response:
    response = requests.request(method, sandbox.url + path, headers={"Authorization": f"Bearer {token}"},
                                verify=str(sandbox.state.ca_file), timeout=30, **kw)
    response.raise_for_status()
    return response


def set_bot(sandbox, token: str, bot: bool) -> None:
    assert api(sandbox, token, "PATCH", "/api/v1/accounts/update_credentials",
               data={"bot": "true" if bot else "false"}).json()["bot"] is bot


@pytest.fixture
def state_dir(mastodon_sandbox) -> dict[str, str]:
    return {"SANDBOX_STATE_DIR": str(mastodon_sandbox.state.dir.parent)}


@pytest.fixture(scope="module")
def pair(mastodon_sandbox):
    """Two fresh accounts of this module's own, standing in for a user's bots on a remote server."""
    return lease(mastodon_sandbox, 2, holder="tests/integration/test_contract_suite.py")


@pytest.fixture
def remote(mastodon_sandbox, pair, tmp_path) -> dict[str, str]:
    """The sandbox as a remote server: its URL and CA, the pair's tokens, a cleanup folder of the test's own."""
    return {"MASTODON_CONTRACT_URL": mastodon_sandbox.url, "MASTODON_CONTRACT_CA": str(mastodon_sandbox.state.ca_file),
            "MASTODON_CONTRACT_TOKEN": pair[0].token, "MASTODON_CONTRACT_TOKEN_2": pair[1].token,
            "MASTODON_CONTRACT_STATE": str(tmp_path / "state"), "MASTODON_CONTRACT_REPORT": str(tmp_path / "report.json")}


def settled_footprint(sandbox, leased, expected: dict, timeout: float = 30) -> dict:
    """The footprint once it equals `expected`, or as it is after `timeout` (a status's removal finishes in
    Sidekiq: RemovalWorker)."""
    deadline = time.monotonic() + timeout
    while (now := footprint(sandbox, leased)) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return now


def footprint(sandbox, leased) -> dict:
    """What a run could leave on an account: its counts, statuses, scheduled statuses and follows."""
    me = account(sandbox, leased.token)
    return {"statuses_count": me["statuses_count"], "following_count": me["following_count"],
            "statuses": api(sandbox, leased.token, "GET", f"/api/v1/accounts/{me['id']}/statuses").json(),
            "scheduled": api(sandbox, leased.token, "GET", "/api/v1/scheduled_statuses").json()}


def test_the_suite_passes_against_the_sandbox_and_reports_what_it_verified(mastodon_sandbox, state_dir, tmp_path):
    report_file = tmp_path / "report.json"
    out = contract("--name", mastodon_sandbox.name, env={**state_dir, "MASTODON_CONTRACT_REPORT": str(report_file)}, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    version = requests.get(mastodon_sandbox.url + "/api/v2/instance", verify=str(mastodon_sandbox.state.ca_file), timeout=30).json()["version"]
    assert f"server: {mastodon_sandbox.url} (sandbox '{mastodon_sandbox.name}'), Mastodon {version}" in out.stdout
    report = json.loads(report_file.read_text())
    assert len(report["endpoints"]) >= 40 and len(report["entities"]) >= 20 and report["bodies"] >= 80, report
    assert f"verified: {report['bodies']} bodies, {len(report['endpoints'])} endpoints" in out.stdout
    assert {"update", "notification"} <= set(report["events"]) and not report["breaks"]
    if version == "4.6.5":  # the server's known deviations are reported as its own, not failed
        assert QUIRKS_4_6_5 <= set(report["quirks"]) and "xfailed" in out.stdout


def test_a_remote_run_is_read_only_by_default(mastodon_sandbox, pair, remote, state_dir, tmp_path):
    before = [footprint(mastodon_sandbox, leased) for leased in pair]
    out = contract("--target", "remote", "-rs", env={**state_dir, **remote}, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert [footprint(mastodon_sandbox, leased) for leased in pair] == before  # nothing written
    assert "writes off (read-only" in out.stdout
    # full-text search (Elasticsearch) is off in the sandbox: a capability skipped, not a failure
    report = json.loads((tmp_path / "report.json").read_text())
    assert "full-text search" in report["capabilities"] and "capability skipped: full-text search" in out.stdout
    assert len(report["endpoints"]) >= 25 and not report["breaks"]
    assert not (tmp_path / "state").exists()  # no cleanup list: nothing to clean
    assert not any(leased.token in out.stdout + out.stderr for leased in pair)


def test_remote_writes_need_bot_accounts_and_leave_nothing_behind(mastodon_sandbox, pair, remote, state_dir, tmp_path):
    writes = {**state_dir, **remote, "MASTODON_CONTRACT_WRITES": "1"}
    before = [footprint(mastodon_sandbox, leased) for leased in pair]
    set_bot(mastodon_sandbox, pair[0].token, False)
    refused = contract("--target", "remote", env=writes, cwd=tmp_path)
    assert refused.returncode != 0 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1 and "is not a bot account" in refused.stderr

    for leased in pair:
        set_bot(mastodon_sandbox, leased.token, True)
    out = contract("--target", "remote", env=writes, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["server"]["writes"] == "on" and {"update", "notification"} <= set(report["events"])
    assert report["cleanup"]["created"] >= 8 and report["cleanup"]["left"] == 0, report["cleanup"]
    after = [settled_footprint(mastodon_sandbox, leased, expected) for leased, expected in zip(pair, before)]
    assert after == before  # every status, follow and scheduled status undone
    cleanup_file = tmp_path / "state" / "localhost.json"
    assert json.loads(cleanup_file.read_text())["entries"] == []
    assert stat.S_IMODE(cleanup_file.stat().st_mode) == 0o600
    assert not any(leased.token in out.stdout + out.stderr for leased in pair)


class _Impostor(BaseHTTPRequestHandler):
    """Not Mastodon: an HTML site under /html, a Pleroma under /pleroma (v1 instance only)."""

    def do_GET(self):
        if self.path.startswith("/pleroma/api/v1/instance"):
            self._send(200, "application/json", json.dumps({"uri": "x", "version": "3.0.0 (compatible; Pleroma 2.5.0)"}))
        elif self.path.startswith("/pleroma/"):
            self._send(404, "application/json", '{"error": "Not found"}')
        else:
            self._send(200, "text/html; charset=utf-8", "<!DOCTYPE html><html><body>A blog</body></html>")

    def _send(self, status: int, kind: str, body: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def impostor():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def read_only_token(mastodon_sandbox, pair) -> str:
    """A token of a bot account with the read scope only (the authorization-code flow, as a user gets one)."""
    api(mastodon_sandbox, pair[1].token, "PATCH", "/api/v1/accounts/update_credentials", data={"bot": "true"})
    return Provisioner(mastodon_sandbox).token(pair[1].username, flow="code", scopes="read", reuse=False).access_token


BAD_TARGETS = {
    "unreachable": (lambda s, i, t: {"MASTODON_CONTRACT_URL": "https://127.0.0.1:9"}, "cannot reach 127.0.0.1:9"),
    # The impostor speaks plain HTTP on this machine, which a remote may only with MASTODON_CONTRACT_ALLOW_HTTP.
    "plain http": (lambda s, i, t: {"MASTODON_CONTRACT_URL": f"{i}/html"}, "is plain http: the token would travel in clear text"),
    "html": (lambda s, i, t: {"MASTODON_CONTRACT_URL": f"{i}/html", "MASTODON_CONTRACT_ALLOW_HTTP": "1"}, "answered an HTML page"),
    "not mastodon": (lambda s, i, t: {"MASTODON_CONTRACT_URL": f"{i}/pleroma", "MASTODON_CONTRACT_ALLOW_HTTP": "1"},
                     "is not Mastodon"),
    "botsin.space": (lambda s, i, t: {"MASTODON_CONTRACT_URL": "https://botsin.space"}, "closed in December 2024"),
    "missing scope": (lambda s, i, t: {"MASTODON_CONTRACT_URL": s.url, "MASTODON_CONTRACT_CA": str(s.state.ca_file),
                                       "MASTODON_CONTRACT_TOKEN": t, "MASTODON_CONTRACT_WRITES": "1"},
                      "lacks the write:statuses scope"),
}


@pytest.mark.parametrize("case", list(BAD_TARGETS))
def test_a_bad_remote_target_is_one_line(case, mastodon_sandbox, impostor, read_only_token, state_dir, tmp_path):
    settings, says = BAD_TARGETS[case]
    env = {"MASTODON_CONTRACT_TOKEN": "not-a-real-token", **settings(mastodon_sandbox, impostor, read_only_token),
           "MASTODON_CONTRACT_STATE": str(tmp_path / "state"), **state_dir}
    out = contract("--target", "remote", env=env, cwd=tmp_path)
    assert out.returncode != 0 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and says in out.stderr, out.stderr
    assert read_only_token not in out.stderr
    assert not (tmp_path / "state").exists()


def test_the_stand_in_is_refused_in_one_line(mastodon_sandbox, tmp_path):
    """Whatever state a stand-in sandbox is in, the suite does not run there."""
    fake = tmp_path / "states" / "fake-standin"
    fake.mkdir(parents=True)
    config = json.loads(mastodon_sandbox.state.config_file.read_text())
    (fake / "config.json").write_text(json.dumps({**config, "name": "fake-standin", "server": "standin", "source_dir": None}))
    out = contract("--name", "fake-standin", env={"SANDBOX_STATE_DIR": str(tmp_path / "states")}, cwd=tmp_path)
    assert out.returncode != 0 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "is the offline stand-in, not Mastodon" in out.stderr


def test_a_mention_whose_status_was_deleted_while_reported_is_listed_with_a_null_status(mastodon_sandbox):
    """A mention notification outlives its status when the status is only discarded, not destroyed:
    - DELETE /api/v1/statuses/:id discards it (`@status.discard_with_reblogs`) and queues RemovalWorker
      (app/controllers/api/v1/statuses_controller.rb#destroy);
    - RemoveStatusService ends with `@status.destroy! if permanently?`, and `permanently?` is
      `@options[:immediate] || !(@options[:preserve] || @status.reported?)`; `Status#reported?` is true while an
      unresolved report names the status (app/services/remove_status_service.rb, app/models/status.rb);
    - only `destroy!` takes the mention and its notification along (Status `has_many :mentions, dependent:
      :destroy`, Mention `has_one :notification, dependent: :destroy`; app/models/mention.rb);
    - Status' `default_scope { recent.kept }` hides the discarded status, so Notification#target_status
      (`mention&.status`) is nil and REST::NotificationSerializer's `belongs_to :target_status, key: :status`
      renders `"status": null`.
    Every background step (LocalNotificationWorker, RemovalWorker) is waited for with settle: Sidekiq has
    nothing enqueued, running or due.
    It leaves an unresolved report on a retired pool account."""
    author, recipient = lease(mastodon_sandbox, 2, holder="tests/integration/test_contract_suite.py null status")
    author_id = account(mastodon_sandbox, author.token)["id"]
    status = api(mastodon_sandbox, author.token, "POST", "/api/v1/statuses",
                 data={"status": f"@{recipient.username} soon gone", "visibility": "public"}).json()
    settle(mastodon_sandbox)  # the notification first (LocalNotificationWorker), while its status is there
    [note] = [n for n in api(mastodon_sandbox, recipient.token, "GET", "/api/v1/notifications",
                             params={"types[]": ["mention"], "limit": 40}).json() if n["status"]["id"] == status["id"]]
    api(mastodon_sandbox, recipient.token, "POST", "/api/v1/reports",
        data={"account_id": author_id, "status_ids[]": [status["id"]], "comment": "contract suite: kept on delete"})
    api(mastodon_sandbox, author.token, "DELETE", f"/api/v1/statuses/{status['id']}")
    settle(mastodon_sandbox)  # RemovalWorker: RemoveStatusService ran to its end

    response = api(mastodon_sandbox, recipient.token, "GET", "/api/v1/notifications",
                   params={"types[]": ["mention"], "limit": 40})
    body = response.json()
    [kept] = [n for n in body if n["id"] == note["id"]]
    assert kept["type"] == "mention" and kept["status"] is None, kept
    assert kept["account"]["id"] == author_id
    version = requests.get(mastodon_sandbox.url + "/api/v2/instance", verify=str(mastodon_sandbox.state.ca_file),
                           timeout=30).json()["version"]
    entity = entity_for("GET", "/api/v1/notifications", response.status_code)
    assert entity == "Notification[]" and validate(entity, body, version) == []
