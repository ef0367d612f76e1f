"""Seeding, settling and running due work on a sandbox of its own (seeding needs real Mastodon; on the
stand-in it is refused in one line before anything is made)."""

from __future__ import annotations

import time

import pytest
import requests

from mastodon_sandbox.data.plan import render
from mastodon_sandbox.data.scenario import load
from mastodon_sandbox.handle import Sandbox
from mastodon_sandbox.state import State
from tests.conftest import cli, server_args
from tests.interruptions import interrupt

pytestmark = pytest.mark.docker

NAME, PORT, SEED = "it-seed", 38451, 3


@pytest.fixture(scope="module")
def seeded(mastodon_sandbox):
    made = cli("up", "--name", NAME, "--port", str(PORT), *server_args(mastodon_sandbox), "--version", mastodon_sandbox.config.version,
               "--pool-size", "0", "--quiet")
    try:
        assert made.returncode == 0, made.stderr
        # Killed midway through its steps, as a developer's Ctrl-\\ or a CI timeout would: the next `seed`
        # starts over from the state before it, and everything below checks the result as if uninterrupted.
        cut = interrupt(["seed", "--name", NAME, "--scenario", "small", "--seed", str(SEED)], 3, ready_line="steps through the API")
        assert cut.returncode == -9 and (State(NAME).seeding_file).exists(), cut.stderr[-3000:]
        out = cli("seed", "--name", NAME, "--scenario", "small", "--seed", str(SEED))
        assert out.returncode == 0 and "was cut short" in out.stderr, out.stderr[-3000:]
        sb = Sandbox.open(NAME)
        assert not sb.state.seeding_file.exists()
        assert [line.split()[0] for line in cli("snapshot", "list", "--name", NAME).stdout.splitlines()] == ["seeded"]
        yield sb, sb.state.read_json(sb.state.dir / "seed.json")
    finally:
        cli("destroy", "--name", NAME, "--yes")


def as_user(sb: Sandbox, username: str) -> requests.Session:
    from mastodon_sandbox.provision.credentials import Credentials

    token = Credentials.load(sb.state).token(username, "bulk", "read write follow push").access_token
    s = requests.Session()
    s.verify, s.trust_env = str(sb.state.ca_file), False
    s.headers["Authorization"] = f"Bearer {token}"
    return s


@pytest.mark.needs_mastodon
def test_the_summary_names_what_was_made_and_matches_the_plan(seeded):
    sb, summary = seeded
    plan = render(load("small"), SEED, 1, sb.config.domain, sb.config.email_domain)
    assert [a["username"] for a in summary["accounts"].values()] == [a["username"] for a in plan.accounts]
    assert len(summary["statuses"]) == plan.counts()["status"] and summary["lists"] and summary["scheduled"]
    assert (summary["scenario"], summary["seed"], summary["mastodon"]) == ("small", SEED, sb.config.release.version)


@pytest.mark.needs_mastodon
def test_profiles_have_names_fields_and_pictures_in_s3(seeded):
    sb, summary = seeded
    plan = {a["key"]: a for a in render(load("small"), SEED, 1, sb.config.domain, sb.config.email_domain).accounts}
    for key, acct in summary["accounts"].items():
        got = sb.get(f"/api/v1/accounts/{acct['id']}").json()
        assert got["display_name"] == plan[key]["display_name"] and got["locked"] is plan[key]["locked"]
        assert [f["name"] for f in got["fields"]] == ["Website", "Pronouns"]
        assert "missing" not in got["avatar"] and "/s3-media/" in got["avatar"], got["avatar"]
        assert sb.get(got["avatar"][len(sb.url):]).status_code == 200


@pytest.mark.needs_mastodon
def test_statuses_media_polls_and_timelines_are_there(seeded):
    sb, summary = seeded
    with_media = [s for s in summary["statuses"].values() if s["media_ids"]]
    assert with_media
    status = sb.get(f"/api/v1/statuses/{with_media[0]['id']}").json()
    media = status["media_attachments"][0]
    assert media["description"] and media["url"].startswith(sb.url + "/s3-media/")
    assert requests.get(media["url"], verify=str(sb.state.ca_file), timeout=10).status_code == 200
    polled = next(s for s in summary["statuses"].values() if s["poll_id"])
    poll = as_user(sb, summary["accounts"][polled["actor"]]["username"]).get(f"{sb.url}/api/v1/polls/{polled['poll_id']}", timeout=10).json()
    assert poll["votes_count"] >= 1  # others voted
    # a follower's home timeline holds what those they follow posted (fan-out by Sidekiq, settled by seed)
    follower = next(iter(summary["accounts"].values()))
    home = as_user(sb, follower["username"]).get(f"{sb.url}/api/v1/timelines/home", timeout=10).json()
    assert any(s["account"]["id"] != follower["id"] for s in home), home
    notes = [as_user(sb, a["username"]).get(f"{sb.url}/api/v1/notifications", timeout=10).json() for a in summary["accounts"].values()]
    assert any(notes), "seeding made no notifications"


