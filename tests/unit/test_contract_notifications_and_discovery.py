"""The notification and discovery schemas (grouped notifications, unread counts, the notification policy and
requests; WebFinger, NodeInfo, OAuth metadata and userinfo, the instance's peers, activity, languages and
domain blocks) against bodies recorded from a real Mastodon 4.6.5 and a real 4.3.23
(tests/recordings/mastodon-4.6.5-4.3.23-contract/), and mutations of them that must be rejected."""

from __future__ import annotations

import copy
import functools
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from mastodon_sandbox.contract.endpoints import entity_for
from mastodon_sandbox.contract.validate import validate
from tests.contract_recordings import Recordings, check_bodies, example_tests, invented_enum_test
from tests.contract_recordings import assert_added_later_binds_only_the_newer

RECORDINGS = Recordings("mastodon-4.6.5-4.3.23-contract")
FOLDER, FILES = RECORDINGS.folder, RECORDINGS.files
NEW = {
    "GroupedNotificationsResults", "NotificationGroup", "UnreadCount", "NotificationPolicy", "NotificationPolicyV1",
    "NotificationRequest", "NotificationsMerged", "WebFinger", "NodeInfoDiscovery", "NodeInfo", "OAuthMetadata",
    "WeeklyActivity", "Language", "Peers",
}
recorded, by_label = RECORDINGS.recorded, RECORDINGS.by_label


def test_each_file_is_from_the_version_it_says():
    for name, version in FILES.items():
        nodeinfo = next(r for r in RECORDINGS.lines(name) if r["label"] == "nodeinfo 2.0")
        assert nodeinfo["response"]["json"]["software"]["version"] == version


def test_every_recorded_body_matches_its_schema():
    checked = check_bodies(recorded(), lambda entity, body: not entity or not isinstance(body, (dict, list)))
    assert not checked.failures, "\n".join(checked.failures)
    seen = checked.seen_anywhere
    assert NEW - {"NotificationGroup"} <= seen, NEW - seen


def test_the_recordings_hold_notification_groups_of_both_versions():
    for version in FILES.values():
        groups = by_label("grouped notifications", version)["notification_groups"]
        assert {g["type"] for g in groups} >= {"mention", "favourite"}, groups


def test_what_each_version_lacks_is_not_answered():
    # /oauth/userinfo: 4.4.0+ (a 404 page on 4.3.23; a 403 Error without the profile scope on 4.6.5);
    # instance domain blocks: `head 404` unless show_domain_blocks allows them.
    statuses = {(where.split(" ", 1)[1], str(v)): rec["response"]["status"] for where, rec, v in recorded()}
    assert statuses[("userinfo", "4.3.23")] == 404 and statuses[("userinfo", "4.6.5")] == 403
    assert statuses[("instance domain blocks", "4.3.23")] == statuses[("instance domain blocks", "4.6.5")] == 404
    assert validate("Error", by_label("userinfo", "4.6.5"), "4.6.5") == []


# --- examples: the recorded ones, and the few the servers had none of (built from the serializers) -----

@functools.cache
def _notification_request() -> dict:
    """A NotificationRequest Mastodon 4.6.4 sent to Mastodon.py (the sandboxes had no pending request)."""
    path = FOLDER.parent / "mastodon-4.6-mastodonpy" / "test_notification_requests_accept.yaml"
    for item in yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]:
        if urlsplit(item["request"]["uri"]).path == "/api/v1/notifications/requests" and item["response"]["status"]["code"] == 200:
            body = json.loads(item["response"]["body"]["string"])
            if body:
                return body[0]
    raise AssertionError("no notification request recorded")


