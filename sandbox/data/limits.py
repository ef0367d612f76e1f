"""Mastodon's own rate limits, and bringing one account to one of them at once, so that a test sees the 429
Mastodon itself answers (its body and X-RateLimit-* headers) without sending hundreds of requests first.

Two mechanisms, the same in 4.3.23 and 4.6.5 (line numbers too):
- Rack::Attack throttles (config/initializers/rack_attack.rb): a counter per period in Rails' cache (Redis,
  namespace `cache`), key `rack::attack:<epoch // period>:<name>:<discriminator>` (rack-attack 6.8,
  lib/rack/attack/cache.rb `key_and_expiry`); the request that finds it at the limit is answered 429 by
  `throttled_responder`.
- RateLimiter families (app/lib/rate_limiter.rb): statuses, follows and reports per account, key
  `rate_limit:<account id>:<family>:<epoch // period>` in Mastodon's Redis; `record!` refuses at the limit
  (Mastodon::RateLimitExceededError, a 429 through app/controllers/concerns/error_responses.rb).
A counter is set to its limit in the current period (and the next, when the current ends within seconds) and
deleted again by `release`. Only limits kept per account, user or token are offered: per-IP ones would
throttle every client of the sandbox at once.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

from .. import server_commands
from ..errors import SandboxError, command_failed
from ..handle import Sandbox
from . import snapshots

RACK_ATTACK = "config/initializers/rack_attack.rb"
RATE_LIMITER = "app/lib/rate_limiter.rb"


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    period: int  # seconds
    by: str  # whose counter: "user" (its user id), "token" (its token's id) or "account" (its account id)
    counts: str  # which requests count
    source: str  # upstream file:line (4.3.23 and 4.6.5 alike)

    def key(self, discriminator: str, now: float) -> str:
        bucket = int(now) // self.period
        if self.source.startswith(RATE_LIMITER):
            return f"rate_limit:{discriminator}:{self.name}:{bucket}"
        return f"cache:rack::attack:{bucket}:{self.name}:{discriminator}"


LIMITS: dict[str, Limit] = {limit.name: limit for limit in (
    Limit("throttle_authenticated_api", 1500, 300, "user", "every /api request of the user", f"{RACK_ATTACK}:69"),
    Limit("throttle_per_token_api", 300, 300, "token", "every /api request with the token", f"{RACK_ATTACK}:73"),
    Limit("throttle_api_media", 30, 1800, "user", "POST /api/v1/media and /api/v2/media", f"{RACK_ATTACK}:81"),
    Limit("throttle_authenticated_paging", 300, 900, "user", "requests with page, min_id, max_id or since_id", f"{RACK_ATTACK}:93"),
    Limit("throttle_api_delete", 30, 1800, "user", "DELETE /api/v1/statuses/:id and POST …/unreblog", f"{RACK_ATTACK}:104"),
    Limit("statuses", 300, 10800, "account", "statuses posted, edited and boosted", f"{RATE_LIMITER}:12"),
    Limit("follows", 400, 86400, "account", "follows, follow requests and followed tags", f"{RATE_LIMITER}:7"),
    Limit("reports", 400, 86400, "account", "reports filed", f"{RATE_LIMITER}:17"),
)}

# Set each key to the limit, with Rack::Attack's and RateLimiter's own expiry: what is left of the period, plus 1.
_SET_LUA = """
for i = 1, #ARGV, 3 do
  redis.call('SET', ARGV[i], ARGV[i + 1], 'EX', ARGV[i + 2])
end
return #ARGV / 3
"""
_DELETE_LUA = "return redis.call('DEL', unpack(ARGV))"
NEXT_PERIOD_TOO = 5.0  # seconds: a counter set this close to its period's end is set in the next one as well


def limit_named(name: str) -> Limit:
    if name not in LIMITS:
        raise SandboxError(f"no rate limit {name!r}: choose one of {', '.join(LIMITS)}")
    return LIMITS[name]


def discriminator(sandbox: Sandbox, limit: Limit, account_id: str, token: str) -> str:
    """Whose counter it is, as Mastodon names it: the account's id, its user's id, or its token's id."""
    if limit.by == "account":
        return str(account_id)
    if limit.by == "user":
        sql = f"SELECT 'found:' || id FROM users WHERE account_id = {int(account_id)}"
    else:  # Doorkeeper keeps the token itself in oauth_access_tokens.token; asked by its digest, so that the
        # token is never on a command line (docker exec's argv is visible to `ps` and in Docker's events)
        digest = hashlib.sha256(token.encode()).hexdigest()
        sql = f"SELECT 'found:' || id FROM oauth_access_tokens WHERE encode(sha256(convert_to(token, 'UTF8')), 'hex') = '{digest}'"
    db = snapshots.postgres(sandbox)
    found = re.search(r"found:(\d+)", db.sql(f"\\connect {snapshots.LIVE_DB}", sql))
    if found is None:
        raise SandboxError(f"account {account_id} has no {'user' if limit.by == 'user' else 'such token'} on {sandbox.name!r}")
    return found.group(1)


def keys_at_limit(limit: Limit, who: str, now: float) -> list[tuple[str, int]]:
    """The counters to set for `who` (a discriminator) at `now`, each with its expiry in seconds."""
    left = limit.period - int(now) % limit.period
    keys = [(limit.key(who, now), left + 1)]
    if left <= NEXT_PERIOD_TOO:
        keys.append((limit.key(who, now + limit.period), left + limit.period + 1))
    return keys


def reach(sandbox: Sandbox, name: str, account_id: str, token: str = "") -> list[str]:
    """Bring the account (or its token) to the limit `name` now: its next request that counts is refused by
    Mastodon with a 429. Returns the keys set, for `release`."""
    limit = limit_named(name)
    keys = keys_at_limit(limit, discriminator(sandbox, limit, account_id, token), time.time())
    args = [str(part) for key, ttl in keys for part in (key, limit.limit, ttl)]
    _eval(sandbox, _SET_LUA, args, f"could not bring account {account_id} to {name}")
    return [key for key, _ in keys]


def release(sandbox: Sandbox, keys: list[str]) -> None:
    """The counters `reach` set, gone: the account is under every limit it was brought to."""
    if keys:
        _eval(sandbox, _DELETE_LUA, keys, "could not release the rate limits")


def _eval(sandbox: Sandbox, lua: str, args: list[str], what: str) -> str:
    proc = sandbox.stack.exec(*server_commands.redis_eval(lua, args))
    if proc.returncode != 0 or proc.stdout.startswith("ERR"):
        raise command_failed(what, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout
