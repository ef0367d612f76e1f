"""The admin API's schemas (AdminAccount, AdminReport, the domain, e-mail, IP and canonical e-mail blocks, domain
allows, hashtags and trends, measures, dimensions and retention) against bodies recorded from a real Mastodon 4.6.5
and a real 4.3.23 (tests/recordings/mastodon-4.6.5-4.3.23-admin-api/), mutations of them that must be rejected,
what the two versions answer differently, the endpoint table's admin rows, and the cleanup of admin records."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from mastodon_sandbox.contract.cleanup import CleanupList, finish
from mastodon_sandbox.contract.endpoints import entity_for
from mastodon_sandbox.contract.validate import validate
from tests.contract_recordings import V43, V46, Recordings, check_bodies, example_tests, invented_enum_test, table_entity

RECORDINGS = Recordings("mastodon-4.6.5-4.3.23-admin-api")
FILES = RECORDINGS.files
NEW = {
    "AdminAccount", "AdminReport", "AdminDomainBlock", "AdminDomainAllow", "AdminEmailDomainBlock", "AdminIpBlock",
    "AdminCanonicalEmailBlock", "AdminMeasure", "AdminDimension", "AdminCohort", "AdminTag", "AdminTrendsLink",
    "AdminTrendsStatus", "AdminPreviewCardProvider",
}
# Neither sandbox had anything trending: these lists were recorded empty, their examples are built below.
NOT_RECORDED = {"AdminTrendsLink", "AdminTrendsStatus", "AdminPreviewCardProvider"}
recorded, exchange, by_label = RECORDINGS.recorded, RECORDINGS.exchange, RECORDINGS.by_label


def test_each_file_is_from_the_version_it_says():
    for name, version in FILES.items():
        instance = next(r for r in RECORDINGS.lines(name) if r["label"] == "instance")
        assert instance["response"]["json"]["version"] == version


def test_the_recordings_hold_no_token():
    for where, rec, _ in recorded():
        assert rec["request"]["headers"] == {"Authorization": "Bearer <token>"}, where
        assert "access_token" not in json.dumps(rec["response"]["json"]), where


def test_every_recorded_body_matches_its_schema():
    for where, rec, _ in recorded():
        method, url, status = rec["request"]["method"], rec["request"]["url"], rec["response"]["status"]
        assert table_entity(rec), f"{where}: {method} {urlsplit(url).path} {status} has no entity in the table"
    # every body is checked, but only a body with something in it shows its entity was recorded
    checked = check_bodies(recorded(), lambda entity, body: False, seen_if=bool)
    assert not checked.failures, "\n".join(checked.failures)
    seen = checked.seen_anywhere
    assert NEW - NOT_RECORDED <= seen, (NEW - NOT_RECORDED) - seen


# --- examples: the recorded ones, and the trends the sandboxes had none of (built from the serializers) ------

def _card() -> dict:
    """A PreviewCard as app/serializers/rest/preview_card_serializer.rb sends one."""
    return {"url": "https://news.example/a", "title": "A", "description": "", "language": "en", "type": "link",
            "author_name": "", "author_url": "", "provider_name": "", "provider_url": "", "html": "", "width": 400,
            "height": 200, "image": None, "image_description": "", "embed_url": "", "blurhash": None,
            "published_at": None, "authors": []}


@functools.cache
def examples() -> dict[str, tuple[Any, str]]:
    report = by_label("report resolve", V46)
    history = by_label("tag update", V46)["history"]
    return {
        "AdminAccount": (by_label("account", V46), V46),
        "AdminReport": (report, V46),
        "AdminDomainBlock": (by_label("domain block update", V46), V46),
        "AdminDomainAllow": (by_label("domain allow", V43), V43),
        "AdminEmailDomainBlock": (by_label("email domain block", V46), V46),
        "AdminIpBlock": (by_label("ip block create", V46), V46),
        "AdminCanonicalEmailBlock": (by_label("canonical email block", V43), V43),
        "AdminMeasure": (by_label("measures", V46)[-1], V46),  # instance_media_attachments: human_value, a unit
        "AdminDimension": (by_label("dimensions", V43)[3], V43),  # space_usage: units and human values
        "AdminCohort": (by_label("retention", V46)[0], V46),
        "AdminTag": (by_label("tag update", V43), V43),
        # built: REST::Admin::Trends::*Serializer over a recorded status and a card as PreviewCardSerializer sends it
        "AdminTrendsStatus": ({**report["statuses"][0], "requires_review": True}, V46),
        "AdminTrendsLink": ({**_card(), "history": history, "id": 3, "requires_review": False}, V46),
        "AdminPreviewCardProvider": ({"id": 2, "domain": "news.example", "trendable": None, "reviewed_at": None,
                                      "requested_review_at": "2026-12-05T21:00:00.000Z", "requires_review": True}, V46),
    }


def test_every_new_entity_has_an_example():
    assert set(examples()) == NEW


test_the_example_is_valid, test_removing_a_required_field_is_rejected, test_changing_a_fields_type_is_rejected = (
    example_tests(examples, sorted(NEW)))
test_an_invented_enum_value_is_rejected = invented_enum_test(examples, [
    ("AdminReport", ("category",)),
    ("AdminDomainBlock", ("severity",)),
    ("AdminIpBlock", ("severity",)),
    ("AdminCohort", ("frequency",)),
])


# --- what the serializers say, one mutation at a time ------------------------------------------------------

def test_a_remote_account_has_no_user_but_a_local_one_has_its_flags():
    remote = by_label("accounts v2 remote", V43)[0]
    assert remote["domain"] and remote["email"] is None and remote["role"] is None and remote["ips"] is None
    assert validate("AdminAccount", remote, V43) == []
    local, version = examples()["AdminAccount"]
    assert validate("AdminAccount", {**local, "suspended": None}, version)  # Account#suspended? never nil
    assert validate("AdminAccount", {**local, "ips": [{"ip": "127.0.0.1"}]}, version)  # an Ip without used_at


def test_the_staff_list_shows_the_owner_with_its_latest_address():
    for version in FILES.values():
        owner = by_label("accounts v2 local staff", version)[0]
        assert owner["role"]["name"] == "Owner" and owner["ip"] == owner["ips"][0]["ip"]


def test_a_reports_accounts_are_admin_accounts_and_a_break_inside_is_found():
    body, version = examples()["AdminReport"]
    assert body["action_taken_by_account"]["role"]["name"] == "Owner" and body["target_account"]["email"]  # admin fields
    broken = copy.deepcopy(body)
    del broken["target_account"]["email"]
    broken["statuses"][0]["visibility"] = "everyone"
    errors = validate("AdminReport", broken, version)
    assert any(e.startswith("$.target_account") for e in errors) and any(e.startswith("$.statuses[0]") for e in errors), errors
    assert validate("AdminReport", {**body, "assigned_account": None, "action_taken_by_account": None}, version) == []


def test_an_ip_block_is_always_address_and_prefix():
    body, version = examples()["AdminIpBlock"]
    assert body["ip"].endswith("/32") and body["expires_at"]
    assert validate("AdminIpBlock", {**body, "ip": body["ip"].split("/")[0]}, version)
    assert validate("AdminIpBlock", {**body, "ip": "2001:db8::/32"}, version) == []
    assert validate("AdminIpBlock", {**body, "expires_at": None}, version) == []


def test_a_canonical_email_hash_is_the_sha256_of_the_canonical_address():
    for version in FILES.values():
        sent = exchange("canonical email block create", version)["request"]["data"]["email"]
        local, domain = sent.lower().split("@")
        canonical = local.replace(".", "").split("+")[0] + "@" + domain  # app/models/concerns/canonical_email.rb
        assert by_label("canonical email block create", version)["canonical_email_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
        assert by_label("canonical email block test", version) == [by_label("canonical email block", version)]
    body, version = examples()["AdminCanonicalEmailBlock"]
    assert validate("AdminCanonicalEmailBlock", {**body, "canonical_email_hash": "not-a-digest"}, version)


def test_a_domain_blocks_digest_is_the_domains_sha256():
    body, version = examples()["AdminDomainBlock"]
    assert body["digest"] == hashlib.sha256(body["domain"].encode()).hexdigest()
    assert validate("AdminDomainBlock", {**body, "digest": "ABC"}, version)


def test_a_measures_points_are_dates_or_date_times_and_its_counts_strings():
    measures = by_label("measures", V46)
    shapes = {m["key"]: "T" in m["data"][0]["date"] for m in measures}
    assert shapes["active_users"] and shapes["interactions"] and not shapes["new_users"]  # Redis vs SQL periods
    body, version = examples()["AdminMeasure"]
    for point in ({"date": "2026-12-05", "value": "0"}, {"date": "2026-12-05T00:00:00Z", "value": "0"}):
        assert validate("AdminMeasure", {**body, "data": [point]}, version) == []
    assert validate("AdminMeasure", {**body, "data": [{"date": "yesterday", "value": "0"}]}, version)
    assert validate("AdminMeasure", {**body, "data": [{"date": "2026-12-05", "value": 0}]}, version)
    assert validate("AdminMeasure", {**body, "total": 0}, version)


def test_a_cohorts_rate_is_a_fraction():
    body, version = examples()["AdminCohort"]
    point = body["data"][0]
    assert validate("AdminCohort", {**body, "data": [{**point, "rate": 1}]}, version) == []
    assert validate("AdminCohort", {**body, "data": [{**point, "rate": 1.5}]}, version)
    assert validate("AdminCohort", {**body, "data": [{**point, "value": 3}]}, version)


def test_a_dimension_entrys_value_is_a_string():
    body, version = examples()["AdminDimension"]
    entry = body["data"][0]
    assert validate("AdminDimension", {**body, "data": [{**entry, "value": 15072615}]}, version)
    assert validate("AdminDimension", {**body, "data": [{k: v for k, v in entry.items() if k != "human_key"}]}, version)


def test_trend_ids_are_numbers_where_the_serializer_leaves_them():
    for entity in ("AdminTrendsLink", "AdminPreviewCardProvider"):
        body, version = examples()[entity]
        assert validate(entity, {**body, "id": str(body["id"])}, version), entity
    status, version = examples()["AdminTrendsStatus"]
    assert validate("AdminTrendsStatus", {k: v for k, v in status.items() if k != "requires_review"}, version)
    assert validate("AdminTrendsStatus", {k: v for k, v in status.items() if k != "content"}, version)  # still a Status


# --- version gates -----------------------------------------------------------------------------------------

def test_a_roles_collection_limit_binds_4_6_5_but_not_4_3_23():
    old = by_label("account", V43)
    assert "collection_limit" not in old["role"] and "collection_limit" in by_label("account", V46)["role"]
    assert validate("AdminAccount", old, V43) == []
    assert "$.role: 'collection_limit' is a required property" in validate("AdminAccount", old, V46)


@pytest.mark.parametrize("entity, field", [("AdminDomainBlock", "digest"), ("AdminEmailDomainBlock", "allow_with_approval")])
def test_a_field_added_in_4_3_0_binds_4_3_23_but_not_4_2(entity, field):
    body, _ = examples()[entity]
    without = {k: v for k, v in body.items() if k != field}
    assert f"$: '{field}' is a required property" in validate(entity, without, V43)
    assert validate(entity, without, "4.2.0") == []


def test_an_admin_tag_has_an_id_on_4_3_23_although_a_tag_has_none():
    body = by_label("tag update", V43)
    without_id = {k: v for k, v in body.items() if k != "id"}
    assert validate("Tag", without_id, V43) == []
    assert "$: 'id' is a required property" in validate("AdminTag", without_id, V43)


# --- what the two versions answer differently ---------------------------------------------------------------

@pytest.mark.parametrize("label", ["measures without parameters", "retention without parameters"])
def test_metrics_without_their_parameters(label):
    # 4.6.5 requires them (params.require in the controllers: 400); 4.3.23 answers an empty list
    assert exchange(label, V46)["response"]["status"] == 400
    assert validate("Error", by_label(label, V46), V46) == []
    assert exchange(label, V43)["response"]["status"] == 200 and by_label(label, V43) == []


def test_the_unresolved_report_filter_is_4_6s():
    # after reopening: 4.6.5 lists resolved and unresolved together; 4.3.23 ignores `unresolved` (not permitted)
    # and lists the resolved ones only (app/models/report_filter.rb of each)
    assert by_label("report reopen", V46)["id"] in [r["id"] for r in by_label("reports resolved and unresolved", V46)]
    assert by_label("reports resolved and unresolved", V43) == []


def test_a_user_token_and_an_unknown_account_are_errors():
    for version in FILES.values():
        assert exchange("accounts as a user", version)["response"]["status"] == 403
        assert exchange("account unknown", version)["response"]["status"] == 404


def test_a_conflicting_domain_block_names_the_block_in_the_way():
    for version in FILES.values():
        body = by_label("domain block create again", version)
        assert validate("Error", body, version) == []
        assert validate("AdminDomainBlock", body["existing_domain_block"], version) == []
        assert body["existing_domain_block"]["id"] == by_label("domain block create", version)["id"]


def test_each_action_and_its_undoing_show_on_the_account():
    for version in FILES.values():
        for kind, flag, undo in (("sensitive", "sensitized", "unsensitive"), ("silence", "silenced", "unsilence"),
                                 ("disable", "disabled", "enable")):
            assert by_label(f"account action {kind}", version) == {}
            assert by_label(f"account after {kind}", version)[flag] is True
            assert by_label(f"account {undo}", version)[flag] is False


# --- the endpoint table and the cleanup list -----------------------------------------------------------------

@pytest.mark.parametrize("method, path, status, entity", [
    ("GET", "/api/v1/admin/accounts?limit=3", 200, "AdminAccount[]"),
    ("GET", "/api/v2/admin/accounts?origin=remote", 200, "AdminAccount[]"),
    ("GET", "/api/v1/admin/accounts/117735681130859624", 200, "AdminAccount"),
    ("POST", "/api/v1/admin/accounts/1/action", 200, "Empty"),
    ("POST", "/api/v1/admin/accounts/1/unsilence", 200, "AdminAccount"),
    ("POST", "/api/v1/admin/reports/6/resolve", 200, "AdminReport"),
    ("PUT", "/api/v1/admin/reports/6", 200, "AdminReport"),
    ("POST", "/api/v1/admin/domain_blocks", 422, "Error"),
    ("DELETE", "/api/v1/admin/ip_blocks/5", 200, "Empty"),
    ("POST", "/api/v1/admin/canonical_email_blocks/test", 200, "AdminCanonicalEmailBlock[]"),  # not an :id
    ("GET", "/api/v1/admin/trends/links/publishers", 200, "AdminPreviewCardProvider[]"),
    ("POST", "/api/v1/admin/trends/links/publishers/2/approve", 200, "AdminPreviewCardProvider"),
    ("POST", "/api/v1/admin/trends/links/3/reject", 200, "AdminTrendsLink"),
    ("PUT", "/api/v1/admin/tags/6", 200, "AdminTag"),
    ("POST", "/api/v1/admin/measures", 200, "AdminMeasure[]"),
    ("POST", "/api/v1/admin/measures", 400, "Error"),
    ("POST", "/api/v1/admin/retention", 200, "AdminCohort[]"),
])
def test_entity_for_the_admin_endpoints(method, path, status, entity):
    assert entity_for(method, path, status) == entity


def test_admin_records_left_by_a_run_are_deleted_by_the_next(tmp_path):
    left = CleanupList(tmp_path / "x.json", "https://x", run="r1")
    for kind, record_id in (("admin_domain_block", "5"), ("admin_domain_allow", "6"), ("admin_email_domain_block", "7"),
                            ("admin_ip_block", "8"), ("admin_canonical_email_block", "9")):
        left.add(kind, record_id, "1")
    sent = []
    done = finish(CleanupList(tmp_path / "x.json", "https://x", run="r2"),
                  lambda leftover: sent.append(leftover.undo) or 200, owners={"1"}, earlier=True)
    assert done.undone == 5 and done.left == []
    assert sent == [("DELETE", f"/api/v1/admin/{plural}/{n}") for plural, n in (
        ("canonical_email_blocks", 9), ("ip_blocks", 8), ("email_domain_blocks", 7), ("domain_allows", 6), ("domain_blocks", 5))]
