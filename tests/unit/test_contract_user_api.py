"""The user-API schemas (announcements and reactions, reports, the Web Push subscription, v1 filters, the
e-mail confirmation check, the terms of service, privacy policy and translation languages, the streaming
error frame) against bodies recorded from a real Mastodon 4.6.5 and a real 4.3.23
(tests/recordings/mastodon-4.6.5-4.3.23-user-api/), and mutations of them that must be rejected."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mastodon_sandbox.contract.endpoints import entity_for
from mastodon_sandbox.contract.validate import validate
from tests.contract_recordings import V43, V46, Recordings, check_bodies, recorded_status, table_entity
from tests.contract_recordings import assert_added_later_binds_only_the_newer, example_tests, invented_enum_test

RECORDINGS = Recordings("mastodon-4.6.5-4.3.23-user-api")
FILES = RECORDINGS.files
NEW = {
    "Announcement", "Reaction", "Report", "WebPushSubscription", "FilterV1", "TermsOfService", "PrivacyPolicy",
    "TranslationLanguages", "EmailConfirmed", "StreamingError",
}
by_label, status_of = RECORDINGS.by_label, RECORDINGS.status_of


def _entity(rec: dict) -> str | None:
    # the streaming server's frame answering a subscription it refuses (record.py's WEBSOCKET exchange)
    return "StreamingError" if rec["request"]["method"] == "WEBSOCKET" else table_entity(rec)


def test_each_file_is_from_the_version_it_says():
    for version in FILES.values():
        assert by_label("nodeinfo 2.0", version)["software"]["version"] == version


def test_every_recorded_body_matches_its_schema():
    # a None body is a 404 page (4.3.23 has no terms of service route)
    checked = check_bodies(RECORDINGS.recorded(), lambda entity, body: not entity or body is None, entity_of=_entity)
    assert not checked.failures, "\n".join(checked.failures)
    seen = checked.seen
    # Neither sandbox has an announcement (so no reaction) nor published terms of service: examples() has them.
    recorded_here = NEW - {"Reaction", "TermsOfService"}
    assert recorded_here <= seen[V46] and recorded_here <= seen[V43], (recorded_here - seen[V46], recorded_here - seen[V43])


# --- what the servers answered -----------------------------------------------------------------------------

@pytest.mark.parametrize("version", FILES.values())
def test_what_both_versions_answer_alike(version):
    assert by_label("announcements", version) == []
    # require_user! without a token is 422; require_authenticated_user! (the confirmation check) is 401
    assert status_of("announcements without a token", version) == 422
    assert status_of("check confirmation without a token", version) == 401
    assert status_of("dismiss an unknown announcement", version) == status_of("react to an unknown announcement", version) == 404
    assert by_label("check confirmation", version) is True
    assert status_of("resend confirmation", version) == 403  # a confirmed user not signed up by the token's app
    assert by_label("translation languages", version) == {}  # no translation service configured
    assert by_label("streaming unknown stream", version) == {"error": "Unknown stream type", "status": 400}
    assert status_of("v1 filter with an unknown context", version) == 422


@pytest.mark.parametrize("version", FILES.values())
def test_the_push_subscription_as_the_server_keeps_it(version):
    assert status_of("push subscription before", version) == 404
    created = by_label("push subscribe", version)
    assert isinstance(created["id"], int)  # the bare bigint: the serializer does not stringify it
    assert created["alerts"] == {"mention": True, "favourite": False} and created["policy"] == "followed"
    assert by_label("push subscription", version) == created
    # PUT replaces `data` as a whole: the alerts not named again are gone
    assert by_label("push update", version)["alerts"] == {"follow": True}
    # a refused subscribe (a bad key: 422) has already deleted the token's subscription
    assert status_of("push subscribe with a bad key", version) == status_of("push subscribe with a bad endpoint", version) == 422
    assert status_of("push subscription after the refused subscribe", version) == 404
    assert by_label("push unsubscribe", version) == by_label("push unsubscribe again", version) == {}
    assert status_of("push update without a subscription", version) == 404


def test_standard_webpush_is_4_4_and_4_3_drops_the_parameter():
    assert by_label("push subscribe standard", V46)["standard"] is True
    assert by_label("push subscribe", V46)["standard"] is False
    assert "standard" not in by_label("push subscribe standard", V43)  # params.permit leaves it out


@pytest.mark.parametrize("version", FILES.values())
def test_a_v1_filter_is_a_keyword_of_a_v2_filter_that_outlives_it(version):
    created = by_label("v1 filter create", version)
    assert created["id"] in [f["id"] for f in by_label("v1 filters", version)]
    assert by_label("v1 filter update", version)["context"] == ["notifications"]
    assert status_of("v1 filter after delete", version) == 404
    # The v2 filter outlives its only keyword. The v1 update renamed it too: a CustomFilter's title is its
    # `phrase` column (alias_attribute :title, :phrase in app/models/custom_filter.rb), which filter_params sets.
    left = by_label("v2 filter left by the v1 delete", version)
    assert left["keywords"] == [] and left["title"] == "contractrecording2" and left["context"] == ["notifications"]


def test_the_deprecation_header_of_v1_filters_is_4_4():
    for label in ("v1 filter create", "v1 filters", "v1 filter", "v1 filter update", "v1 filter delete"):
        assert RECORDINGS.headers(label, V46).get("deprecation") == "@1668384000", label  # deprecate_api '2022-11-14'
        assert "deprecation" not in RECORDINGS.headers(label, V43), label


def test_the_terms_of_service_route_is_4_4():
    assert status_of("terms of service", V46) == status_of("terms of service of a date", V46) == 404
    assert validate("Error", by_label("terms of service", V46), V46) == []  # none published: Record not found
    assert status_of("terms of service", V43) == 404 and by_label("terms of service", V43) is None  # no route: a page


# --- examples: the recorded ones, and those the sandboxes had none of (built from the serializers) -----

STATUS = recorded_status()


def examples() -> dict[str, tuple[Any, str]]:
    custom = {"name": "blobcat", "count": 1, "me": False,
              "url": "https://localhost/system/custom_emojis/images/000/000/001/original/blobcat.png",
              "static_url": "https://localhost/system/custom_emojis/images/000/000/001/static/blobcat.png"}
    announcement = {
        "id": "1", "content": "<p>Maintenance tonight, <span class=\"h-card\"><a href=\"https://localhost/@alice\">@alice</a></span></p>",
        "starts_at": "2026-12-06T20:00:00.000Z", "ends_at": "2026-12-06T22:00:00.000Z", "all_day": False,
        "published_at": "2026-12-05T20:00:00.000Z", "updated_at": "2026-12-05T20:00:00.000Z", "read": False,
        "mentions": [{"id": "117735190316507851", "username": "alice", "url": "https://localhost/@alice", "acct": "alice"}],
        "statuses": [STATUS], "tags": [{"name": "maintenance", "url": "https://localhost/tags/maintenance"}],
        "emojis": [], "reactions": [{"name": "👍", "count": 2, "me": True}, custom],
    }
    return {
        # built from the serializers: neither sandbox had an announcement or published terms of service
        "Announcement": (announcement, V46),
        "Reaction": (custom, V46),
        "TermsOfService": ({"effective_date": "2026-01-01", "effective": True, "content": "<p>Be kind.</p>",
                            "succeeded_by": None}, V46),
        "Report": (by_label("report", V46), V46),
        "WebPushSubscription": (by_label("push subscribe", V46), V46),
        "FilterV1": (by_label("v1 filter create", V43), V43),
        "PrivacyPolicy": (by_label("privacy policy", V43), V43),
        "StreamingError": (by_label("streaming unknown stream", V46), V46),
    }


test_the_example_is_valid, test_removing_a_required_field_is_rejected, test_changing_a_fields_type_is_rejected = (
    example_tests(examples, sorted(examples())))
test_an_invented_enum_value_is_rejected = invented_enum_test(examples, [
    ("Report", ("category",)),
    ("FilterV1", ("context", 0)),
])


def test_an_announcements_parts_are_checked_inside():
    body, version = examples()["Announcement"]
    broken = copy.deepcopy(body)
    del broken["mentions"][0]["acct"]
    broken["reactions"][0]["count"] = "2"
    broken["tags"][0]["url"] = None
    errors = validate("Announcement", broken, version)
    for where in ("$.mentions[0]", "$.reactions[0].count", "$.tags[0].url"):
        assert any(e.startswith(where) for e in errors), (where, errors)


def test_an_announcements_statuses_are_whole_statuses_not_the_documented_id_and_url():
    body, version = examples()["Announcement"]
    assert validate("Announcement", {**body, "statuses": [{"id": STATUS["id"], "url": STATUS["url"]}]}, version)


def test_a_reaction_without_a_user_or_custom_emoji_has_only_name_and_count():
    assert validate("Reaction", {"name": "👍", "count": 1}, V46) == []
    assert validate("Reaction", {"name": "", "count": 1}, V46)
    assert validate("Reaction", {"name": "👍", "count": -1}, V46)


def test_a_push_subscriptions_id_is_a_number_and_its_alerts_booleans():
    body, version = examples()["WebPushSubscription"]
    assert validate("WebPushSubscription", {**body, "id": str(body["id"])}, version)
    assert validate("WebPushSubscription", {**body, "alerts": {"mention": "true"}}, version)
    assert validate("WebPushSubscription", {**body, "server_key": None}, version) == []  # a server without VAPID keys


def test_a_reports_rule_ids_may_be_null_but_its_status_ids_may_not():
    body, version = examples()["Report"]
    assert body["rule_ids"] is None
    assert validate("Report", {**body, "rule_ids": ["1"]}, version) == []
    assert validate("Report", {**body, "status_ids": None}, version)
    assert validate("Report", {**body, "status_ids": [1]}, version)  # ids are strings


def test_terms_of_service_dates():
    body, version = examples()["TermsOfService"]
    assert validate("TermsOfService", {**body, "effective_date": "2026-01-01T00:00:00Z"}, version) == []  # published_at
    assert validate("TermsOfService", {**body, "effective_date": "soon"}, version)
    assert validate("TermsOfService", {**body, "succeeded_by": "2027-01-01"}, version) == []
    assert validate("TermsOfService", {**body, "succeeded_by": "next year"}, version)


def test_the_bare_and_map_bodies():
    assert validate("EmailConfirmed", False, V46) == []
    assert validate("EmailConfirmed", "true", V46) and validate("EmailConfirmed", {"confirmed": True}, V46)
    assert validate("TranslationLanguages", {"en": ["de", "fr"], "und": ["en"]}, V46) == []
    assert validate("TranslationLanguages", {"en": "de"}, V46)
    assert validate("StreamingError", {"error": "Unknown stream type"}, V46)  # a subscription's error has a status
    assert validate("StreamingError", {"error": "Unknown stream type", "status": "400"}, V46)


# --- version gates: fields added after 4.3 bind 4.6.5, not 4.3.23 -------------------------------------------

@pytest.mark.parametrize("entity, label, added", [
    ("WebPushSubscription", "push subscribe", "standard"),
    ("Report", "report", "collection_ids"),
])
def test_a_field_added_later_binds_4_6_5_but_not_4_3_23(entity, label, added):
    assert_added_later_binds_only_the_newer(entity, by_label(label, V43), by_label(label, V46), added)


# --- the endpoint table -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, status, entity", [
    ("GET", "/api/v1/announcements", 200, "Announcement[]"),
    ("POST", "/api/v1/announcements/12/dismiss", 200, "Empty"),
    ("PUT", "/api/v1/announcements/12/reactions/%F0%9F%91%8D", 200, "Empty"),
    ("DELETE", "/api/v1/announcements/12/reactions/blobcat", 200, "Empty"),
    ("GET", "/api/v1/announcements", 422, "Error"),
    ("POST", "/api/v1/reports/", 200, "Report"),
    ("POST", "/api/v1/push/subscription", 200, "WebPushSubscription"),
    ("GET", "/api/v1/push/subscription", 200, "WebPushSubscription"),
    ("PUT", "/api/v1/push/subscription", 200, "WebPushSubscription"),
    ("DELETE", "/api/v1/push/subscription", 200, "Empty"),
    ("GET", "/api/v1/push/subscription", 404, "Error"),
    ("GET", "/api/v1/filters", 200, "FilterV1[]"),
    ("POST", "/api/v1/filters", 200, "FilterV1"),
    ("GET", "/api/v1/filters/7", 200, "FilterV1"),
    ("PUT", "/api/v1/filters/7", 200, "FilterV1"),
    ("DELETE", "/api/v1/filters/7", 200, "Empty"),
    ("GET", "/api/v2/filters/7", 200, "Filter"),  # still the v2 entity
    ("POST", "/api/v1/emails/confirmations", 200, "Empty"),
    ("POST", "/api/v1/emails/confirmations", 403, "Error"),
    ("GET", "/api/v1/emails/check_confirmation", 200, "EmailConfirmed"),
    ("GET", "/api/v1/instance/terms_of_service", 200, "TermsOfService"),
    ("GET", "/api/v1/instance/terms_of_service/2026-01-01", 200, "TermsOfService"),
    ("GET", "/api/v1/instance/privacy_policy", 200, "PrivacyPolicy"),
    ("GET", "/api/v1/instance/translation_languages", 200, "TranslationLanguages"),
])
def test_entity_for_the_new_endpoints(method, path, status, entity):
    assert entity_for(method, path, status) == entity
