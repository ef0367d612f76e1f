"""tootctl and `bin/rails runner` inside a running web container, against the real v4.6.5 tootctl recordings.

Runs in the web container of the running sandbox (the `sandbox` fixture of tests/conftest.py); creates a few
uniquely named accounts."""
from __future__ import annotations

import json
import os
import re
import secrets

import pytest

from mastodon_sandbox import server_commands
from tests.corpus import exchange

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

pytestmark = [
    pytest.mark.docker,
]


@pytest.fixture(scope="module")
def web(mastodon_sandbox):
    """Runs a command in the web container (as `docker exec -i WEB …`)."""
    return lambda *argv, stdin=None: mastodon_sandbox.stack.exec("web", list(argv), input=stdin)



def lines(s: str) -> list[str]:
    """Output lines without log lines (Sidekiq's "connecting to Redis") and colours."""
    s = re.sub(r"\x1b\[[0-9;]*m", "", s)
    return [x for x in s.splitlines() if x.strip() and not re.match(r"^(INFO|WARN|DEBUG|ERROR)\s", x)]


def recorded(label: str, flow: str = "f2-tootctl.jsonl") -> dict:
    return exchange(flow, label)


@pytest.fixture(scope="module")
def tag() -> str:
    return secrets.token_hex(3)


def test_create_prints_ok_and_a_32_hex_password(web, tag):
    p = web("tootctl", "accounts", "create", f"st{tag}", "--email", f"st{tag}@example.test", "--confirmed",
            "--approve")
    assert p.returncode == 0, p.stderr
    out = lines(p.stdout)
    assert out[0] == "OK" and re.fullmatch(r"New password: [0-9a-f]{32}", out[1])


@pytest.mark.parametrize("label,argv", [
    ("create bad email", ["accounts", "create", "dave", "--email", "not-an-email"]),
    ("create unknown role", ["accounts", "create", "erin", "--email", "erin@example.test", "--role", "Wizard"]),
    ("approve unknown", ["accounts", "approve", "nobody"]),
    ("modify unknown", ["accounts", "modify", "nobody", "--confirm"]),
])
def test_errors_match_mastodon(web, label, argv):
    ref = recorded(label)
    p = web("tootctl", *argv)
    assert (p.returncode, lines(p.stdout), p.stderr) == (ref["rc"], lines(ref["stdout"]), ref["stderr"])


def test_duplicate_username(web, tag):
    web("tootctl", "accounts", "create", f"dup{tag}", "--email", f"dup{tag}@example.test")
    p = web("tootctl", "accounts", "create", f"dup{tag}", "--email", f"dup{tag}b@example.test")
    ref = recorded("create duplicate")
    assert (p.returncode, p.stderr) == (ref["rc"], ref["stderr"])


def test_unknown_subcommand_and_delete_unknown(web):
    for label, argv in (("registrations bogus", ["settings", "registrations", "bogus"]),
                        ("delete unknown", ["accounts", "delete", "nobody"])):
        ref = recorded(label, "f9-tootctl-streaming.jsonl")
        p = web("tootctl", *argv)
        assert (p.returncode, p.stderr) == (ref["rc"], ref["stderr"]), label


def test_modify_sequence(web, tag):
    """Each modify prints OK; --reset-password a new password; delete its line and OK. One Rails boot for the
    sequence (the tootctl_batch script, which answers as separate `tootctl` calls do: the test below)."""
    user = f"mod{tag}"
    flags = (["--confirm"], ["--approve"], ["--role", "Moderator"], ["--remove-role"], ["--disable"], ["--enable"])
    argvs = [["accounts", "create", user, "--email", f"{user}@example.test"],
             *(["accounts", "modify", user, *flag] for flag in flags),
             ["accounts", "modify", user, "--reset-password"], ["accounts", "delete", user]]
    p = web(*server_commands.tootctl_batch()[1], stdin=json.dumps(argvs))
    assert p.returncode == 0, p.stderr
    created, *modified, reset, deleted = json.loads([x for x in p.stdout.splitlines() if x.startswith("SANDBOX-JSON ")][-1][13:])
    assert created["status"] == 0, created["stderr"]
    for flag, answer in zip(flags, modified):
        assert (answer["status"], lines(answer["stdout"])) == (0, ["OK"]), flag
    assert reset["status"] == 0 and re.fullmatch(r"New password: [0-9a-f]{32}", lines(reset["stdout"])[-1])
    assert (deleted["status"], lines(deleted["stdout"])) == (0, ["Deleting user with 0 statuses, this might take a while...",
                                                                 "OK"])


