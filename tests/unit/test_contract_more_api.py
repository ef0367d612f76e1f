"""The rest of the user API's schemas (identity proofs, domain blocks and their preview, the profile, collections,
annual reports, async refreshes, donation campaigns, oEmbed, host-meta, translation, OAuth's token info and
introspection, the announcement streaming events, and NoBody) against bodies recorded from a real Mastodon 4.6.5
and a real 4.3.23 (tests/recordings/mastodon-4.6.5-4.3.23-more-api/), a mutation of each new entity that must be
rejected, what the two versions answer differently, the table's new rows, the client's reading of an answer with
no body, the quirk 4.6.5's collections show, the new cleanup kinds, and the coverage it all adds up to."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest

from mastodon_sandbox.contract.cleanup import Leftover
from mastodon_sandbox.contract.client import Client, Context
from mastodon_sandbox.contract.coverage import coverage, out_of_scope
from mastodon_sandbox.contract.endpoints import NO_BODY, entity_for, entity_for_event
from mastodon_sandbox.contract.pacing import Pacer, WriteBudget
from mastodon_sandbox.contract.quirks import Exchange, quirk_for
from mastodon_sandbox.contract.report import Report, endpoint_of
from mastodon_sandbox.contract.target import http_session, probe_server
from mastodon_sandbox.contract.validate import ContractViolation, validate
from tests.contract_recordings import V43, V46, Recordings, check_bodies, example_tests, invented_enum_test, recorded_status

RECORDINGS = Recordings("mastodon-4.6.5-4.3.23-more-api")
FILES = RECORDINGS.files
NEW = {
    "IdentityProofs", "BlockedDomains", "DomainBlockPreview", "Profile", "Collection", "CollectionItem",
    "WrappedCollection", "WrappedCollectionItem", "Collections", "CollectionWithAccounts", "AnnualReport",
    "WrappedAnnualReports", "AnnualReportState", "WrappedAsyncRefresh", "DonationCampaign", "OEmbed", "HostMeta",
    "Translation", "TokenInfo", "TokenIntrospection", "AnnouncementReaction", "NoBody",
}
# Not in a recorded body: no report was ever generated, no refresh ran, no campaign service or translation service
# is set up, and no announcement was reacted to; their examples are built below from the serializers.
NOT_RECORDED = {"AnnualReport", "WrappedAsyncRefresh", "DonationCampaign", "Translation", "AnnouncementReaction"}
ONLY_4_6 = {"Profile", "Collection", "CollectionItem", "WrappedCollection", "WrappedCollectionItem", "Collections",
            "CollectionWithAccounts", "AnnualReportState", "NoBody"}  # 4.3.23 has none of their routes
exchange, by_label, status_of, header, labels = (
    RECORDINGS.exchange, RECORDINGS.by_label, RECORDINGS.status_of, RECORDINGS.header, RECORDINGS.labels)


def test_each_file_is_from_the_version_it_says():
    for version in FILES.values():
        assert by_label("nodeinfo 2.0", version)["software"]["version"] == version


def test_the_recordings_hold_no_token_or_secret():
    for name in FILES:
        text = (RECORDINGS.folder / name).read_text(encoding="utf-8")
        for rec in RECORDINGS.lines(name):
            assert rec["request"]["headers"] in ({}, {"Authorization": "Bearer <token>"}), rec["label"]
            body = rec["request"]["body"] or {}
            assert body.get("token") in (None, "<token>") and body.get("client_secret") in (None, "<secret>"), rec["label"]
        assert '"access_token"' not in text


def test_every_recorded_body_matches_its_schema():
    # not checked: a 404 page or host-meta's XML (no JSON, where a body belongs)
    checked = check_bodies(RECORDINGS.recorded(), lambda entity, body: not entity or (body is None and entity != NO_BODY),
                           quirks=True)
    assert not checked.failures, "\n".join(checked.failures)
    assert [name for _, name in checked.quirks] == ["collection-validation-error-nested"], checked.quirks  # 4.6.5's only
    seen = checked.seen
    parts = {"Collection", "CollectionItem", "AnnualReport"}  # inside the bodies of other entities
    wanted = NEW - NOT_RECORDED - parts - {"AnnouncementReaction"}
    assert wanted <= seen[V46], wanted - seen[V46]
    assert wanted - ONLY_4_6 <= seen[V43], (wanted - ONLY_4_6) - seen[V43]


# --- what the servers answered -----------------------------------------------------------------------------

@pytest.mark.parametrize("version", FILES.values())
def test_what_both_versions_answer_alike(version):
    assert by_label("identity proofs", version) == []
    assert by_label("domain blocks", version) == [f"recording-{_me(version)}.example"]
    assert by_label("domain block preview", version) == {"following_count": 0, "followers_count": 0}
    assert by_label("domain blocks after", version) == []
    assert by_label("dismiss a suggestion", version) == {}
    assert by_label("avatar removed", version)["avatar"].endswith("/missing.png")
    assert by_label("header removed", version)["header"].endswith("/missing.png")
    assert not by_label("avatar and header set", version)["avatar"].endswith("/missing.png")
    assert by_label("annual reports", version) == {"annual_reports": [], "accounts": [], "statuses": []}
    assert status_of("annual report read never made", version) == 404
    assert [by_label(f"conversation {what}", version)["unread"] for what in ("read", "unread")] == [False, True]
    assert by_label("conversation remove", version) == {}
    assert status_of("conversation remove again", version) == 404
    assert by_label("request dismiss", version) == by_label("requests dismiss", version) == by_label("requests accept", version) == {}
    assert status_of("request after dismiss", version) == status_of("request after accept", version) == 404
    assert by_label("notifications clear v1", version) == by_label("notifications clear v2", version) == {}
    assert by_label("notification group accounts unknown", version) == []
    assert status_of("translate without a service", version) == 404  # TranslationService::NotConfiguredError
    assert by_label("host-meta json", version)["links"][0]["rel"] == "lrdd"
    assert 'rel="lrdd"' in exchange("host-meta xml", version)["response"]["text"]
    assert header("host-meta xml", version, "Content-Type").startswith("application/xrd+xml")


def _me(version: str) -> str:
    """The recording account's id, from /api/v1/accounts/:id/identity_proofs."""
    return urlsplit(exchange("identity proofs", version)["request"]["url"]).path.split("/")[4]


@pytest.mark.parametrize("version", FILES.values())
def test_oembed_sizes_and_an_unknown_status(version):
    wide, tall = by_label("oembed", version), by_label("oembed with a height", version)
    assert (wide["width"], wide["height"]) == (300, None)  # maxwidth; height only with maxheight
    assert (tall["width"], tall["height"]) == (400, 200)  # DEFAULT_WIDTH
    assert wide["type"] == "rich" and "mastodon-embed" in wide["html"]
    assert status_of("oembed unknown", version) == 404


@pytest.mark.parametrize("version", FILES.values())
def test_oauth_token_info_and_introspection(version):
    info = by_label("token info", version)
    assert isinstance(info["resource_owner_id"], int) and info["expires_in"] is None  # the USER id; no expiry
    assert by_label("token info of an app token", version)["resource_owner_id"] is None  # client credentials: no user
    assert status_of("token info without a token", version) == 401
    same_app = by_label("introspect another token of the app", version)
    assert same_app["active"] is True and same_app["client_id"] == info["application"]["uid"]
    assert status_of("introspect itself", version) == 401  # RFC 7662 2.1: a token never introspects itself
    assert status_of("introspect unauthorised", version) == 400
    assert by_label("introspect with client credentials", version)["active"] is True
    assert by_label("introspect another app's token", version) == by_label("introspect a revoked token", version) == {"active": False}


def test_a_non_expiring_tokens_exp_is_left_out_by_4_6_5_and_0_on_4_3_23():
    # Doorkeeper 5.9.2 (4.6.5) leaves `exp` out for a token without expiry; 5.7.1 (4.3.23) sends `expires_at.to_i`,
    # nil.to_i: 0, which RFC 7662 reads as expired in 1970 although the token is active
    assert "exp" not in by_label("introspect with client credentials", V46)
    old = by_label("introspect with client credentials", V43)
    assert old["exp"] == 0 and old["active"] is True and validate("TokenIntrospection", old, V43) == []


def test_deprecation_headers_are_4_4():
    for label, when in (("identity proofs", "@1648598400"), ("trends alias", "@1648598400"), ("v1 suggestions", "@1621123200")):
        assert header(label, V46, "Deprecation") == when, label
        assert header(label, V43, "Deprecation") is None, label


