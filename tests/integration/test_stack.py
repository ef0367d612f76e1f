"""The stack on real Docker: readiness, trusted HTTPS end to end, the lifecycle (down/up keeps data and
secrets, sandboxes side by side, destroy), and one-line errors for bad input.

The shared sandbox (`make up`) is only read here; lifecycle tests make their own named sandboxes on
other ports, with the same server as the shared one, and destroy them.
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time
from pathlib import Path

import docker
import pytest
import requests
import websocket

from mastodon_sandbox.state import State, read_env_file

pytestmark = pytest.mark.docker
from tests.conftest import cli, server_args


# --- the shared sandbox -------------------------------------------------------------------------

def test_every_service_is_healthy(mastodon_sandbox):
    states = {s.service: s for s in mastodon_sandbox.stack.services()}
    assert {"db", "redis", "db-prepare", "web", "streaming", "sidekiq", "proxy"} <= set(states)
    assert all(s.ready for s in states.values()), states


def test_instance_over_https_verified_by_the_sandbox_ca(mastodon_sandbox):
    r = mastodon_sandbox.get("/api/v2/instance")
    assert r.status_code == 200 and r.json()["domain"] == mastodon_sandbox.config.domain
    if mastodon_sandbox.config.server == "standin":
        assert r.json()["version"].endswith("+standin")


def test_without_the_ca_the_certificate_is_not_trusted(mastodon_sandbox):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(mastodon_sandbox.url + "/health", verify=requests.certs.where(), timeout=10)


def test_the_exported_bundle_works_with_pythons_default_context(mastodon_sandbox):
    ctx = ssl.create_default_context(cafile=str(mastodon_sandbox.state.bundle_file))
    with socket.create_connection(("127.0.0.1", mastodon_sandbox.config.port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            assert tls.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")


def test_streaming_url_takes_a_verified_websocket_handshake(mastodon_sandbox):
    streaming = mastodon_sandbox.get("/api/v1/instance").json()["urls"]["streaming_api"]
    assert streaming == f"wss://{mastodon_sandbox.config.domain}"
    # No token, so the upgrade is refused — but only after a TLS handshake verified by the CA.
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(f"{streaming}/api/v1/streaming?stream=public", sslopt={"ca_certs": str(mastodon_sandbox.state.ca_file)}, timeout=10)
    assert e.value.status_code >= 400
    with pytest.raises(ssl.SSLError):
        websocket.create_connection(f"{streaming}/api/v1/streaming?stream=public", sslopt={"ca_certs": requests.certs.where()}, timeout=10)


def test_urls_the_api_returns_load_from_the_host_over_https(mastodon_sandbox):
    instance = mastodon_sandbox.get("/api/v2/instance").json()
    meta = mastodon_sandbox.get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == f"{mastodon_sandbox.url}/"
    urls = [instance["thumbnail"]["url"], meta["issuer"], meta["authorization_endpoint"], mastodon_sandbox.url + "/api/v1/streaming/health"]
    for url in urls:
        assert url.startswith(mastodon_sandbox.url + "/"), url
        r = requests.get(url, verify=str(mastodon_sandbox.state.ca_file), timeout=10, allow_redirects=False)
        assert r.status_code in (200, 302), (url, r.status_code)


def test_a_foreign_host_header_is_refused(mastodon_sandbox):
    r = mastodon_sandbox.get("/api/v2/instance", headers={"Host": "evil.example"})
    assert r.status_code == 403 and r.text == ""


def test_proxy_access_log_drops_query_strings(mastodon_sandbox):
    marker = "sandboxlogcheck0123456789"
    mastodon_sandbox.get(f"/api/v1/instance?access_token={marker}")
    logs = mastodon_sandbox.stack.logs("proxy", tail=200)
    assert "GET /api/v1/instance" in logs and marker not in logs


def test_env_exports_point_at_the_sandbox(mastodon_sandbox):
    out = cli("env", "--name", mastodon_sandbox.config.name)
    assert out.returncode == 0, out.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines())
    assert exports["MASTODON_API_BASE_URL"] == mastodon_sandbox.url
    assert Path(exports["REQUESTS_CA_BUNDLE"]) == mastodon_sandbox.state.bundle_file
    # The exported bundle keeps other sites' CAs working and trusts the sandbox.
    assert requests.get(mastodon_sandbox.url + "/health", verify=exports["REQUESTS_CA_BUNDLE"], timeout=10).text == "OK"


# --- lifecycle, on sandboxes of their own --------------------------------------------------------

def _tootctl(name: str, *args: str) -> subprocess.CompletedProcess:
    from mastodon_sandbox.stack import Stack

    state = State(name)
    return Stack(state.load_config(), state).exec("web", ["tootctl", *args])


def test_down_then_up_keeps_data_and_secrets(make_sandbox):
    up = make_sandbox("it-life", 38443, "--pool-size", "0", provision=True)
    assert up.returncode == 0, up.stderr
    state = State("it-life")
    created = _tootctl("it-life", "accounts", "create", "keeper", "--email", "keeper@example.test", "--confirmed", "--approve")
    assert created.returncode == 0 and "New password:" in created.stdout
    secrets_before = read_env_file(state.dir / "secrets.env")
    ca_before = state.ca_file.read_bytes()
    creds_before = state.credentials_file.read_bytes()
    token = cli("token", "alice", "--name", "it-life").stdout.strip()

    assert cli("down", "--name", "it-life").returncode == 0
    assert not any(s.state == "running" for s in __import__("mastodon_sandbox.stack", fromlist=["Stack"]).Stack(state.load_config(), state).services())
    # PostgreSQL's clean shutdown touches its volume's folder, whose time Docker reports as the volume's
    # CreatedAt (to the second): an `up` a moment later once took that for a new database.
    time.sleep(2.1)
    again = make_sandbox("it-life", 38443)
    assert again.returncode == 0, again.stderr
    assert "database is new" not in again.stderr + again.stdout and "db:prepare runs" not in again.stderr + again.stdout

    assert read_env_file(state.dir / "secrets.env") == secrets_before
    assert state.ca_file.read_bytes() == ca_before
    assert state.credentials_file.read_bytes() == creds_before and not list(state.dir.glob("credentials-before-*"))
    me = requests.get("https://localhost:38443/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"},
                      verify=str(state.ca_file), timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "alice"
    r = requests.get("https://localhost:38443/api/v1/accounts/lookup", params={"acct": "keeper"}, verify=str(state.ca_file), timeout=10)
    assert r.status_code == 200 and r.json()["username"] == "keeper"


@pytest.mark.harness_only  # names, ports and CAs per sandbox are the harness's; real Mastodon's own domain is checked on the shared sandbox
def test_two_named_sandboxes_run_side_by_side(make_sandbox):
    a, b = make_sandbox("it-a", 38444), make_sandbox("it-b", 38445)
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    sa, sb = State("it-a"), State("it-b")
    ra = requests.get("https://localhost:38444/api/v2/instance", verify=str(sa.ca_file), timeout=10)
    rb = requests.get("https://localhost:38445/api/v2/instance", verify=str(sb.ca_file), timeout=10)
    assert ra.json()["domain"] == "localhost:38444" and rb.json()["domain"] == "localhost:38445"
    # Each has its own CA: one sandbox's CA does not vouch for the other.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get("https://localhost:38445/health", verify=str(sa.ca_file), timeout=10)


@pytest.mark.harness_only  # what destroy removes is the harness's, whatever the server
def test_destroy_removes_containers_volumes_and_state(make_sandbox):
    assert make_sandbox("it-gone", 38446).returncode == 0
    refused = cli("destroy", "--name", "it-gone")  # no --yes and no terminal: refused, nothing removed
    assert refused.returncode != 0 and "--yes" in refused.stderr and State("it-gone").exists()
    assert cli("destroy", "--name", "it-gone", "--yes").returncode == 0
    client = docker.from_env()
    label = "com.docker.compose.project=mastodon-sandbox-it-gone"
    assert client.containers.list(all=True, filters={"label": label}) == []
    assert client.volumes.list(filters={"label": label}) == []
    assert not State("it-gone").dir.exists()


# --- bad input: one line, non-zero, nothing lost ------------------------------------------------

def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mastodon-sandbox:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_busy_port_is_refused_before_anything_is_created(mastodon_sandbox):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        msg = _one_line_error(cli("up", "--name", "it-busy", "--port", str(port), *server_args(mastodon_sandbox)))
    assert f"127.0.0.1:{port} is taken" in msg and "--port" in msg
    suggested = int(msg.rsplit("--port ", 1)[1].split()[0])
    with socket.socket() as s:
        s.bind(("127.0.0.1", suggested))  # the port it suggests is free


def test_unknown_version_and_downgrade_are_refused(mastodon_sandbox):
    assert "unknown Mastodon version" in _one_line_error(cli("up", "--name", "it-ver", "--version", "3.5"))
    if mastodon_sandbox.config.release.version != "4.3.24":
        msg = _one_line_error(cli("up", "--name", mastodon_sandbox.config.name, "--version", "4.3"))
        assert "refused" in msg
        assert mastodon_sandbox.get("/health").text == "OK"  # the running sandbox is untouched


def test_docker_absent_or_stopped_is_one_line(mastodon_sandbox, tmp_path):
    no_docker = cli("up", "--name", "it-nodocker", env={"PATH": str(tmp_path)})
    assert "Docker is not installed" in _one_line_error(no_docker)
    stopped = cli("up", "--name", "it-nodocker", env={"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"})
    assert "not reachable" in _one_line_error(stopped)
    assert not State("it-nodocker").exists()


def test_media_path_reaches_the_bucket_and_reads_need_no_credentials(mastodon_sandbox):
    if mastodon_sandbox.config.s3 == "local":
        pytest.skip("media on local disk: no bucket behind /s3-media/")
    # A missing object answers NoSuchKey (404), not AccessDenied (403): the proxy reaches the bucket
    # and anonymous reads are allowed, as media URLs need.
    r = mastodon_sandbox.get("/s3-media/media_attachments/files/none.png")
    assert r.status_code == 404 and "NoSuchKey" in r.text


def test_doctor_tells_a_taken_port_from_the_sandboxs_own(mastodon_sandbox):
    own = cli("doctor", "--name", mastodon_sandbox.config.name)
    assert own.returncode == 0, own.stdout
    assert any(line.startswith("ok   port") and "served by sandbox" in line for line in own.stdout.splitlines())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = cli("doctor", "--name", mastodon_sandbox.config.name, "--port", str(s.getsockname()[1]))
    assert busy.returncode == 1
    assert any(line.startswith("FAIL port") for line in busy.stdout.splitlines())
    assert any(line.startswith("ok   docker engine") for line in busy.stdout.splitlines())


def test_mail_lists_and_prints_what_mastodon_sent(mastodon_sandbox):
    import time
    import uuid

    from mastodon_sandbox.provision.credentials import Credentials

    owner = next(a for a in mastodon_sandbox.config.accounts if a.role == "Owner")
    staff = Credentials.load(mastodon_sandbox.state).account(owner.username).email
    confirmed, pending = f"mail{uuid.uuid4().hex[:8]}", f"mail{uuid.uuid4().hex[:8]}"
    # Confirmed while registrations are closed, the account is pending until tootctl's approve! runs:
    # AdminMailer#new_pending_account goes to the staff (User#notify_staff_about_pending_account!).
    made = mastodon_sandbox.stack.exec("web", ["tootctl", "accounts", "create", confirmed, "--email", f"{confirmed}@{mastodon_sandbox.config.email_domain}",
                                      "--confirmed", "--approve"])
    assert made.returncode == 0, made.stderr
    # Without --confirmed, Devise mails the new user a confirmation link (UserMailer#confirmation_instructions).
    address = f"{pending}@{mastodon_sandbox.config.email_domain}"
    made = mastodon_sandbox.stack.exec("web", ["tootctl", "accounts", "create", pending, "--email", address])
    assert made.returncode == 0, made.stderr
    subject = f"Subject: New account up for review on {mastodon_sandbox.config.domain} ({confirmed})"
    deadline = time.monotonic() + 60
    while subject not in cli("mail", staff, "--name", mastodon_sandbox.config.name).stdout or address not in cli("mail", "--name", mastodon_sandbox.config.name).stdout:
        assert time.monotonic() < deadline, "the staff notice and the confirmation mail did not both arrive within 60 s"
        time.sleep(1)
    message = cli("mail", address, "--name", mastodon_sandbox.config.name)
    assert message.returncode == 0 and f"To: {address}" in message.stdout
    assert re.search(rf"^Subject: Mastodon: Confirmation instructions for {re.escape(mastodon_sandbox.config.domain)}\r?$", message.stdout, re.MULTILINE)
    assert "/auth/confirmation?confirmation_token=" in message.stdout.replace("=\r\n", "").replace("=\n", "")
    for user in (confirmed, pending):
        mastodon_sandbox.stack.exec("web", ["tootctl", "accounts", "delete", user])


def test_an_email_change_is_confirmed_then_announced(mastodon_sandbox):
    """`tootctl accounts modify --email` keeps the old address until the new one is confirmed (Devise
    reconfirmable) and mails the new one "Confirm email for …"; `--confirm` swaps it in and Devise's
    e-mail-changed notice follows (config/initializers/devise.rb send_email_changed_notification), to the
    old address (Devise passes `to:` the address before the change; seen on real v4.6.5)."""
    import json
    import time
    import uuid

    from mastodon_sandbox import server_commands

    def tootctl(*argvs: list[str]) -> list[dict]:
        """Several tootctl commands in one Rails boot (the tootctl_batch script: each answers as alone)."""
        p = mastodon_sandbox.stack.exec("web", server_commands.tootctl_batch()[1], input=json.dumps(list(argvs)))
        assert p.returncode == 0, p.stderr
        return json.loads([x for x in p.stdout.splitlines() if x.startswith("SANDBOX-JSON ")][-1][13:])

    user = f"mail{uuid.uuid4().hex[:8]}"
    old, new = f"{user}@{mastodon_sandbox.config.email_domain}", f"{user}.new@{mastodon_sandbox.config.email_domain}"
    made, changed = tootctl(["accounts", "create", user, "--email", old, "--confirmed", "--approve"],
                            ["accounts", "modify", user, "--email", new])
    assert made["status"] == 0 and changed["status"] == 0, (made["stderr"], changed["stderr"])

    def wait_for(address: str, subject: str) -> str:
        deadline = time.monotonic() + 60
        while True:
            text = cli("mail", address, "--name", mastodon_sandbox.config.name).stdout
            if re.search(rf"^Subject: {re.escape(subject)}\r?$", text, re.MULTILINE):
                return text
            assert time.monotonic() < deadline, f"no mail {subject!r} to {address} within 60 s"
            time.sleep(1)

    wait_for(new, f"Mastodon: Confirm email for {mastodon_sandbox.config.domain}")
    found, confirmed = tootctl(["accounts", "delete", "--email", new, "--dry-run"], ["accounts", "modify", user, "--confirm"])
    assert "No user with such email" in found["stdout"] + found["stderr"]  # not swapped in before confirmation
    assert confirmed["status"] == 0, confirmed["stderr"]
    wait_for(old, "Mastodon: Email changed")
    assert "Email changed" not in cli("mail", new, "--name", mastodon_sandbox.config.name).stdout
    tootctl(["accounts", "delete", user])


def test_the_database_is_utf8_on_every_server(mastodon_sandbox):
    # Mastodon's db:prepare creates its database as UTF8 from template1; a SQL_ASCII cluster refuses
    # that on real Mastodon and stores emoji as raw bytes on the stand-in.
    sql = "SELECT datname || '=' || pg_encoding_to_char(encoding) FROM pg_database WHERE datname IN ('template1', 'mastodon_production') ORDER BY 1"
    proc = mastodon_sandbox.stack.exec("db", ["psql", "-U", "postgres", "-tAc", sql])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["mastodon_production=UTF8", "template1=UTF8"]


@pytest.mark.mastodon_exclusive  # the shared sandbox's registration mode changes while it runs
def test_a_changed_registration_mode_shows_in_the_instance_at_once(mastodon_sandbox):
    """`up --registrations` on an existing sandbox applies the mode with tootctl; Mastodon keeps the instance
    bodies cached 3 minutes (CacheConcern#render_with_cache), so `up` clears the cache and clients see the
    new mode at once."""
    name = mastodon_sandbox.config.name
    before = mastodon_sandbox.config.registrations
    mastodon_sandbox.get("/api/v2/instance").raise_for_status()  # the body is now cached with the old mode
    try:
        out = cli("up", "--name", name, "--registrations", "open", "--quiet")
        assert out.returncode == 0, out.stderr
        body = mastodon_sandbox.get("/api/v2/instance").json()
        assert body["registrations"]["enabled"] is True and body["registrations"]["approval_required"] is False
    finally:
        assert cli("up", "--name", name, "--registrations", before, "--quiet").returncode == 0
    body = mastodon_sandbox.get("/api/v2/instance").json()
    assert body["registrations"]["enabled"] is (before != "none")
