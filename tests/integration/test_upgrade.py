"""An upgrade with Mastodon's migrations: a sandbox made at the oldest release its server offers (4.3,
whose password grant is gone from 4.4), with accounts, tokens, an app, the registration mode and, on real
Mastodon, a status and media; then `up --version` to the shared sandbox's release. Everything is kept,
a second `up` is a no-op, and going back is refused with one line and changes nothing."""

from __future__ import annotations

import io
import time

import requests

import pytest

from mastodon_sandbox.config import RELEASES, SOURCE_RELEASES
from mastodon_sandbox.provision.credentials import Credentials
from mastodon_sandbox.state import State
from tests.conftest import cli
from tests.integration.test_bot_walk import TEXT, png

pytestmark = pytest.mark.docker

NAME, PORT = "it-upgrade", 38448


def oldest_version(server: str) -> str:
    table = SOURCE_RELEASES if server == "source" else RELEASES
    return min(table.values(), key=lambda r: r.key()).version


def test_an_upgrade_keeps_data_tokens_and_settings(mastodon_sandbox, make_sandbox):
    import mastodon

    old, new = oldest_version(mastodon_sandbox.config.server), mastodon_sandbox.config.release
    made = make_sandbox(NAME, PORT, "--version", old, "--registrations", "open", "--pool-size", "1", provision=True)
    assert made.returncode == 0, made.stderr
    state = State(NAME)
    session = requests.Session()
    session.verify, session.trust_env = str(state.ca_file), False
    base = f"https://localhost:{PORT}"

    def get(path, token=None):
        return session.get(base + path, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=15)

    assert get("/api/v2/instance").json()["version"].startswith(old)
    creds = Credentials.load(state)
    tokens = {u: creds.default_token(u).access_token for u in creds.data["defaults"]}
    app = creds.app("mastodon-sandbox")
    real = mastodon_sandbox.config.server != "standin"
    if real:
        api = mastodon.Mastodon(access_token=tokens["alice"], api_base_url=base, session=session)
        status = api.status_post(TEXT)
        media = api.media_post(io.BytesIO(png()), mime_type="image/png", description="kept")
        deadline = time.monotonic() + 60
        while not api.media(media["id"])["url"] and time.monotonic() < deadline:
            time.sleep(0.5)
        media_url = api.media(media["id"])["url"]
        assert session.get(media_url, timeout=15).status_code == 200

    started = time.monotonic()
    upgraded = cli("up", "--name", NAME, "--version", new.series)
    print(f"\n[upgrade] {mastodon_sandbox.config.server} server: Mastodon {old} -> {new.version} in {time.monotonic() - started:.0f} s")
    assert upgraded.returncode == 0, upgraded.stderr
    # The old code stops before the migrations run (upstream's upgrade without zero downtime).
    assert f"upgrading Mastodon {old} -> {new.version}: stopping web, streaming and Sidekiq" in upgraded.stderr
    assert upgraded.stderr.index("stopping web") < upgraded.stderr.index("db:prepare runs")
    instance = get("/api/v2/instance").json()
    assert instance["version"].startswith(new.version) and instance["registrations"]["enabled"] is True
    assert state.load_config().version == new.version

    for user, token in tokens.items():  # the same tokens, unchanged, still work
        assert get("/api/v1/accounts/verify_credentials", token).json()["username"] == user
    client = session.post(base + "/oauth/token", data={"grant_type": "client_credentials", "client_id": app.client_id,
                                                        "client_secret": app.client_secret, "scope": "read"}, timeout=15)
    assert client.status_code == 200  # the app registered on the old version still works
    if real:
        assert TEXT in get(f"/api/v1/statuses/{status['id']}", tokens["alice"]).json()["content"]
        served = session.get(media_url, timeout=15)
        assert served.status_code == 200 and served.content.startswith(b"\x89PNG")

    again = cli("up", "--name", NAME)
    assert again.returncode == 0 and "nothing to start" in again.stderr, again.stderr
    config_before = state.config_file.read_text()
    refused = cli("up", "--name", NAME, "--version", old)
    lines = [line for line in refused.stderr.splitlines() if line.startswith("mastodon-sandbox:")]
    assert refused.returncode != 0 and len(lines) == 1 and "refused" in lines[0]
    assert state.config_file.read_text() == config_before
    assert get("/api/v2/instance").json()["version"].startswith(new.version)