def test_what_4_3_23_does_not_draw():
    assert status_of("profile", V43) == 404 and by_label("profile", V43) is None  # no route: an HTML page
    assert status_of("email subscription", V43) == 404
    new = {"collection create", "annual report state past", "annual report generate past", "donation campaigns",
           "annual report never made", "async refresh unknown", "media delete"}
    assert new <= labels(V46) and not new & labels(V43)


def test_4_6_5s_own_answers():
    assert by_label("annual report state past", V46) == {"state": "ineligible"}
    assert by_label("annual report generate past", V46) == {}  # not the current campaign: nothing made
    assert status_of("annual report never made", V46) == status_of("async refresh unknown", V46) == 404
    assert status_of("donation campaigns", V46) == 204 and by_label("donation campaigns", V46) is None
    assert status_of("donation campaigns without a token", V46) == 422
    assert by_label("media delete", V46) == {} and status_of("media after delete", V46) == 404
    # `head 404` (turned off), empty, as text/html: no Error body
    email = exchange("email subscription", V46)["response"]
    assert (email["status"], email["text"], email["headers"]["Content-Type"].split(";")[0]) == (404, "", "text/html")
    assert by_label("profile update refused", V46)["details"]["display_name"]
    assert by_label("profile restored", V46) == by_label("profile", V46)


def test_a_collections_life_on_4_6_5():
    created = by_label("collection create", V46)["collection"]
    [item] = created["items"]
    assert item["state"] == "accepted" and created["item_count"] == 1 and created["tag"]["name"] == "recording"
    shown = by_label("collection", V46)
    assert [a["id"] for a in shown["accounts"]] == [created["account_id"], item["account_id"]]  # the owner first
    assert by_label("collection update", V46)["collection"]["name"] == "Recording, renamed"
    assert status_of("in collections of another", V46) == 403
    after = by_label("collection after revoke", V46)["collection"]
    assert after["item_count"] == 0 and after["items"] == []  # a revoked item is shown to no one
    for label in ("collection item revoke", "collection item delete", "collection item delete again", "collection delete"):
        response = exchange(label, V46)["response"]
        assert (response["status"], response["json"], response["text"]) == (200, None, ""), label  # `head 200`
    assert status_of("collection after delete", V46) == 404


def test_a_refused_collection_is_the_quirk_and_a_missing_account_a_plain_error():
    refused = exchange("collection refused", V46)["response"]
    assert refused["status"] == 422 and isinstance(refused["json"]["error"], dict)
    assert validate("Error", refused["json"], V46)  # not an Error: `error` is an object
    quirk = quirk_for(V46, Exchange("POST", "https://localhost/api/v1/collections", 422, "application/json", refused["json"]))
    assert quirk and quirk.name == "collection-validation-error-nested"
    assert quirk_for(V46, Exchange("POST", "https://localhost/api/v1/collections", 422, "application/json",
                                   {"error": "Validation failed"})) is None
    assert quirk_for(V46, Exchange("POST", "https://localhost/api/v1/lists", 422, "application/json", refused["json"])) is None
    missing = by_label("collection item without account", V46)
    assert validate("Error", missing, V46) == []


# --- examples: the recorded ones, and those the sandboxes had none of (built from the serializers) -----

STATUS = recorded_status()