def test_bulk_accounts_contract(web, tag):
    script = server_commands.script_text("bulk_accounts")
    spec = {"app": {"name": f"pool-{tag}", "scopes": "read write follow push",
                    "redirect_uri": "urn:ietf:wg:oauth:2.0:oob"},
            "password": secrets.token_hex(16), "email_domain": "example.test",
            "accounts": [{"username": f"pool{tag}_{i}", "email": f"pool{tag}_{i}@example.test", "role": None}
                         for i in range(2)]}
    first = web("bin/rails", "runner", script, stdin=json.dumps(spec))
    assert first.returncode == 0, first.stderr
    doc = json.loads([x for x in first.stdout.splitlines() if x.startswith("SANDBOX-JSON ")][-1][13:])
    assert doc["app"]["scopes"] == "read write follow push" and doc["app"]["client_id"]
    assert [a["created"] for a in doc["accounts"]] == [True, True]
    assert all(a["id"].isdigit() and a["token"] and a["scopes"] == "read write follow push"
               for a in doc["accounts"])
    again = web("bin/rails", "runner", script, stdin=json.dumps(spec))
    doc2 = json.loads([x for x in again.stdout.splitlines() if x.startswith("SANDBOX-JSON ")][-1][13:])
    assert [a["created"] for a in doc2["accounts"]] == [False, False]
    assert [a["token"] for a in doc2["accounts"]] == [a["token"] for a in doc["accounts"]]
    assert doc2["app"]["id"] == doc["app"]["id"]


def test_tootctl_batch_answers_as_separate_calls_do(web, tag):
    """Several tootctl commands in one Rails boot read as separate calls: OK and a password, the recorded
    errors (f2) with their exit status, each command's output apart from the others'."""
    user = f"bat{tag}"
    argvs = [["accounts", "create", user, "--email", f"{user}@example.test", "--confirmed", "--approve"],
             ["accounts", "create", user, "--email", f"{user}b@example.test"],
             ["accounts", "create", "dave", "--email", "not-an-email"],
             ["accounts", "create", "erin", "--email", "erin@example.test", "--role", "Wizard"],
             ["accounts", "modify", user, "--reset-password"]]
    p = web(*server_commands.tootctl_batch()[1], stdin=json.dumps(argvs))
    assert p.returncode == 0, p.stderr
    answers = json.loads([x for x in p.stdout.splitlines() if x.startswith("SANDBOX-JSON ")][-1][13:])
    assert len(answers) == len(argvs)
    created, duplicate, bad_email, bad_role, reset = answers
    assert created["status"] == 0 and lines(created["stdout"])[0] == "OK"
    assert re.fullmatch(r"New password: [0-9a-f]{32}", lines(created["stdout"])[1])
    for answer, label in ((duplicate, "create duplicate"), (bad_email, "create bad email"), (bad_role, "create unknown role")):
        ref = recorded(label)
        assert (answer["status"], answer["stderr"]) == (ref["rc"], ref["stderr"]), label
    assert reset["status"] == 0 and re.fullmatch(r"New password: [0-9a-f]{32}", lines(reset["stdout"])[-1])
    assert lines(reset["stdout"])[-1] != lines(created["stdout"])[1]


@pytest.mark.standin_only
def test_stand_in_refuses_other_runner_code(web):
    p = web("bin/rails", "runner", "puts 1")
    assert p.returncode == 1 and "only runs the scripts mastodon-sandbox ships" in p.stderr


def _web_address(sandbox) -> str:
    """The web container's address on its Compose network: Puma's plain-HTTP port is not published."""
    from mastodon_sandbox.docker_env import docker_client

    [web] = docker_client().containers.list(filters={"label": [f"com.docker.compose.project={sandbox.config.project}",
                                                                "com.docker.compose.service=web"]})
    networks = web.attrs["NetworkSettings"]["Networks"]
    return next(n["IPAddress"] for name, n in networks.items() if name.endswith("_external"))  # the host can reach it


def test_plain_http_is_redirected_to_https(mastodon_sandbox):
    """ActionDispatch::SSL (config.force_ssl, config/environments/production.rb): GET gets 301 (recorded in f1),
    other methods 308, the method kept (ActionDispatch::SSL#redirection_status with load_defaults 8.1's
    ssl_default_redirect_status; config/application.rb). /health stays plain (f1)."""
    import requests

    base = f"http://{_web_address(mastodon_sandbox)}:3000"
    host = {"Host": mastodon_sandbox.config.domain}
    ref = recorded("plain http", "f1-health-https.jsonl")
    got = requests.get(f"{base}/about", headers=host, allow_redirects=False, timeout=30)
    assert (got.status_code, got.headers["Location"]) == (ref["response"]["status"], f"https://{mastodon_sandbox.config.domain}/about")
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        got = requests.request(method, f"{base}/api/v1/apps?x=1", headers=host, allow_redirects=False, timeout=30)
        assert (got.status_code, got.headers["Location"]) == (308, f"https://{mastodon_sandbox.config.domain}/api/v1/apps?x=1"), method
    assert requests.get(f"{base}/health", headers=host, timeout=30).status_code == 200