@pytest.mark.needs_mastodon
def test_seeding_again_is_refused_and_changes_nothing(seeded):
    sb, summary = seeded
    before = sb.state.read_json(sb.state.dir / "seed.json")
    out = cli("seed", "--name", NAME)
    assert out.returncode == 1 and "was seeded already" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert sb.state.read_json(sb.state.dir / "seed.json") == before


@pytest.mark.needs_mastodon
def test_run_due_publishes_scheduled_statuses_now(seeded):
    sb, summary = seeded
    ref, scheduled = next(iter(summary["scheduled"].items()))
    user = as_user(sb, summary["accounts"][scheduled["actor"]]["username"])
    assert any(s["id"] == scheduled["id"] for s in user.get(f"{sb.url}/api/v1/scheduled_statuses", timeout=10).json())
    out = cli("run-due", "--name", NAME, "--within", str(30 * 24 * 3600))
    assert out.returncode == 0 and "published" in out.stdout, out.stderr
    assert not any(s["id"] == scheduled["id"] for s in user.get(f"{sb.url}/api/v1/scheduled_statuses", timeout=10).json())
    account_id = summary["accounts"][scheduled["actor"]]["id"]
    deadline = time.monotonic() + 30
    while True:
        posted = user.get(f"{sb.url}/api/v1/accounts/{account_id}/statuses", timeout=10).json()
        if len(posted) > sum(1 for s in summary["statuses"].values() if s["actor"] == scheduled["actor"] and s["visibility"] != "direct"):
            break
        assert time.monotonic() < deadline, "the scheduled status was not published"
        time.sleep(1)


@pytest.mark.needs_mastodon
def test_reset_returns_to_the_seeded_state_database_redis_and_files(seeded):
    """After a post and the deletion of a seeded status with its media, `reset` brings back the seeded state:
    the post is gone, the status and its media file are back, the tokens and a new post work at once."""
    sb, summary = seeded
    actor = next(s for s in summary["statuses"].values() if s["media_ids"] and s["visibility"] == "public")
    user = as_user(sb, summary["accounts"][actor["actor"]]["username"])
    account_id = summary["accounts"][actor["actor"]]["id"]
    before = [s["id"] for s in user.get(f"{sb.url}/api/v1/accounts/{account_id}/statuses", timeout=10).json()]
    media_url = sb.get(f"/api/v1/statuses/{actor['id']}").json()["media_attachments"][0]["url"]
    posted = user.post(f"{sb.url}/api/v1/statuses", data={"status": "after the seed"}, timeout=10).json()["id"]
    assert user.delete(f"{sb.url}/api/v1/statuses/{actor['id']}", params={"delete_media": "true"}, timeout=10).status_code == 200
    assert cli("settle", "--name", NAME).returncode == 0
    assert requests.get(media_url, verify=str(sb.state.ca_file), timeout=10).status_code != 200  # the file is gone

    out = cli("reset", "--name", NAME)
    assert out.returncode == 0 and "files restored" in out.stdout, out.stdout + out.stderr
    print(f"\n[seed] {out.stdout.strip()}")
    after = [s["id"] for s in user.get(f"{sb.url}/api/v1/accounts/{account_id}/statuses", timeout=10).json()]
    assert after == before and posted not in after
    assert requests.get(media_url, verify=str(sb.state.ca_file), timeout=10).status_code == 200
    again = user.post(f"{sb.url}/api/v1/statuses", data={"status": "after the reset"}, timeout=10)
    assert again.status_code == 200, again.text  # web, Sidekiq and the database connections carry on unrestarted
    assert cli("reset", "--name", NAME).returncode == 0  # leave the seeded state for the tests after this one


def test_settle_waits_for_sidekiq_on_every_server(mastodon_sandbox):
    out = cli("settle", "--name", mastodon_sandbox.config.name, "--timeout", "120")
    assert out.returncode == 0 and out.stdout.startswith("settled: 0 enqueued, 0 busy, 0 due soon"), out.stdout + out.stderr


@pytest.mark.standin_only
def test_the_stand_in_refuses_seeding_in_one_line(mastodon_sandbox):
    out = cli("seed", "--name", mastodon_sandbox.config.name)
    assert out.returncode == 1 and out.stderr.strip().endswith("seeding needs real Mastodon (SANDBOX_SERVER=source or official)")
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (mastodon_sandbox.state.dir / "seed.json").exists()