def examples() -> dict[str, tuple[Any, str]]:
    created = by_label("collection create", V46)
    account = by_label("avatar removed", V46)
    report = {"year": 2025, "schema_version": 2, "share_url": "https://localhost/@alice/wrapstodon/2025/4f2c1d0e9a8b7c6d",
              "account_id": account["id"],
              "data": {"archetype": "lurker", "time_series": [], "top_hashtags": [], "top_statuses": {"by_reblogs": STATUS["id"]}}}
    return {
        "IdentityProofs": (by_label("identity proofs", V43), V43),  # only an empty list passes; see its test
        "BlockedDomains": (by_label("domain blocks", V46), V46),
        "DomainBlockPreview": (by_label("domain block preview", V43), V43),
        "Profile": (by_label("profile update", V46), V46),
        "Collection": (created["collection"], V46),
        "CollectionItem": (created["collection"]["items"][0], V46),
        "WrappedCollection": (created, V46),
        "WrappedCollectionItem": (by_label("collection item add", V46), V46),
        "Collections": (by_label("account collections", V46), V46),
        "CollectionWithAccounts": (by_label("collection", V46), V46),
        "AnnualReportState": (by_label("annual report state this year", V46), V46),
        "OEmbed": (by_label("oembed", V43), V43),
        "HostMeta": (by_label("host-meta json", V46), V46),
        "TokenInfo": (by_label("token info", V43), V43),
        "TokenIntrospection": (by_label("introspect with client credentials", V46), V46),
        # built from the serializers: nothing of these was in a recorded body
        "AnnualReport": (report, V46),
        "WrappedAnnualReports": ({"annual_reports": [report], "accounts": [account], "statuses": [STATUS]}, V46),
        "WrappedAsyncRefresh": ({"async_refresh": {"id": "BAhJIiRjb250ZXh0OjExNzczNTg0NjI4NzgzMTM4NjpyZWZyZXNoBjoGRVQ=--1b2c",
                                                   "status": "running", "result_count": 3}}, V46),
        "DonationCampaign": ({"id": "campaign-1", "banner_message": "Hi", "banner_button_text": "Donate!",
                              "donation_message": "Hi!", "donation_button_text": "Money", "donation_success_post": "Thanks",
                              "amounts": {"one_time": {"EUR": [1, 2, 3]}, "monthly": {"EUR": [1]}}, "default_currency": "EUR",
                              "donation_url": "https://sponsor.joinmastodon.org/donate/new", "locale": "en"}, V46),
        "Translation": ({"detected_source_language": "de", "language": "en", "provider": "DeepL.com", "spoiler_text": "",
                         "content": "<p>Hello</p>", "poll": {"id": "34", "options": [{"title": "yes"}, {"title": "no"}]},
                         "media_attachments": [{"id": "22", "description": "a red square"}]}, V43),
        "AnnouncementReaction": ({"name": "👍", "count": 2, "announcement_id": "8"}, V46),
    }


MUTABLE = sorted(NEW - {"NoBody", "IdentityProofs", "BlockedDomains"})  # a null, and two arrays: their own tests


def test_every_new_entity_has_an_example():
    assert set(MUTABLE) <= set(examples())


test_the_example_is_valid, test_removing_a_required_field_is_rejected, test_changing_a_fields_type_is_rejected = (
    example_tests(examples, sorted(examples()), MUTABLE))
test_an_invented_enum_value_is_rejected = invented_enum_test(examples, [
    ("CollectionItem", ("state",)),
    ("AnnualReportState", ("state",)),
    ("WrappedAsyncRefresh", ("async_refresh", "status")),
    ("OEmbed", ("type",)),
    ("TokenIntrospection", ("token_type",)),
])


def test_the_arrays_and_the_empty_answer():
    assert validate("IdentityProofs", [], V46) == []
    assert validate("IdentityProofs", [{"provider": "Keybase"}], V46)  # none since 3.5.0
    assert validate("BlockedDomains", ["spam.example"], V46) == []
    assert validate("BlockedDomains", [""], V46) and validate("BlockedDomains", [{"domain": "spam.example"}], V46)
    assert validate("NoBody", None, V46) == []
    assert validate("NoBody", {}, V46) and validate("NoBody", "", V46)  # render_empty's {} is Empty, not NoBody


def test_a_collections_parts_are_checked_inside():
    body, version = examples()["CollectionWithAccounts"]
    broken = copy.deepcopy(body)
    broken["collection"]["items"] = [{"id": "1", "state": "accepted", "created_at": "2026-12-05T21:34:04.020Z"}]
    broken["collection"]["tag"] = {"name": "x"}
    del broken["accounts"][0]["acct"]
    errors = validate("CollectionWithAccounts", broken, version)
    for where in ("$.collection.items[0]", "$.collection.tag", "$.accounts[0]"):
        assert any(e.startswith(where) for e in errors), (where, errors)
    # a revoked or rejected item names no account; a pending or accepted one must
    assert validate("CollectionItem", {"id": "1", "state": "revoked", "created_at": "2026-12-05T21:34:04.020Z"}, version) == []
    assert validate("CollectionWithAccounts", {**body, "accounts": []}, version)  # the owner at least


def test_a_profiles_images_are_null_when_unset_and_its_fields_raw():
    body, version = examples()["Profile"]
    assert body["avatar"] is None and body["note"] == "A note with #recording" and "<a " in body["formatted_note"]
    assert validate("Profile", {**body, "avatar": "https://localhost/avatars/original/missing.png"}, version) == []
    assert validate("Profile", {**body, "fields": [{"name": "web", "value": "x"}]}, version)  # verified_at too