def examples() -> dict[str, tuple[Any, str]]:
    v46, v43 = "4.6.5", "4.3.23"
    grouped = by_label("grouped notifications", v46)
    return {
        "GroupedNotificationsResults": (grouped, v46),
        "NotificationGroup": (grouped["notification_groups"][0], v46),
        "UnreadCount": (by_label("unread count", v46), v46),
        "NotificationPolicy": (by_label("policy v2", v46), v46),
        "NotificationPolicyV1": (by_label("policy v1", v46), v46),
        "NotificationsMerged": (by_label("notification requests merged", v43), v43),
        "NotificationRequest": (_notification_request(), "4.6.4"),
        "WebFinger": (by_label("webfinger", v46), v46),
        "NodeInfoDiscovery": (by_label("nodeinfo index", v43), v43),
        "NodeInfo": (by_label("nodeinfo 2.0", v46), v46),
        "OAuthMetadata": (by_label("oauth metadata", v46), v46),
        "WeeklyActivity": (by_label("instance activity", v43)[0], v43),
        "Language": (by_label("instance languages", v46)[0], v46),
        # built from the serializers: neither server had domain blocks shown or a profile-scoped token
        "DomainBlock": ({"domain": "bad.example", "digest": "0" * 64, "severity": "suspend", "comment": None}, v46),
        "OAuthUserinfo": ({"iss": "https://localhost/", "sub": "https://localhost/users/alice", "name": "Alice",
                           "preferred_username": "alice", "profile": "https://localhost/@alice",
                           "picture": "https://localhost/avatars/original/missing.png"}, v46),
    }


test_the_example_is_valid, test_removing_a_required_field_is_rejected, test_changing_a_fields_type_is_rejected = (
    example_tests(examples, sorted(examples())))
test_an_invented_enum_value_is_rejected = invented_enum_test(examples, [
    ("NotificationPolicy", ("for_not_following",)),
    ("NotificationGroup", ("type",)),
    ("DomainBlock", ("severity",)),
])


def test_a_domain_block_of_severity_noop_is_never_shown():
    body, version = examples()["DomainBlock"]
    assert validate("DomainBlock", {**body, "severity": "noop"}, version)  # with_user_facing_limitations


def test_the_group_id_types_are_the_serializers_not_the_documentations():
    # most_recent_notification_id is the bare bigint (a JSON number); page_min_id and page_max_id are strings
    group, version = examples()["NotificationGroup"]
    assert isinstance(group["most_recent_notification_id"], int)
    assert validate("NotificationGroup", {**group, "most_recent_notification_id": str(group["most_recent_notification_id"])}, version)
    assert validate("NotificationGroup", {**group, "page_min_id": 1}, version)
    assert validate("NotificationGroup", {**group, "status_id": None}, version) == []  # the status is gone


def test_a_grouped_results_account_or_group_that_breaks_is_found_inside():
    body, version = examples()["GroupedNotificationsResults"]
    broken = copy.deepcopy(body)
    del broken["accounts"][0]["acct"]
    broken["notification_groups"][0]["notifications_count"] = "1"
    errors = validate("GroupedNotificationsResults", broken, version)
    assert any(e.startswith("$.accounts[0]") for e in errors) and any(e.startswith("$.notification_groups[0]") for e in errors), errors


def test_a_notification_requests_count_is_a_string_and_its_status_may_be_gone():
    body, version = examples()["NotificationRequest"]
    assert validate("NotificationRequest", {**body, "notifications_count": 5}, version)
    assert validate("NotificationRequest", {**body, "last_status": None}, version) == []


def test_the_unread_count_is_a_count():
    assert validate("UnreadCount", {"count": -1}, "4.6.5")
    assert validate("UnreadCount", {"count": "3"}, "4.6.5")


def test_webfinger_needs_its_activitypub_self_link():
    body, version = examples()["WebFinger"]
    without_self = {**body, "links": [link for link in body["links"] if link["rel"] != "self"]}
    assert validate("WebFinger", without_self, version)
    assert validate("WebFinger", {**body, "subject": "alice"}, version)


