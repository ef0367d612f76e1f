"""Mastodon's own rate limits, reached at once for a test's account (mastodon_rate_limits, sandbox/data/limits.py):
the 429 is Mastodon's — its body and X-RateLimit-* headers — and Mastodon.py reacts to it as to any other."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from mastodon import Mastodon, MastodonRatelimitError

from mastodon_sandbox.testing.fixtures import _endpoint, _session

pytestmark = [pytest.mark.docker, pytest.mark.needs_mastodon]

PICTURE = Path(__file__).resolve().parents[2] / "fixtures" / "media" / "picture-stripes.png"


def throwing_client(sandbox, lease) -> Mastodon:
    """Mastodon.py raising on a 429 instead of waiting for the reset (its default, `wait`, would sleep 30 min)."""
    endpoint = _endpoint(sandbox)
    return Mastodon(access_token=lease.token, api_base_url=endpoint.url, session=_session(endpoint, None),
                    ratelimit_method="throw", version_check_mode="none")


def reset_in(response) -> float:
    reset = datetime.fromisoformat(response.headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
    return (reset - datetime.now(timezone.utc)).total_seconds()


def test_the_media_limit_reached_is_mastodon_s_own_429_until_released(mastodon_sandbox, mastodon_accounts, mastodon_rate_limits):
    (lease,) = mastodon_accounts(1)
    session = _session(_endpoint(mastodon_sandbox), lease.token)

    def upload():
        with open(PICTURE, "rb") as fh:
            return session.post(f"{mastodon_sandbox.url}/api/v2/media", files={"file": ("p.png", fh, "image/png")}, timeout=60)

    mastodon_rate_limits.reach(lease, "throttle_api_media")
    refused = upload()
    assert refused.status_code == 429 and refused.json() == {"error": "Too many requests"}
    assert (refused.headers["X-RateLimit-Limit"], refused.headers["X-RateLimit-Remaining"]) == ("30", "0")
    assert 0 < reset_in(refused) <= 1800  # the end of Mastodon's 30-minute period
    with pytest.raises(MastodonRatelimitError):
        throwing_client(mastodon_sandbox, lease).media_post(str(PICTURE))
    # only this account: another's upload goes through
    (other,) = mastodon_accounts(1)
    assert throwing_client(mastodon_sandbox, other).media_post(str(PICTURE))["id"]

    mastodon_rate_limits.release()
    assert upload().status_code in (200, 202)


def test_the_statuses_limit_refuses_a_post_with_mastodon_s_headers(mastodon_sandbox, mastodon_accounts, mastodon_rate_limits):
    (lease,) = mastodon_accounts(1)
    client = throwing_client(mastodon_sandbox, lease)
    client.status_post("under the limit")
    mastodon_rate_limits.reach(lease, "statuses")
    with pytest.raises(MastodonRatelimitError):
        client.status_post("over the limit")
    refused = _session(_endpoint(mastodon_sandbox), lease.token).post(f"{mastodon_sandbox.url}/api/v1/statuses",
                                                                        data={"status": "over the limit"}, timeout=30)
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Limit"] == "300"
    assert 0 < reset_in(refused) <= 3 * 3600


def test_the_per_token_limit_refuses_every_api_request_of_that_token(mastodon_sandbox, mastodon_accounts, mastodon_rate_limits):
    (lease,) = mastodon_accounts(1)
    session = _session(_endpoint(mastodon_sandbox), lease.token)
    mastodon_rate_limits.reach(lease, "throttle_per_token_api")  # the token found by its digest, never sent as is
    refused = session.get(f"{mastodon_sandbox.url}/api/v1/accounts/verify_credentials", timeout=30)
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Limit"] == "300"
    assert 0 < reset_in(refused) <= 300