def test_an_annual_reports_new_fields_bind_4_6_but_not_4_3():
    body, _ = examples()["AnnualReport"]
    old = {k: v for k, v in body.items() if k not in ("share_url", "account_id")}  # 4.3.23's serializer
    assert validate("AnnualReport", old, V43) == []
    errors = validate("AnnualReport", old, V46)
    assert "$: 'share_url' is a required property" in errors and "$: 'account_id' is a required property" in errors
    assert validate("AnnualReport", {**body, "share_url": None}, V46) == []  # no share key


def test_introspection_active_and_inactive():
    body, version = examples()["TokenIntrospection"]
    assert validate("TokenIntrospection", {"active": False}, version) == []
    assert validate("TokenIntrospection", {"active": False, "scope": "read"}, version)  # says nothing more
    assert validate("TokenIntrospection", {"active": True}, version)  # an active token's details are sent
    assert validate("TokenIntrospection", {**body, "exp": 1796506238}, version) == []
    assert validate("TokenIntrospection", {**body, "scope": ["read"]}, version)  # a string, unlike token info's list


def test_host_meta_and_oembed_details():
    meta, version = examples()["HostMeta"]
    assert validate("HostMeta", {"links": [{"rel": "lrdd", "template": "https://localhost/.well-known/webfinger"}]}, version)
    assert validate("HostMeta", {"links": []}, version)
    oembed, version = examples()["OEmbed"]
    assert validate("OEmbed", {**oembed, "version": "2.0"}, version) and validate("OEmbed", {**oembed, "width": "300"}, version)


def test_a_translations_detected_language_may_be_null_but_its_content_may_not():
    body, version = examples()["Translation"]
    assert validate("Translation", {**body, "detected_source_language": None, "poll": None}, version) == []
    assert validate("Translation", {**body, "content": None}, version)
    assert validate("Translation", {**body, "media_attachments": [{"id": 22, "description": None}]}, version)


def test_a_donation_campaign_is_the_services_json_with_its_id_and_locale():
    body, version = examples()["DonationCampaign"]
    assert validate("DonationCampaign", {"id": "c", "locale": "en"}, version) == []  # relayed as it came
    assert validate("DonationCampaign", {**body, "amounts": {"one_time": {"EUR": ["1"]}}}, version)


# --- streaming events, the table, the client, cleanup and coverage ------------------------------------------

def test_the_announcement_events():
    assert entity_for_event("announcement") == "Announcement"
    assert entity_for_event("announcement.reaction") == "AnnouncementReaction"
    assert entity_for_event("announcement.delete") is None  # a bare id (endpoints.ID_PAYLOAD_EVENTS)
    body, version = examples()["AnnouncementReaction"]
    assert validate("AnnouncementReaction", {**body, "count": 0}, version) == []  # the last one taken back
    assert validate("AnnouncementReaction", {**body, "announcement_id": 8}, version)
    assert validate("AnnouncementReaction", {**body, "name": ""}, version)  # Reaction's own rules hold