def test_nodeinfo_is_version_2_0_in_camel_case():
    body, version = examples()["NodeInfo"]
    assert validate("NodeInfo", {**body, "version": "2.1"}, version)
    snake = {**body, "open_registrations": body["openRegistrations"]}
    del snake["openRegistrations"]
    assert validate("NodeInfo", snake, version)


# --- version gates: fields added after 4.3 bind 4.6.5, not 4.3.23 -------------------------------------------

@pytest.mark.parametrize("entity, label, added", [
    ("NotificationPolicy", "policy v2", "for_bots"),
    ("NotificationPolicyV1", "policy v1", "filter_bots"),
    ("OAuthMetadata", "oauth metadata", "userinfo_endpoint"),
])
def test_a_field_added_later_binds_4_6_5_but_not_4_3_23(entity, label, added):
    assert_added_later_binds_only_the_newer(entity, by_label(label, "4.3.23"), by_label(label, "4.6.5"), added)


def test_a_group_type_added_later_is_refused_to_4_3_23():
    group, _ = examples()["NotificationGroup"]
    assert validate("NotificationGroup", {**group, "type": "quote"}, "4.6.5") == []
    assert validate("NotificationGroup", {**group, "type": "quote"}, "4.3.23")


def test_a_partial_account_has_avatar_description_from_4_6_0():
    partial = {"id": "1", "acct": "alice", "locked": False, "bot": False, "url": "https://localhost/@alice",
               "avatar": "https://localhost/a.png", "avatar_static": "https://localhost/a.png"}
    body = {"accounts": [], "partial_accounts": [partial], "statuses": [], "notification_groups": []}
    assert validate("GroupedNotificationsResults", body, "4.3.23") == []
    assert validate("GroupedNotificationsResults", body, "4.6.5")


# --- the endpoint table -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, status, entity", [
    ("GET", "/api/v2/notifications?limit=5", 200, "GroupedNotificationsResults"),
    ("GET", "/api/v2/notifications/favourite-1-2", 200, "GroupedNotificationsResults"),
    ("GET", "/api/v2/notifications/unread_count", 200, "UnreadCount"),  # not taken for a :group_key
    ("GET", "/api/v2/notifications/policy", 200, "NotificationPolicy"),
    ("PATCH", "/api/v2/notifications/policy", 200, "NotificationPolicy"),
    ("GET", "/api/v1/notifications/unread_count", 200, "UnreadCount"),
    ("GET", "/api/v1/notifications/policy", 200, "NotificationPolicyV1"),  # not a notification :id
    ("GET", "/api/v1/notifications/requests", 200, "NotificationRequest[]"),
    ("GET", "/api/v1/notifications/requests/merged", 200, "NotificationsMerged"),  # not a request :id
    ("GET", "/api/v1/notifications/requests/123", 200, "NotificationRequest"),
    ("GET", "https://b.localhost/.well-known/webfinger?resource=acct:alice@b.localhost", 200, "WebFinger"),
    ("GET", "/.well-known/webfinger?resource=acct:nobody@localhost", 404, None),  # no JRD, no Error
    ("GET", "/.well-known/nodeinfo", 200, "NodeInfoDiscovery"),
    ("GET", "/nodeinfo/2.0", 200, "NodeInfo"),
    ("GET", "/.well-known/oauth-authorization-server", 200, "OAuthMetadata"),
    ("GET", "/oauth/userinfo", 200, "OAuthUserinfo"),
    ("POST", "/oauth/userinfo", 200, "OAuthUserinfo"),
    ("GET", "/oauth/userinfo", 403, "Error"),
    ("GET", "/api/v1/instance/peers", 200, "Peers"),
    ("GET", "/api/v1/instance/activity", 200, "WeeklyActivity[]"),
    ("GET", "/api/v1/instance/languages", 200, "Language[]"),
    ("GET", "/api/v1/instance/domain_blocks", 200, "DomainBlock[]"),
])
def test_entity_for_the_new_endpoints(method, path, status, entity):
    assert entity_for(method, path, status) == entity
