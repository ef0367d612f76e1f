"""What the token's own account reads: its credentials, feeds, notifications, conversations, relationships,
lists, filters, markers and search."""

from __future__ import annotations

import pytest

from mastodon_sandbox.contract.suite.support import eventually

# Reads whose body is the entity the contract table names; each must have one (a read the table does not
# know would verify nothing).
READS = [
    ("/api/v1/timelines/home", {"limit": 5}),
    ("/api/v1/notifications", {"limit": 5}),
    ("/api/v1/conversations", {"limit": 5}),
    ("/api/v1/lists", None),
    ("/api/v2/filters", None),
    ("/api/v1/markers", {"timeline[]": ["home", "notifications"]}),
    ("/api/v1/preferences", None),
    ("/api/v1/bookmarks", {"limit": 5}),
    ("/api/v1/favourites", {"limit": 5}),
    ("/api/v1/follow_requests", None),
    ("/api/v1/followed_tags", None),
    ("/api/v1/featured_tags", None),
    ("/api/v1/blocks", None),
    ("/api/v1/mutes", None),
    ("/api/v1/endorsements", None),
    ("/api/v1/scheduled_statuses", None),
]


@pytest.mark.parametrize("path, params", READS, ids=[path.removeprefix("/api/") for path, _ in READS])
def test_a_read_answers_its_entity(me, path, params):
    answer = me.api.get(path, params=params)
    assert answer.entity, f"the contract names no entity for GET {path}"


def test_verify_credentials_is_the_tokens_account(me):
    body = me.api.get("/api/v1/accounts/verify_credentials").body
    assert body["id"] == me.id
    assert body["source"]["privacy"] in ("public", "unlisted", "private", "direct")


def test_followers_and_following(me):
    for which in ("followers", "following"):
        assert me.api.get(f"/api/v1/accounts/{me.id}/{which}", params={"limit": 5}).entity == "Account[]"


def test_relationships_name_the_accounts_asked_about(contract, me):
    other = contract.peer or me
    body = me.api.get("/api/v1/accounts/relationships", params={"id[]": [other.id]}).body
    assert [r["id"] for r in body] == [other.id]


def test_search_finds_the_account(me):
    body = me.api.get("/api/v2/search", params={"q": me.username, "type": "accounts", "limit": 5}).body
    assert me.id in [a["id"] for a in body["accounts"]]


def _full_text_search(me) -> bool:
    """Whether statuses are searched at all. Without Elasticsearch/OpenSearch a statuses search answers
    nothing whatever the query (app/services/search_service.rb, status_searchable?); with it an operator with
    a bad date is refused with 422 (app/lib/search_query_transformer.rb date_from_term, rescued as Date::Error
    in api/base_controller's error handling)."""
    probe = me.api.get("/api/v2/search", params={"q": "before:not-a-date", "type": "statuses"}, expect=(200, 422))
    return probe.status == 422


def test_full_text_search_finds_the_runs_status(contract, me, request):
    if not _full_text_search(me):
        contract.lacks("full-text search", "statuses are not searched on this server (no Elasticsearch/OpenSearch)")
    if not contract.writes:
        answer = me.api.get("/api/v2/search", params={"q": "the", "type": "statuses", "limit": 5})
        assert answer.entity == "Search"
        return
    mine = request.getfixturevalue("my_status")

    def found() -> list:  # indexing runs in Sidekiq
        body = me.api.get("/api/v2/search", params={"q": contract.tag, "type": "statuses", "limit": 5}).body
        return [s for s in body["statuses"] if s["id"] == mine["id"]]
    eventually("the run's status in a full-text search", found, timeout=20, interval=1.0)
