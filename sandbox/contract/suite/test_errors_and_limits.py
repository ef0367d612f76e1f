"""Error shapes (401, 403 for a missing scope, 404, 422, 429: a JSON `{"error": ...}` whose text is never
compared, it is localised) and the rate-limit headers (optional, well-formed where present)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from mastodon_sandbox.contract.pacing import parse_rate_limit, server_time

NO_SUCH_STATUS = "999999999999999999"  # a snowflake id centuries ahead


def test_401_without_a_token(anon):
    assert anon.get("/api/v1/accounts/verify_credentials", expect=(401,)).entity == "Error"


def test_403_for_a_scope_the_token_lacks(me):
    answer = me.api.get("/api/v1/admin/accounts", params={"limit": 1}, expect=(403, 200))
    if answer.status == 200:
        pytest.skip("the token has admin scopes: there is no scope it lacks to ask for here")
    assert answer.entity == "Error"


def test_404_for_a_status_that_does_not_exist(me):
    assert me.api.get(f"/api/v1/statuses/{NO_SUCH_STATUS}", expect=(404,)).entity == "Error"


def test_404_for_an_api_route_that_does_not_exist(me):
    assert me.api.get("/api/v1/contract_suite_no_such_route", expect=(404,)).entity == "Error"


def test_422_for_an_empty_status(writes, me):
    # Refused before anything is stored (PostStatusService#process_status!: the validation fails on save!).
    assert me.api.post("/api/v1/statuses", data={"status": ""}, expect=(422,)).entity == "Error"


def test_400_for_a_limit_that_is_not_a_number(me):
    me.api.get("/api/v1/timelines/home", params={"limit": "abc"}, expect=(400, 422))


def test_rate_limit_headers_are_well_formed(me):
    answer = me.api.get("/api/v1/accounts/verify_credentials")
    limit = parse_rate_limit(answer.headers)  # the client checks every answer's; this one must have them
    if limit is None:
        pytest.skip("the server sends no X-RateLimit headers (they are optional)")
    now = server_time(answer.headers) or datetime.now(timezone.utc)
    assert 0 <= limit.remaining <= limit.limit
    assert now - timedelta(seconds=2) <= limit.reset <= now + timedelta(days=1), (limit, now)


def test_429_when_a_limit_is_spent(contract, peer):
    """On the sandbox only: 30 deletes per account in 30 minutes (rack_attack.rb throttle_api_delete, counted
    per user before any controller runs, so deleting a status that does not exist counts and deletes
    nothing). The peer is this run's fresh account and never deletes or unboosts on the sandbox, where
    nothing is cleaned up."""
    if contract.remote:
        pytest.skip("a 429 is provoked on the sandbox only: on a remote server it would spend the account's deletes for 30 minutes")
    url = f"{contract.server.base_url}/api/v1/statuses/{NO_SUCH_STATUS}"
    session, headers = contract.context.session, {"Authorization": f"Bearer {peer.api.token}"}

    def spend(_: int) -> int:
        return session.delete(url, headers=headers, verify=contract.server.verify, timeout=30).status_code
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert set(pool.map(spend, range(30))) == {404}
    answer = peer.api.delete(url, expect=(429,), pace=False)
    assert answer.entity == "Error"
    limit = parse_rate_limit(answer.headers)
    now = server_time(answer.headers) or datetime.now(timezone.utc)
    assert limit and limit.remaining == 0 and now < limit.reset <= now + timedelta(minutes=31), limit
