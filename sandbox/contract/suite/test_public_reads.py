"""What anyone may read without a token: the instance, the public and hashtag timelines, an account and its
statuses, a status and its thread. Servers may close some of it to anonymous readers: that is skipped as a
capability the server does not offer, never failed."""

from __future__ import annotations

import pytest

from mastodon_sandbox.contract.suite.support import ContractRun


def _feed_access(run: ContractRun, feed: str) -> dict[str, str]:
    """configuration.timelines_access (4.5+): {"local": "public"|"authenticated"|"disabled", "remote": ...};
    an older server says nothing (public unless an admin closed its preview)."""
    access = (run.server.instance.get("configuration") or {}).get("timelines_access") or {}
    return access.get(feed) or {"local": "public", "remote": "public"}


def _open_to_anyone(run: ContractRun, feed: str, what: str) -> dict[str, str]:
    """The query that reads the feed anonymously (local posts, remote ones, or both), or a capability skip."""
    access = _feed_access(run, feed)
    open_ = [scope for scope in ("local", "remote") if access.get(scope) == "public"]
    if not open_:
        run.lacks(f"anonymous {what}", f"closed to anonymous readers (timelines_access.{feed}: {access})")
    return {} if len(open_) == 2 else {open_[0]: "true"}


def test_the_v2_instance_names_its_version_and_streaming_url(contract, anon):
    if contract.server.instance_path != "/api/v2/instance":
        pytest.skip(f"Mastodon {contract.server.version} has no /api/v2/instance (added in 4.0.0)")
    body = anon.get("/api/v2/instance").body
    assert body["version"] == contract.server.instance["version"]
    assert body["configuration"]["urls"]["streaming"].startswith(("ws://", "wss://"))


def test_the_v1_instance_agrees_with_v2(contract, anon):
    body = anon.get("/api/v1/instance").body
    assert body["version"] == contract.server.instance["version"]
    assert body["uri"]


@pytest.mark.parametrize("path", ["/api/v1/instance/rules", "/api/v1/custom_emojis", "/api/v1/instance/extended_description"])
def test_an_instance_resource_answers_its_entity(anon, path):
    assert anon.get(path).entity


def test_the_public_timeline(contract, anon, request):
    params = _open_to_anyone(contract, "live_feeds", "public timeline")
    answer = anon.get("/api/v1/timelines/public", params={**params, "limit": 5}, expect=(200, 401, 422))
    if answer.status != 200:  # closed by a setting the instance body does not show (before 4.5: timeline_preview)
        contract.lacks("anonymous public timeline", f"GET /api/v1/timelines/public answered {answer.status}: {answer.body.get('error')}")
    assert len(answer.body) <= 5
    if contract.writes and contract.visibility == "public":
        mine = request.getfixturevalue("my_status")
        # The page just below the next id starts with the run's status, however busy the server is.
        below = str(int(mine["id"]) + 1)
        local = anon.get("/api/v1/timelines/public", params={"local": "true", "max_id": below, "limit": 1}).body
        assert [s["id"] for s in local] == [mine["id"]], "the run's public status is not on the local timeline"


def test_the_hashtag_timeline(contract, anon, request):
    params = _open_to_anyone(contract, "hashtag_feeds", "hashtag timeline")
    # The run's own tag when it posts publicly; else any tag, whose statuses are only checked.
    tag = contract.tag if contract.writes and contract.visibility == "public" else "mastodon"
    mine = request.getfixturevalue("my_status") if tag == contract.tag else None
    answer = anon.get(f"/api/v1/timelines/tag/{tag}", params={**params, "limit": 5}, expect=(200, 401, 422))
    if answer.status != 200:
        contract.lacks("anonymous hashtag timeline", f"GET /api/v1/timelines/tag/:hashtag answered {answer.status}")
    if mine:
        assert mine["id"] in [s["id"] for s in answer.body], "the run's tagged status is not on its tag's timeline"


def test_an_account_by_lookup_with_its_statuses(contract, anon, me):
    found = anon.get("/api/v1/accounts/lookup", params={"acct": me.username}, expect=(200, 401))
    if found.status == 401:  # limited federation mode or authorized fetch (api/base_controller.rb)
        contract.lacks("anonymous API access", "GET /api/v1/accounts/lookup answered 401: the server asks every reader to sign in")
    assert found.body["id"] == me.id
    assert anon.get(f"/api/v1/accounts/{me.id}").body["username"] == me.username
    statuses = anon.get(f"/api/v1/accounts/{me.id}/statuses", params={"limit": 5}).body
    assert all(s["account"]["id"] == me.id for s in statuses)


def test_a_status_and_its_thread(contract, anon, me, some_status):
    # A public or unlisted status reads without a token; anything else with the run's.
    reader = anon if some_status["visibility"] in ("public", "unlisted") else me.api
    status = reader.get(f"/api/v1/statuses/{some_status['id']}", expect=(200, 401))
    if status.status == 401:
        contract.lacks("anonymous API access", "GET /api/v1/statuses/:id answered 401")
    assert status.body["id"] == some_status["id"]
    context = reader.get(f"/api/v1/statuses/{some_status['id']}/context").body
    assert some_status["id"] not in [s["id"] for s in context["ancestors"] + context["descendants"]]
