"""`up` on a sandbox that is already up: it starts nothing when every service is healthy, and only the
dead ones when some were killed (Docker does not restart a killed container), without running db:prepare
again; data and tokens survive. Checked with the Docker API on the shared sandbox."""

from __future__ import annotations

import docker
import pytest

from mastodon_sandbox.provision.credentials import Credentials
from tests.conftest import cli

# `up` on the shared sandbox, services killed: nothing else may use it meanwhile (other xdist workers wait).
pytestmark = [pytest.mark.docker, pytest.mark.mastodon_exclusive]


def containers(sandbox) -> dict[str, dict]:
    """{service: {id, started, finished, status}} of the sandbox's containers."""
    client = docker.from_env()
    out = {}
    for c in client.containers.list(all=True, filters={"label": f"com.docker.compose.project={sandbox.config.project}"}):
        st = c.attrs["State"]
        out[c.labels["com.docker.compose.service"]] = {"id": c.id, "started": st["StartedAt"], "finished": st["FinishedAt"], "status": st["Status"]}
    return out


def alice_token_works(sandbox) -> bool:
    token = Credentials.load(sandbox.state).default_token("alice").access_token
    r = sandbox.get("/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"})
    return r.status_code == 200 and r.json()["username"] == "alice"


def test_a_noop_up_starts_no_container(mastodon_sandbox):
    assert cli("up", "--name", mastodon_sandbox.config.name, "--quiet").returncode == 0  # settle any earlier change
    before = containers(mastodon_sandbox)
    again = cli("up", "--name", mastodon_sandbox.config.name)
    assert again.returncode == 0, again.stderr
    assert "nothing to start" in again.stderr
    assert containers(mastodon_sandbox) == before  # same containers, same start times: nothing was started or recreated


def test_a_killed_service_comes_back_alone_with_its_data(mastodon_sandbox):
    before = containers(mastodon_sandbox)
    client = docker.from_env()
    for service in ("web", "sidekiq"):
        client.containers.get(before[service]["id"]).kill()
    status = cli("status", "--name", mastodon_sandbox.config.name)
    assert status.returncode == 1 and "down: sidekiq, web" in status.stdout and "starts them again" in status.stdout

    up = cli("up", "--name", mastodon_sandbox.config.name)
    assert up.returncode == 0, up.stderr
    assert "starting web, sidekiq (db:prepare is current: not run again)" in up.stderr or \
           "starting sidekiq, web (db:prepare is current: not run again)" in up.stderr, up.stderr
    after = containers(mastodon_sandbox)
    for service in ("web", "sidekiq"):
        assert after[service]["status"] == "running" and after[service]["started"] != before[service]["started"]
    for service in ("db", "redis", "proxy", "streaming"):
        assert after[service] == before[service], service  # healthy services were left alone
    assert after["db-prepare"] == before["db-prepare"]  # db:prepare did not run again
    assert alice_token_works(mastodon_sandbox)
