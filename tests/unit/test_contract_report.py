"""The contract run's report (sandbox/contract/report.py): endpoints by template, workers merged, the lines
a user reads at the end of a run."""

from __future__ import annotations

from mastodon_sandbox.contract.report import Report, endpoint_of


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