@pytest.mark.parametrize("method, path, status, entity", [
    ("GET", "/api/v1/accounts/1/identity_proofs", 200, "IdentityProofs"),
    ("GET", "/api/v1/domain_blocks", 200, "BlockedDomains"),
    ("GET", "/api/v1/domain_blocks/preview?domain=x.example", 200, "DomainBlockPreview"),
    ("POST", "/api/v1/domain_blocks", 200, "Empty"),
    ("GET", "/api/v1/profile", 200, "Profile"),
    ("PUT", "/api/v1/profile", 200, None),  # the twin of PATCH: the same action, a row of its own is not needed
    ("DELETE", "/api/v1/profile/avatar", 200, "CredentialAccount"),
    ("POST", "/api/v1/collections", 200, "WrappedCollection"),
    ("DELETE", "/api/v1/collections/5", 200, "NoBody"),
    ("POST", "/api/v1/collections/5/items/6/revoke", 200, "NoBody"),
    ("GET", "/api/v1/accounts/1/in_collections", 200, "Collections"),
    ("GET", "/api/v1/annual_reports/2025", 200, "WrappedAnnualReports"),
    ("GET", "/api/v1/annual_reports/2025/state", 200, "AnnualReportState"),
    ("GET", "/api/v1_alpha/async_refreshes/abc--def", 200, "WrappedAsyncRefresh"),
    ("GET", "/api/v1_alpha/async_refreshes/abc", 404, "Error"),
    ("GET", "/api/v1/donation_campaigns", 200, "DonationCampaign"),
    ("GET", "/api/v1/donation_campaigns", 204, "NoBody"),  # 204 No Content: never a body
    ("GET", "/api/v1/trends", 200, "Tag[]"),
    ("GET", "/api/v1/trends/tags", 200, "Tag[]"),
    ("POST", "/api/v1/notifications/requests/dismiss", 200, "Empty"),
    ("POST", "/api/v1/notifications/requests/7/dismiss", 200, "Empty"),
    ("GET", "/api/v2/notifications/favourite-1-2/accounts", 200, "Account[]"),
    ("POST", "/api/v1/statuses/1/translate", 200, "Translation"),
    ("GET", "/api/oembed?url=x", 200, "OEmbed"),
    ("GET", "/.well-known/host-meta", 200, "HostMeta"),
    ("GET", "/.well-known/host-meta", 404, None),  # not the API: no Error body
    ("GET", "/oauth/token/info", 200, "TokenInfo"),
    ("POST", "/oauth/introspect", 200, "TokenIntrospection"),
    ("POST", "/oauth/introspect", 400, "Error"),
    ("DELETE", "/api/v1/scheduled_statuses/3", 200, "Empty"),
])
def test_entity_for_the_new_endpoints(method, path, status, entity):
    assert entity_for(method, path, status) == entity


def test_literal_paths_are_named_before_templates():
    assert endpoint_of("POST", "https://x/api/v1/notifications/requests/dismiss") == "POST /api/v1/notifications/requests/dismiss"
    assert endpoint_of("POST", "https://x/api/v1/notifications/requests/accept") == "POST /api/v1/notifications/requests/accept"
    assert endpoint_of("GET", "https://x/api/v1/domain_blocks/preview") == "GET /api/v1/domain_blocks/preview"


class _Fake(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, str, bytes]]] = {}

    def _answer(self):
        status, kind, body = _Fake.routes[self.path.split("?")[0]]
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _Fake.routes = {"/api/v2/instance": (200, "application/json", json.dumps(
        {"domain": "x", "version": "4.6.5", "configuration": {"urls": {"streaming": "wss://x"}}}).encode())}
    report = Report()
    context = Context(probe_server(http_session(base), base, True), report, Pacer(), WriteBudget(None),
                      http_session(base), remote=False)
    yield Client(context, "t", "me"), report
    server.shutdown()


def test_an_answer_with_nothing_in_it_is_checked_as_no_body(api):
    client, report = api
    _Fake.routes["/api/v1/collections/5"] = (200, "text/html; charset=utf-8", b"")  # `head 200`
    answer = client.delete("/api/v1/collections/5")
    assert (answer.entity, answer.body) == ("NoBody", None)
    _Fake.routes["/api/v1/donation_campaigns"] = (204, "", b"")
    assert client.get("/api/v1/donation_campaigns", expect=(204,)).entity == "NoBody"
    assert set(report.endpoints) == {"DELETE /api/v1/collections/:id", "GET /api/v1/donation_campaigns"}
    _Fake.routes["/api/v1/collections/6"] = (200, "application/json", b"{}")  # a body where none belongs
    with pytest.raises(ContractViolation, match="NoBody"):
        client.delete("/api/v1/collections/6")
    assert report.breaks and report.breaks[-1].startswith("DELETE /api/v1/collections/:id: not a valid NoBody")


def test_the_new_cleanup_kinds_undo_by_the_id():
    assert Leftover("domain_block", "spam.example", "1").undo == ("DELETE", "/api/v1/domain_blocks?domain=spam.example")
    assert Leftover("collection", "117735846287831386", "1").undo == ("DELETE", "/api/v1/collections/117735846287831386")


def test_every_route_of_both_releases_is_covered_or_out_of_scope_with_a_reason():
    for release in ("4.6.5", "4.3.23"):
        assert [str(r) for r in coverage(release).not_covered] == [], release
    assert "no create action" in out_of_scope("POST /api/v1/polls")
    old = coverage("4.3.23")
    assert any(str(r) == "POST /api/v1/polls" for r in old.out) and "POST /api/v1/polls" not in [str(r) for r in coverage("4.6.5").routes]
