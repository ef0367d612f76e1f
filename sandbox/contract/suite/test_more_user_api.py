"""The rest of what a client calls with a user's token: identity proofs, domain blocks and their preview, the v1
suggestions, the profile API, avatar and header removal, e-mail subscriptions, collections, annual reports and
async refreshes, donation campaigns, the peers search, the deprecated trends alias, oEmbed and host-meta, v1
media, translation, conversations marked unread and removed, notification requests dismissed and accepted (one
and in bulk), a notification group's accounts, clearing notifications, and OAuth's token info and introspection.
A server older than an endpoint is never asked for it: the test is skipped with the version that added it
(config/routes/api.rb and the serializers of 4.3.23 and 4.6.5; the CHANGELOG, else Mastodon.py, for the version).
What a test makes it undoes; what cannot be undone through the API is not done on a remote server."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from mastodon_sandbox.contract.suite.support import (Actor, ContractRun, eventually, favourite_group, needs,
                                                     not_on_a_remote, png, unless_turned_off)

DEPRECATION_HEADER = "4.4.0"  # DeprecationConcern's `Deprecation: @<unix time>` (CHANGELOG 4.4.0, #34262)
DELETE_MEDIA = "4.4.0"  # DELETE /api/v1/media/:id (CHANGELOG 4.4.0, #33991)
ASYNC_REFRESHES = "4.4.0"  # /api/v1_alpha/async_refreshes (CHANGELOG 4.4.0, #34918)
ANNUAL_REPORT_OF_A_YEAR = "4.4.0"  # GET /api/v1/annual_reports/:id (Mastodon.py annual_report: 4.4.0)
PROFILE = "4.6.0"  # GET/PATCH /api/v1/profile (CHANGELOG 4.6.0, #37912)
COLLECTIONS = "4.6.0"  # CHANGELOG 4.6.0: Add collections
EMAIL_SUBSCRIPTIONS = "4.6.0"  # CHANGELOG 4.6.0: Add email subscriptions
ANNUAL_REPORT_STATE = "4.6.0"  # state and generate (CHANGELOG 4.6.0: Wrapstodon reworked; Mastodon.py 4.6.0)
DONATION_CAMPAIGNS = "4.6.0"  # mastodon/mastodon#37880; not in 4.3.23, not in the CHANGELOG
GROUPED = "4.3.0"  # grouped notifications and notification requests (CHANGELOG 4.3.0)
# deprecate_api dates, as the header's UNIX time
IDENTITY_PROOFS_DEPRECATED = TRENDS_ALIAS_DEPRECATED = "@1648598400"  # '2022-03-30'
V1_SUGGESTIONS_DEPRECATED = "@1621123200"  # '2021-05-16' (app/controllers/api/v1/suggestions_controller.rb)
NEVER = 2001  # a year no annual report was made for, outside any campaign


def _deprecated(run: ContractRun, answer, when: str) -> None:
    if run.server.version >= DEPRECATION_HEADER:
        assert answer.headers.get("Deprecation") == when, dict(answer.headers)
    else:
        assert "Deprecation" not in answer.headers


# --- accounts -------------------------------------------------------------------------------------------

def test_identity_proofs_are_always_an_empty_list(contract, me):
    # `render json: []` since Keybase proofs went (app/controllers/api/v1/accounts/identity_proofs_controller.rb)
    answer = me.api.get(f"/api/v1/accounts/{me.id}/identity_proofs")
    assert answer.entity == "IdentityProofs" and answer.body == []
    _deprecated(contract, answer, IDENTITY_PROOFS_DEPRECATED)


def test_a_domain_block_from_start_to_end(writes, me):
    domain = f"{writes.tag}.example"  # a reserved name (RFC 2606): no account of it follows or is followed
    me.api.post("/api/v1/domain_blocks", data={"domain": domain})
    writes.cleanup.add("domain_block", domain, me.id, me.username)
    try:
        assert domain in me.api.get("/api/v1/domain_blocks", params={"limit": 100}).body
        preview = me.api.get("/api/v1/domain_blocks/preview", params={"domain": domain}).body
        assert preview == {"following_count": 0, "followers_count": 0}
    finally:
        me.api.delete("/api/v1/domain_blocks", params={"domain": domain})
        writes.cleanup.done("domain_block", domain, me.id)
    assert domain not in me.api.get("/api/v1/domain_blocks", params={"limit": 100}).body


def test_the_v1_suggestions_are_deprecated_accounts(contract, me):
    answer = me.api.get("/api/v1/suggestions", params={"limit": 5})
    assert answer.entity == "Account[]"
    _deprecated(contract, answer, V1_SUGGESTIONS_DEPRECATED)


def test_dismissing_a_suggestion(writes, me, peer):
    not_on_a_remote(writes, "a dismissed suggestion cannot be brought back (AccountSuggestions#remove mutes it)")
    assert me.api.delete(f"/api/v1/suggestions/{peer.id}").body == {}


def _profile(actor: Actor) -> dict:
    return actor.api.get("/api/v1/profile").body


def test_the_profile_as_the_user_edits_it(writes, me):
    needs(writes, PROFILE, "GET /api/v1/profile")
    before = _profile(me)
    assert before["id"] == me.id
    try:
        changed = me.api.patch("/api/v1/profile", data={"display_name": f"Contract {writes.tag}",
                                                         "note": f"Checking the profile API, #{writes.tag}"}).body
        assert changed["display_name"] == f"Contract {writes.tag}"
        assert changed["note"] == f"Checking the profile API, #{writes.tag}"  # raw; formatted_note is the HTML
        assert f"/tags/{writes.tag}" in changed["formatted_note"]  # the hashtag linked
        assert _profile(me) == changed
    finally:
        restored = me.api.patch("/api/v1/profile", data={"display_name": before["display_name"], "note": before["note"]}).body
    assert (restored["display_name"], restored["note"]) == (before["display_name"], before["note"])


def test_a_profile_its_validations_refuse(writes, me):
    needs(writes, PROFILE, "PATCH /api/v1/profile")
    # 40 characters at most (CHANGELOG 4.6.0); a refused update changes nothing (ValidationErrorFormatter: 422)
    answer = me.api.patch("/api/v1/profile", data={"display_name": "x" * 100}, expect=(422,))
    assert answer.entity == "Error" and "display_name" in answer.body.get("details", {}), answer.body


def _missing(url: str | None) -> bool:
    """An account without an avatar (or header) shows /avatars/original/missing.png; a Profile, null."""
    return url is None or url.endswith("/missing.png")


def test_removing_the_avatar_and_header(writes, me):
    account = me.api.get("/api/v1/accounts/verify_credentials").body
    if writes.remote and not (_missing(account["avatar"]) and _missing(account["header"])):
        pytest.skip("not done on a remote server: the account has an avatar or header of its own, which this would remove")
    images = {"avatar": ("avatar.png", png(), "image/png"), "header": ("header.png", png(8, 4), "image/png")}
    given = me.api.patch("/api/v1/accounts/update_credentials", files=images).body
    try:
        assert not _missing(given["avatar"]) and not _missing(given["header"]), given
    finally:  # app/controllers/api/v1/profile/{avatars,headers}_controller.rb answer the CredentialAccount
        without_avatar = me.api.delete("/api/v1/profile/avatar").body
        without = me.api.delete("/api/v1/profile/header").body
    assert _missing(without_avatar["avatar"]) and not _missing(without_avatar["header"])
    assert _missing(without["header"]) and _missing(without["avatar"])
    if writes.server.version >= PROFILE:
        profile = _profile(me)
        assert profile["avatar"] is None and profile["header"] is None


def test_email_subscriptions_unless_turned_off(writes, anon, me):
    needs(writes, EMAIL_SUBSCRIPTIONS, "POST /api/v1/accounts/:id/email_subscriptions")
    # Anyone may subscribe to a local account's posts by e-mail, when the server allows it, the account's role may
    # and its user turned it on; `head 404` otherwise (app/controllers/api/v1/accounts/email_subscriptions_controller.rb).
    # An address that is none is refused (422) before anything is made or mailed.
    answer = unless_turned_off(writes, anon, f"/api/v1/accounts/{me.id}/email_subscriptions", "POST",
                               data={"email": "not an address"}, expect=(422,))
    if answer is None:
        writes.lacks("POST /api/v1/accounts/:id/email_subscriptions",
                     "turned off for the run's account (404): the server's setting, the role's "
                     "manage_email_subscriptions and the user's own setting")
    assert answer.entity == "Error"


# --- collections (4.6.0) --------------------------------------------------------------------------------

def _featureable(run: ContractRun, peer: Actor) -> dict | None:
    """A local account may be put in a collection when it is discoverable and not locked (Account#featureable_by?):
    the peer's profile is made so, and what it was is returned to undo it (None: nothing changed)."""
    before = _profile(peer)
    if before["locked"]:
        pytest.skip("the peer account is locked: only its followers may put it in a collection")
    if before["discoverable"]:
        return None
    peer.api.patch("/api/v1/profile", data={"discoverable": "true"})
    return before


def test_a_collection_from_start_to_end(writes, me, peer):
    needs(writes, COLLECTIONS, "collections")
    before = _featureable(writes, peer)
    try:
        created = me.api.post("/api/v1/collections", data={
            "name": "Contract suite", "description": f"made by {writes.tag}", "tag_name": writes.tag,
            "sensitive": "false", "discoverable": "true", "account_ids[]": [peer.id]}).body["collection"]
        writes.cleanup.add("collection", created["id"], me.id, me.username)
        _a_collections_life(writes, me, peer, created)
    finally:
        if before is not None:  # `""` is nil: the column's null again
            peer.api.patch("/api/v1/profile", data={"discoverable": "" if before["discoverable"] is None else "false"})


def _a_collections_life(run: ContractRun, me: Actor, peer: Actor, created: dict) -> None:
    path = f"/api/v1/collections/{created['id']}"
    assert created["account_id"] == me.id and created["local"] is True and created["tag"]["name"] == run.tag
    [item] = created["items"]
    assert item["state"] == "accepted" and item["account_id"] == peer.id and created["item_count"] == 1  # local: no approval
    shown = peer.api.get(path).body  # anyone may see it (but whom its owner blocks); the owner first among its accounts
    assert [a["id"] for a in shown["accounts"]] == [me.id, peer.id]
    renamed = me.api.patch(path, data={"name": "Contract suite, renamed"}).body["collection"]
    assert renamed["name"] == "Contract suite, renamed" and renamed["id"] == created["id"]
    mine = me.api.get(f"/api/v1/accounts/{me.id}/collections").body["collections"]
    assert created["id"] in [c["id"] for c in mine]
    featured_in = peer.api.get(f"/api/v1/accounts/{peer.id}/in_collections").body["collections"]
    assert created["id"] in [c["id"] for c in featured_in]
    me.api.get(f"/api/v1/accounts/{peer.id}/in_collections", expect=(403,))  # an account's own list only

    # The featured account takes itself out (revoke: `head 200`, no body); the owner then removes the item
    peer.api.post(f"{path}/items/{item['id']}/revoke")
    assert me.api.get(path).body["collection"]["item_count"] == 0
    me.api.delete(f"{path}/items/{item['id']}")
    added = me.api.post(f"{path}/items", data={"account_id": peer.id}).body["collection_item"]
    assert added["state"] == "accepted" and added["account_id"] == peer.id
    me.api.delete(f"{path}/items/{added['id']}")
    assert me.api.post(f"{path}/items", expect=(422,)).entity == "Error"  # `account_id` parameter is missing

    me.api.delete(path)
    run.cleanup.done("collection", created["id"], me.id)
    me.api.get(path, expect=(404,))


def test_a_collection_its_validations_refuse(writes, me):
    needs(writes, COLLECTIONS, "collections")
    # 40 characters at most for a local collection's name (app/models/collection.rb): refused, nothing made. 4.6.5
    # answers the quirk collection-validation-error-nested (its Error one level down), reported as the server's.
    data = {"name": "x" * 41, "sensitive": "false", "discoverable": "false"}
    assert me.api.post("/api/v1/collections", data=data, expect=(422,)).entity == "Error"


# --- annual reports and async refreshes -----------------------------------------------------------------

def test_the_annual_reports_not_yet_read(me):
    body = me.api.get("/api/v1/annual_reports").body
    assert all(isinstance(r["year"], int) for r in body["annual_reports"]), body


def test_an_annual_report_never_made(contract, me):
    # find_by! (404) for a year without a report; the state of any year (ineligible outside the campaign)
    needs(contract, ANNUAL_REPORT_OF_A_YEAR, "GET /api/v1/annual_reports/:id")
    assert me.api.get(f"/api/v1/annual_reports/{NEVER}", expect=(404,)).entity == "Error"
    needs(contract, ANNUAL_REPORT_STATE, "GET /api/v1/annual_reports/:id/state")
    assert me.api.get(f"/api/v1/annual_reports/{NEVER}/state").body == {"state": "ineligible"}
    year = datetime.now(timezone.utc).year
    assert me.api.get(f"/api/v1/annual_reports/{year}/state").entity == "AnnualReportState"


def test_reading_and_generating_an_annual_report_of_a_past_year(writes, me):
    # read: find_by! first (404: none made); generate: {} unless the year is the current campaign (nothing made)
    assert me.api.post(f"/api/v1/annual_reports/{NEVER}/read", expect=(404,)).entity == "Error"
    needs(writes, ANNUAL_REPORT_STATE, "POST /api/v1/annual_reports/:id/generate")
    assert me.api.post(f"/api/v1/annual_reports/{NEVER}/generate").body == {}


_REFRESH_ID = re.compile(r'id="([^"]+)"')


def test_async_refreshes(contract, me):
    needs(contract, ASYNC_REFRESHES, "GET /api/v1_alpha/async_refreshes/:id")
    # An id that is no signed key: 404 (AsyncRefresh.find, app/models/async_refresh.rb)
    assert me.api.get("/api/v1_alpha/async_refreshes/nosuchrefresh", expect=(404,)).entity == "Error"
    # A running refresh shows in a Mastodon-Async-Refresh header (the home feed while it is rebuilt)
    header = me.api.get("/api/v1/timelines/home", params={"limit": 1}, expect=(200, 206)).headers.get("Mastodon-Async-Refresh")
    if not header:
        contract.lacks("a running async refresh", "no answer named one (Mastodon-Async-Refresh): only the 404 was checked")
    refresh = me.api.get(f"/api/v1_alpha/async_refreshes/{_REFRESH_ID.search(header)[1]}").body["async_refresh"]
    assert refresh["status"] in ("running", "finished")


# --- the instance and discovery -------------------------------------------------------------------------

def test_donation_campaigns(contract, me, anon):
    needs(contract, DONATION_CAMPAIGNS, "GET /api/v1/donation_campaigns")
    # 204, no body, without a campaign service (DONATION_CAMPAIGNS_URL) or a campaign; else the service's JSON
    answer = me.api.get("/api/v1/donation_campaigns", expect=(200, 204))
    assert answer.entity == ("NoBody" if answer.status == 204 else "DonationCampaign")
    assert anon.get("/api/v1/donation_campaigns", expect=(422,)).entity == "Error"  # require_user!


def test_the_peers_search_unless_turned_off(contract, anon, me):
    # `head 404` with peers_api_enabled off or in limited federation mode, where it needs a user as well
    # (app/controllers/api/v1/peers/search_controller.rb)
    path = "/api/v1/peers/search?q=a"
    answer = unless_turned_off(contract, anon, path) or unless_turned_off(contract, me.api, path)
    if answer is None:
        contract.lacks("GET /api/v1/peers/search", "turned off by the server's settings (404)")
    assert answer.entity == "Peers" and len(answer.body) <= 10  # LIMIT
    assert all(domain.startswith("a") for domain in answer.body), answer.body


def test_the_deprecated_trends_alias(contract, anon):
    answer = anon.get("/api/v1/trends", params={"limit": 3})
    assert answer.entity == "Tag[]" and len(answer.body) <= 3
    _deprecated(contract, answer, TRENDS_ALIAS_DEPRECATED)


def test_oembed_of_a_status(contract, anon, some_status):
    if some_status["visibility"] not in ("public", "unlisted") or not (some_status["url"] or "").startswith(contract.server.base_url):
        pytest.skip("the status to read is not a public or unlisted status of this server, and oEmbed shows no other (404)")
    body = anon.get("/api/oembed", params={"url": some_status["url"], "maxwidth": "300"}).body
    assert body["width"] == 300 and body["height"] is None  # maxwidth, else 400; height only with maxheight
    assert f"/{some_status['id']}/embed" in body["html"], body["html"][:300]
    assert anon.get("/api/oembed", params={"url": contract.server.base_url + "/@nobody/1"}, expect=(404,)).entity == "Error"


def test_host_meta_in_xml_and_json(contract, anon):
    xml = anon.get("/.well-known/host-meta", headers={"Accept": "application/xrd+xml"}, entity=None)
    assert xml.headers["Content-Type"].startswith("application/xrd+xml") and 'rel="lrdd"' in xml.body
    body = anon.get("/.well-known/host-meta", headers={"Accept": "application/json"}).body
    [link] = body["links"]
    assert link["rel"] == "lrdd" and link["template"].endswith("/.well-known/webfinger?resource={uri}")


# --- media, translation ---------------------------------------------------------------------------------

def test_v1_media_is_processed_at_once_and_deleted_unattached(writes, me):
    alt = f"A small red square ({writes.tag}), uploaded with v1"
    media = me.api.post("/api/v1/media", files={"file": ("square.png", png(), "image/png")}, data={"description": alt}).body
    writes.cleanup.add("media", media["id"], me.id, me.username)
    assert media["type"] == "image" and media["description"] == alt and media["url"]  # synchronous: 200, processed
    if writes.server.version >= DELETE_MEDIA:
        assert me.api.delete(f"/api/v1/media/{media['id']}").body == {}
        writes.cleanup.done("media", media["id"], me.id)
        me.api.get(f"/api/v1/media/{media['id']}", expect=(404,))
    else:  # 4.3 cannot delete it: it goes with a status that is deleted with its media
        status = writes.post(me, f"v1 media {writes.tag}", **{"media_ids[]": [media["id"]]})
        writes.cleanup.done("media", media["id"], me.id)
        writes.delete_status(me, status["id"])


def test_translation_unless_no_service(writes, me, my_status):
    translation = (writes.server.instance.get("configuration") or {}).get("translation") or {}
    path = f"/api/v1/statuses/{my_status['id']}/translate"
    if translation.get("enabled") is False:  # TranslationService::NotConfiguredError: not_found
        assert me.api.post(path, expect=(404,)).entity == "Error"
        writes.lacks("translation", "the server has no translation service (404)")
    answer = me.api.post(path, expect=(200, 503))
    if answer.status == 503:  # the service failed, is out of quota or rate-limited
        writes.lacks("translation", f"the translation service answered 503: {answer.body.get('error')}")
    assert answer.body["content"] and answer.body["poll"] is None and answer.body["media_attachments"] == []


# --- conversations and notifications --------------------------------------------------------------------

def test_a_conversation_marked_unread_then_removed(writes, me, peer):
    message = writes.post(me, f"@{peer.username} a conversation to remove {writes.tag}", visibility="direct")
    try:
        def conversation() -> list:
            found = me.api.get("/api/v1/conversations", params={"limit": 20}).body
            return [c for c in found if (c.get("last_status") or {}).get("id") == message["id"]]
        [found] = eventually("the sender's conversation", conversation)
        path = f"/api/v1/conversations/{found['id']}"
        assert me.api.post(f"{path}/read").body["unread"] is False
        assert me.api.post(f"{path}/unread").body["unread"] is True
        assert me.api.delete(path).body == {}  # the user's view of it, not the statuses
        assert not conversation()
        me.api.delete(path, expect=(404,))
    finally:
        writes.delete_status(me, message["id"])


def _private_mentions_filtered(run: ContractRun, actor: Actor) -> None:
    policy = actor.api.get("/api/v2/notifications/policy").body
    if policy["for_private_mentions"] != "filter":
        run.lacks("filtered private mentions", f"the account's policy for private mentions is {policy['for_private_mentions']!r}")


def _not_following(run: ContractRun, actor: Actor, other: Actor) -> bool:
    """`other`'s private mentions reach `actor` as a request only while `actor` does not follow it: an earlier
    test's follow is undone for the test (True: to be made again)."""
    [relationship] = actor.api.get("/api/v1/accounts/relationships", params={"id[]": [other.id]}).body
    if relationship["following"] or relationship["requested"]:
        run.unfollow(actor, other)
        return True
    return False


def test_notification_requests_dismissed_one_and_in_bulk_and_accepted(writes, me, peer):
    # me's private mentions of the peer, who does not follow me, are filtered into a request of the peer's (the
    # default policy of 4.3.0+). me posts and deletes them: test_429_when_a_limit_is_spent has spent the peer's deletes.
    needs(writes, GROUPED, "notification requests")
    _private_mentions_filtered(writes, peer)
    refollow = _not_following(writes, peer, me)
    messages, seen = [], set()

    def request_from_me() -> dict:
        messages.append(writes.post(me, f"@{peer.username} a private mention {len(messages) + 1} {writes.tag}",
                                    visibility="direct"))

        def new() -> list:
            found = peer.api.get("/api/v1/notifications/requests", params={"limit": 40}).body
            return [r for r in found if r["account"]["id"] == me.id and r["id"] not in seen]
        request = eventually("the notification request of a private mention", new)[0]
        seen.add(request["id"])
        return request

    try:
        one = request_from_me()
        assert peer.api.post(f"/api/v1/notifications/requests/{one['id']}/dismiss").body == {}
        peer.api.get(f"/api/v1/notifications/requests/{one['id']}", expect=(404,))
        two = request_from_me()  # a dismissed request comes back with the next private mention
        assert peer.api.post("/api/v1/notifications/requests/dismiss", data={"id[]": [two["id"]]}).body == {}
        peer.api.get(f"/api/v1/notifications/requests/{two['id']}", expect=(404,))
        if not writes.remote:  # accepting lets my mentions through for good: no API takes it back
            three = request_from_me()
            assert peer.api.post("/api/v1/notifications/requests/accept", data={"id[]": [three["id"]]}).body == {}
            peer.api.get(f"/api/v1/notifications/requests/{three['id']}", expect=(404,))
    finally:
        for message in messages:
            writes.delete_status(me, message["id"])
        if refollow:
            writes.follow(peer, me)


def test_the_accounts_of_a_notification_group(writes, me, peer, my_status):
    needs(writes, GROUPED, "GET /api/v2/notifications/:group_key/accounts")
    try:
        key = favourite_group(me, peer, my_status)["group_key"]
        accounts = me.api.get(f"/api/v2/notifications/{key}/accounts").body
        assert peer.id in [a["id"] for a in accounts]
    finally:
        peer.api.post(f"/api/v1/statuses/{my_status['id']}/unfavourite")
    assert me.api.get("/api/v2/notifications/no-such-group/accounts").body == []  # no group: no accounts


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_clearing_every_notification(writes, me, api):
    not_on_a_remote(writes, "it deletes every notification of the account")
    needs(writes, GROUPED if api == "v2" else "0.0.0", f"POST /api/{api}/notifications/clear")
    assert me.api.post(f"/api/{api}/notifications/clear").body == {}


# --- OAuth ----------------------------------------------------------------------------------------------

def test_token_info(anon, me):
    # Doorkeeper's own endpoint: the bearer token as AccessTokenMixin#as_json (resource_owner_id is the user's id)
    info = me.api.get("/oauth/token/info").body
    assert isinstance(info["resource_owner_id"], int) and info["scope"] and info["application"]["uid"]
    assert anon.get("/oauth/token/info", expect=(401,)).entity == "Error"


def test_introspecting_another_token_of_the_run(writes, me, peer):
    # A bearer token may introspect a token of its own application, never itself (RFC 7662 2.1; Doorkeeper's
    # allow_token_introspection default): 401 invalid_token otherwise, an Error.
    answer = me.api.post("/oauth/introspect", data={"token": peer.api.token}, expect=(200, 401))
    if answer.status == 200:
        assert answer.body["active"] is True and answer.body["token_type"] == "Bearer", answer.body
    assert me.api.post("/oauth/introspect", data={"token": me.api.token}, expect=(401,)).entity == "Error"
    assert writes.client(None, "anonymous").post("/oauth/introspect", data={"token": me.api.token},
                                                 expect=(400,)).entity == "Error"  # no authorisation: invalid_request


def test_introspection_with_client_credentials(writes, me):
    not_on_a_remote(writes, "an application cannot be deleted through the API")
    anon = writes.client(None, "anonymous")
    registered = anon.post("/api/v1/apps", data={"client_name": f"contract suite {writes.tag}", "scopes": "read",
                                                 "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}, expect=(200, 429))
    if registered.status == 429:  # a limit no earlier answer of this run showed: asked once, never again
        pytest.skip("POST /api/v1/apps: this address has registered its 5 applications of the last 10 minutes "
                    "(throttle_oauth_application_registrations/ip, config/initializers/rack_attack.rb)")
    app = registered.body
    credentials = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    token = anon.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "read", **credentials}).body
    try:
        active = anon.post("/oauth/introspect", data={"token": token["access_token"], **credentials}).body
        assert active["active"] is True and active["client_id"] == app["client_id"] and active["scope"] == "read"
        # another application's token is none of this client's business: inactive, and nothing more said
        assert anon.post("/oauth/introspect", data={"token": me.api.token, **credentials}).body == {"active": False}
        as_app = writes.client(token["access_token"], "app")
        info = as_app.get("/oauth/token/info").body
        assert info["resource_owner_id"] is None and info["application"]["uid"] == app["client_id"]  # no user
        assert as_app.get("/api/v1/apps/verify_credentials").body["name"] == app["name"]
    finally:
        assert anon.post("/oauth/revoke", data={"token": token["access_token"], **credentials}).body == {}
    assert anon.post("/oauth/introspect", data={"token": token["access_token"], **credentials}).body == {"active": False}
