"""Mastodon's rate limits as sandbox/data/limits.py names them: each row against upstream's line, copied here
from v4.6.5 (v4.3.23 has the same lines at the same numbers; a new release is checked by copying its lines
again), and the counters' keys as Rack::Attack and RateLimiter spell them. Reaching them
on real Mastodon: tests/integration/test_rate_limits_reached.py."""

from __future__ import annotations

import re

import pytest

from mastodon_sandbox.data.limits import LIMITS, keys_at_limit, limit_named
from mastodon_sandbox.errors import SandboxError

# config/initializers/rack_attack.rb (v4.6.5; v4.3.23 has these lines at the same numbers), copied:
RACK_ATTACK_LINES = {
    69: "throttle('throttle_authenticated_api', limit: 1_500, period: 5.minutes) do |req|",
    73: "throttle('throttle_per_token_api', limit: 300, period: 5.minutes) do |req|",
    81: "throttle('throttle_api_media', limit: 30, period: 30.minutes) do |req|",
    93: "throttle('throttle_authenticated_paging', limit: 300, period: 15.minutes) do |req|",
    104: "throttle('throttle_api_delete', limit: 30, period: 30.minutes) do |req|",
}
# app/lib/rate_limiter.rb FAMILIES (both versions): family => [limit, period]
FAMILIES = {"follows": (400, 24 * 3600), "statuses": (300, 3 * 3600), "reports": (400, 24 * 3600)}
UNITS = {"minutes": 60, "hour": 3600, "hours": 3600}


def test_every_throttle_is_upstream_s_line():
    for line, text in RACK_ATTACK_LINES.items():
        name, limit, amount, unit = re.search(r"throttle\('([^']+)', limit: ([\d_]+), period: (\d+)\.(\w+)\)", text).groups()
        row = LIMITS[name]
        assert (row.limit, row.period, row.source) == (int(limit.replace("_", "")), int(amount) * UNITS[unit],
                                                        f"config/initializers/rack_attack.rb:{line}")
    for family, (limit, period) in FAMILIES.items():
        assert (LIMITS[family].limit, LIMITS[family].period, LIMITS[family].by) == (limit, period, "account")


def test_the_counters_are_keyed_as_rack_attack_and_rate_limiter_key_them():
    # rack-attack 6.8 lib/rack/attack/cache.rb: "#{prefix}:#{(now / period).to_i}:#{unprefixed_key}", in Rails'
    # cache (namespace cache); app/lib/rate_limiter.rb: "rate_limit:#{@by.id}:#{@family}:#{(now / @period).to_i}"
    now = 1_800_000_100.0
    assert keys_at_limit(LIMITS["throttle_api_media"], "42", now) == [
        (f"cache:rack::attack:{int(now) // 1800}:throttle_api_media:42", 1800 - int(now) % 1800 + 1)]
    assert keys_at_limit(LIMITS["statuses"], "7", now)[0][0] == f"rate_limit:7:statuses:{int(now) // 10800}"
    # at a period's last seconds the next period is at the limit too: a request a moment later is refused as well
    end = (int(now) // 300 + 1) * 300 - 2.0
    assert [k for k, _ in keys_at_limit(LIMITS["throttle_per_token_api"], "9", end)] == [
        f"cache:rack::attack:{int(end) // 300}:throttle_per_token_api:9", f"cache:rack::attack:{int(end) // 300 + 1}:throttle_per_token_api:9"]


def test_an_unknown_limit_is_one_line_naming_the_known_ones():
    with pytest.raises(SandboxError, match=r"no rate limit 'throttle_media': choose one of throttle_authenticated_api, .*statuses"):
        limit_named("throttle_media")
