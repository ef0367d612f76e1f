"""Pacing by X-RateLimit-* headers and the remote write budget (sandbox/contract/pacing.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mastodon_sandbox.contract.pacing import (
    BudgetSpent,
    MalformedRateLimit,
    Paced,
    Pacer,
    RateLimit,
    WriteBudget,
    family_of,
    parse_rate_limit,
)

NOW = datetime(2026, 12, 2, 3, 40, tzinfo=timezone.utc)


def headers(limit="300", remaining="299", reset="2026-12-02T03:45:00.740421Z") -> dict[str, str]:
    return {"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset}


def test_mastodons_headers_parse_and_absent_ones_are_fine():
    limit = parse_rate_limit({k.lower(): v for k, v in headers().items()})  # header names are case-insensitive
    assert (limit.limit, limit.remaining) == (300, 299) and limit.reset == datetime(2026, 12, 2, 3, 45, 0, 740421, tzinfo=timezone.utc)
    assert parse_rate_limit({"Content-Type": "application/json"}) is None  # optional
    assert parse_rate_limit(headers(reset="1796182200")).reset == datetime.fromtimestamp(1796182200, tz=timezone.utc)  # epochs too


@pytest.mark.parametrize("broken, says", [
    ({"X-RateLimit-Limit": "300"}, "without X-RateLimit-Remaining, X-RateLimit-Reset"),
    (headers(remaining="lots"), "whole numbers"),
    (headers(remaining="301"), "more than"),
    (headers(reset="in five minutes"), "neither an ISO 8601 timestamp nor an epoch"),
])
def test_ill_formed_headers_are_a_contract_break(broken, says):
    with pytest.raises(MalformedRateLimit, match=says):
        parse_rate_limit(broken)


@pytest.mark.parametrize("method, url, family", [
    ("POST", "https://x/api/v2/media", "media"),
    ("POST", "https://x/api/v1/media", "media"),
    ("DELETE", "https://x/api/v1/statuses/12", "delete"),
    ("POST", "https://x/api/v1/statuses/12/unreblog", "delete"),
    ("POST", "https://x/api/v1/statuses", "statuses"),
    ("POST", "https://x/api/v1/statuses/12/reblog", "statuses"),
    ("POST", "https://x/api/v1/accounts/7/follow", "follows"),
    ("POST", "https://x/api/v1/apps", "apps"),
    ("GET", "https://x/api/v1/timelines/home?max_id=5", "paging"),
    ("GET", "https://x/api/v1/timelines/home?limit=5", "api"),
])
def test_each_request_is_paced_against_its_own_throttle(method, url, family):
    assert family_of(method, url) == family


class Clock:
    def __init__(self):
        self.now, self.slept = NOW.timestamp(), []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_pacer_waits_for_a_near_reset_and_refuses_a_far_one():
    clock = Clock()
    pacer = Pacer(max_wait=30, sleep=clock.sleep, clock=clock)
    pacer.observe("me", "delete", RateLimit(30, 5, NOW + timedelta(minutes=20)), now=NOW)
    pacer.before("me", "delete", "DELETE /api/v1/statuses/:id")  # 5 left: more than the reserve of 2
    assert clock.slept == []
    pacer.observe("me", "delete", RateLimit(30, 2, NOW + timedelta(seconds=10)), now=NOW)
    pacer.before("me", "delete", "DELETE /api/v1/statuses/:id")
    assert clock.slept and 10 <= clock.slept[0] <= 11  # waited for the window to reset
    pacer.observe("me", "delete", RateLimit(30, 1, NOW + timedelta(minutes=20)), now=NOW)
    with pytest.raises(Paced, match="1 of 30 requests left"):
        pacer.before("me", "delete", "DELETE /api/v1/statuses/:id")
    pacer.before("peer", "delete", "DELETE /api/v1/statuses/:id")  # another account's limit is its own


def test_the_pacer_goes_by_the_servers_clock():
    clock = Clock()
    pacer = Pacer(max_wait=30, sleep=clock.sleep, clock=clock)
    server_now = NOW + timedelta(hours=1)  # this machine's clock is an hour behind the server's
    pacer.observe("me", "api", RateLimit(300, 0, server_now + timedelta(seconds=5)), now=server_now)
    pacer.before("me", "api", "GET /api/v1/timelines/home")
    assert 5 <= clock.slept[0] <= 6


def test_the_write_budget_counts_per_account_and_kind():
    budget = WriteBudget({"statuses": 2, "media": 1, "follows": 1})
    for _ in range(2):
        budget.spend("me", "POST", "https://x/api/v1/statuses", "POST /api/v1/statuses")
    with pytest.raises(BudgetSpent, match="budget of 2 statuses writes for me"):
        budget.spend("me", "POST", "https://x/api/v1/statuses", "POST /api/v1/statuses")
    budget.spend("peer", "POST", "https://x/api/v1/statuses", "POST /api/v1/statuses")
    budget.spend("me", "POST", "https://x/api/v1/statuses/1/favourite", "POST ...")  # not budgeted
    halved = WriteBudget({"statuses": 20}, share=4)  # four xdist workers share a run's budget
    assert halved.limits == {"statuses": 5}
    WriteBudget(None).spend("me", "POST", "https://x/api/v1/statuses", "unlimited on the sandbox")
