"""The contract run's report (sandbox/contract/report.py): endpoints by template, workers merged, the lines
a user reads at the end of a run."""

from __future__ import annotations

from mastodon_sandbox.contract.report import Report, called_in, endpoint_of, named_in


def test_endpoints_are_counted_by_their_template():
    assert endpoint_of("get", "https://x/api/v1/accounts/lookup?acct=bot") == "GET /api/v1/accounts/lookup"
    assert endpoint_of("GET", "https://x/api/v1/accounts/1094/statuses?limit=1") == "GET /api/v1/accounts/:id/statuses"
    # a path the contract table lacks still groups by template
    assert endpoint_of("DELETE", "https://x/api/v1/scheduled_statuses/77") == "DELETE /api/v1/scheduled_statuses/:id"


def test_the_workers_reports_add_up():
    one, two = Report(), Report()
    one.server = {"url": "https://x", "target": "remote", "version": "4.6.5", "writes": "on"}
    one.verified("GET", "https://x/api/v1/statuses/1", "Status")
    two.verified("GET", "https://x/api/v1/statuses/2", "Status")
    two.verified("GET", "https://x/api/v1/timelines/home", "Status[]")
    two.event("update", "Status")
    two.quirk("unknown-api-route-html-404", "GET", "https://x/api/v1/nothing")
    two.lacks("full-text search", "no Elasticsearch")
    two.cleanup = {"created": 3, "removed": 3, "left": 0}
    merged = Report()
    for part in (one, two):
        merged.merge(part.to_json())
    assert merged.bodies == 4 and merged.endpoints["GET /api/v1/statuses/:id"] == 2 and merged.entities["Status"] == 4
    lines = merged.lines()
    assert lines[0] == "server: https://x (remote), Mastodon 4.6.5; writes on"
    assert "verified: 4 bodies, 2 endpoints, 1 entities, 1 streaming events (update)" in lines
    assert "server quirk: unknown-api-route-html-404 (GET /api/v1/nothing)" in lines
    assert "capability skipped: full-text search: no Elasticsearch" in lines
    assert "contract breaks: 0" in lines and "cleanup: 3 created, 3 deleted or undone; 0 left" in lines


def test_a_run_that_reached_no_server_says_so():
    assert Report().lines() == ["no server was reached: nothing verified"]


def test_a_skip_names_its_endpoints_by_its_reason_and_its_code():
    assert named_in("Mastodon 4.3.23 has no GET /api/v2/notifications (added in 4.3.0)") == {"GET /api/v2/notifications"}
    assert named_in("GET /api/v1/statuses/1094 answered 401") == {"GET /api/v1/statuses/:id"}
    assert named_in("POST /api/v1/statuses: a read-only run sends no writes") == {"POST /api/v1/statuses"}
    assert named_in("the token lacks the profile scope /oauth/userinfo needs") == {"GET /oauth/userinfo", "POST /oauth/userinfo"}
    assert named_in("the account has fewer than two statuses to page through") == set()
    code = '''
    answer = me.api.get(f"/api/v1/accounts/{me.id}/statuses", params={"limit": 1})
    peer.api.post(f"{path}/favourite")
    me.api.request("DELETE", f"/api/v2/filters/{kept['id']}", expect=(200, 404))
    '''
    assert called_in(code) == {"GET /api/v1/accounts/:id/statuses", "DELETE /api/v2/filters/:id"}


def test_skips_and_the_coverage_by_area_in_the_report():
    one, two = Report(), Report()
    one.server = {"url": "https://x", "target": "remote", "version": "4.3.23", "writes": "on"}
    one.verified("GET", "https://x/api/v1/statuses/1", "Status")
    two.touched.clear()
    two.verified("GET", "https://x/api/v1/accounts/verify_credentials", "CredentialAccount")
    two.skipped("capability: full-text search: no Elasticsearch", {"GET /api/v2/search"} | two.touched)
    two.skipped("Mastodon 4.3.23 has no GET /api/v1/statuses/:id/quotes (added in 4.5.0)", {"GET /api/v1/statuses/:id/quotes"})
    two.skipped("needs a second account: set MASTODON_CONTRACT_TOKEN_2", set())
    two.quirk("unknown-api-route-html-404", "GET", "https://x/api/v1/instance/peers")
    two.event("update", "Status")
    merged = Report()
    for part in (one, two):
        merged.merge(part.to_json())
    assert merged.skips["capability: full-text search: no Elasticsearch"] == {"GET /api/v2/search", "GET /api/v1/accounts/verify_credentials"}
    lines = merged.lines()
    assert "coverage by API area (routes of Mastodon 4.3.23):" in lines
    assert "    skipped GET /api/v2/search: capability: full-text search: no Elasticsearch" in lines
    assert "    skipped GET /api/v1/instance/peers: server quirk: unknown-api-route-html-404" in lines
    assert any(line.startswith("  streaming: 1 checked") for line in lines)
    assert any(line.startswith("    not offered by Mastodon 4.3.23: ") and "GET /api/v1/statuses/:id/quotes" in line for line in lines)
    assert lines[-2].startswith("covered ") and "of Mastodon 4.3.23's config/routes/api.rb (" in lines[-2]
    # the quotes skip is told by "not offered"; a skip that names no endpoint has a line of its own
    assert lines[-1] == "other skips: needs a second account: set MASTODON_CONTRACT_TOKEN_2"
    saved = merged.to_json(with_coverage=True)
    assert saved["coverage"]["release"] == "4.3.23" and saved["coverage"]["areas"]["search"]["skipped"] == {
        "GET /api/v2/search": ["capability: full-text search: no Elasticsearch"]}
    assert "coverage" not in merged.to_json()  # what a worker hands on carries no coverage
