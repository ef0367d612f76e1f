"""Grouped notifications, unread counts, the notification policy and requests; then discovery: WebFinger,
NodeInfo, the OAuth server metadata and userinfo, and the instance's public lists (peers, activity,
languages, domain blocks). A server older than an endpoint is never asked for it: the test is skipped
with the version that added it (config/routes/api.rb and config/routes.rb of each release)."""

from __future__ import annotations

import pytest

from mastodon_sandbox.contract.suite.support import ContractRun, favourite_group, needs, unless_turned_off

# Grouped notifications (/api/v2/notifications), the unread counts, the notification policy (v1 and v2) and
# notification requests all came with 4.3.0 (CHANGELOG 4.3.0); so did /.well-known/oauth-authorization-server.
GROUPED = "4.3.0"
USERINFO = "4.4.0"  # config/routes.rb `match 'userinfo'` (CHANGELOG 4.4.0, #32548); absent from 4.3.23



def _domain(run: ContractRun) -> str:
    """The accounts' domain (LOCAL_DOMAIN), which may differ from the host the API is served on."""
    instance = run.server.instance
    return instance.get("domain") or instance.get("uri") or run.server.host


# --- notifications --------------------------------------------------------------------------------------

def test_grouped_notifications_name_their_accounts_and_statuses(contract, me):
    needs(contract, GROUPED, "GET /api/v2/notifications")
    body = me.api.get("/api/v2/notifications", params={"limit": 5}).body
    accounts = {a["id"] for a in body["accounts"]}
    statuses = {s["id"] for s in body["statuses"]}
    for group in body["notification_groups"]:
        assert set(group["sample_account_ids"]) <= accounts, group
        if group.get("status_id"):
            assert group["status_id"] in statuses, group


def test_partial_accounts_on_request(contract, me):
    needs(contract, GROUPED, "GET /api/v2/notifications")
    answer = me.api.get("/api/v2/notifications", params={"limit": 3, "expand_accounts": "partial_avatars"})
    assert "partial_accounts" in answer.body


def test_a_favourite_shows_as_a_group(contract, me, peer, my_status):
    needs(contract, GROUPED, "GET /api/v2/notifications")
    try:
        found = favourite_group(me, peer, my_status)
        assert found["type"] == "favourite" and peer.id in found["sample_account_ids"]
        assert found["notifications_count"] >= 1
    finally:
        peer.api.post(f"/api/v1/statuses/{my_status['id']}/unfavourite")


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_the_unread_count(contract, me, api):
    needs(contract, GROUPED, f"GET /api/{api}/notifications/unread_count")
    answer = me.api.get(f"/api/{api}/notifications/unread_count", params={"limit": 5})
    assert answer.entity == "UnreadCount"
    assert 0 <= answer.body["count"] <= 5  # at most limit


def test_the_notification_policy_v1_and_v2_agree(contract, me):
    needs(contract, GROUPED, "the notification policy")
    v1 = me.api.get("/api/v1/notifications/policy").body
    v2 = me.api.get("/api/v2/notifications/policy").body
    # v1's filter_X is `!accept_X?` (app/serializers/rest/v1/notification_policy_serializer.rb)
    for name in ("not_following", "not_followers", "new_accounts", "private_mentions"):
        assert v1[f"filter_{name}"] == (v2[f"for_{name}"] != "accept"), (name, v1, v2)
    assert v1["summary"] == v2["summary"]


def test_notification_requests(contract, me):
    needs(contract, GROUPED, "GET /api/v1/notifications/requests")
    requests_ = me.api.get("/api/v1/notifications/requests", params={"limit": 5})
    assert requests_.entity == "NotificationRequest[]"
    for item in requests_.body[:1]:
        assert me.api.get(f"/api/v1/notifications/requests/{item['id']}").body["id"] == item["id"]
    assert me.api.get("/api/v1/notifications/requests/merged").entity == "NotificationsMerged"


# --- discovery ------------------------------------------------------------------------------------------

def test_webfinger_finds_the_account(contract, anon, me):
    domain = _domain(contract)
    answer = anon.get("/.well-known/webfinger", params={"resource": f"acct:{me.username}@{domain}"}, expect=(200, 401))
    if answer.status == 401:  # authorized fetch / limited federation with a signature required
        contract.lacks("anonymous WebFinger", "GET /.well-known/webfinger answered 401")
    assert answer.body["subject"] == f"acct:{me.username}@{domain}"
    self_link = next(link for link in answer.body["links"] if link["rel"] == "self")
    if me.account.get("uri"):
        assert self_link["href"] == me.account["uri"]


def test_webfinger_of_an_unknown_account_is_404(anon, contract):
    anon.get("/.well-known/webfinger", params={"resource": f"acct:no-such-account-here@{_domain(contract)}"},
             expect=(404,), entity=None)


def test_nodeinfo_points_to_its_2_0_document(contract, anon):
    links = anon.get("/.well-known/nodeinfo").body["links"]
    href = next(link["href"] for link in links if link["rel"].endswith("/ns/schema/2.0"))
    body = anon.get(href, entity="NodeInfo").body
    assert body["software"]["name"] == "mastodon"
    assert body["software"]["version"] == contract.server.instance["version"]


def test_the_oauth_server_metadata(contract, anon):
    needs(contract, GROUPED, "/.well-known/oauth-authorization-server")
    body = anon.get("/.well-known/oauth-authorization-server").body
    assert body["token_endpoint"].endswith("/oauth/token")
    assert "authorization_code" in body["grant_types_supported"]
    assert "read" in body["scopes_supported"]
    if contract.server.version >= USERINFO:
        assert body["userinfo_endpoint"].endswith("/oauth/userinfo")


def test_userinfo(contract, me):
    needs(contract, USERINFO, "/oauth/userinfo")
    answer = me.api.get("/oauth/userinfo", expect=(200, 403))
    if answer.status == 403:  # doorkeeper_authorize! :profile (app/controllers/oauth/userinfo_controller.rb)
        contract.lacks("OAuth userinfo", "the run's token lacks the profile scope /oauth/userinfo needs")
    assert answer.body["preferred_username"] == me.username


@pytest.mark.parametrize("path", ["/api/v1/instance/peers", "/api/v1/instance/activity"])
def test_peers_and_activity_unless_turned_off(contract, anon, path):
    # 404 when Setting.peers_api_enabled / activity_api_enabled is off, or in limited federation mode
    # (require_enabled_api! in app/controllers/api/v1/instances/{peers,activity}_controller.rb).
    answer = unless_turned_off(contract, anon, path)
    if answer is None:
        contract.lacks(f"GET {path}", "turned off by the server's settings (404)")
    if path.endswith("activity"):
        assert len(answer.body) == 12  # WEEKS_OF_ACTIVITY


def test_the_languages(anon):
    codes = [language["code"] for language in anon.get("/api/v1/instance/languages").body]
    assert "en" in codes


def test_domain_blocks_unless_hidden(contract, anon, me):
    # Shown to anyone when show_domain_blocks is 'all', to signed-in users when 'users'; `head 404` otherwise
    # (require_enabled_api! in app/controllers/api/v1/instances/domain_blocks_controller.rb).
    path = "/api/v1/instance/domain_blocks"
    answer = unless_turned_off(contract, anon, path) or unless_turned_off(contract, me.api, path)
    if answer is None:
        contract.lacks(f"GET {path}", "the server does not show its domain blocks (404: show_domain_blocks)")
    assert answer.entity == "DomainBlock[]"
