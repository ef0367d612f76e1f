"""Rack::Attack throttles as Mastodon configures them (config/initializers/rack_attack.rb), counted in the Redis
cache namespace (`cache:rack::attack:<epoch/period>:<name>:<discriminator>`), and the X-RateLimit-* headers of
app/controllers/concerns/api/rate_limit_headers.rb."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass
class Hit:
    name: str
    limit: int
    period: int
    count: int
    now: float

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    def reset_iso(self) -> str:
        # (now + (period - now.to_i % period)).iso8601(6), as the concern computes it
        t = self.now + (self.period - int(self.now) % self.period)
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def headers(self) -> dict:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": self.reset_iso()}


# name -> (limit, period in seconds), in the order rack_attack.rb defines them (the order breaks ties).
THROTTLES = {
    "throttle_authenticated_api": (1500, 300),
    "throttle_per_token_api": (300, 300),
    "throttle_unauthenticated_api": (300, 300),
    "throttle_authenticated_paging": (300, 900),
    "throttle_unauthenticated_paging": (300, 900),
    "throttle_oauth_application_registrations/ip": (5, 600),
    "throttle_login_attempts/ip": (25, 300),
    "throttle_login_attempts/email": (25, 3600),
}
# Rack::Attack::Request#paging_request?
PAGING_PARAMS = ("page", "min_id", "max_id", "since_id")


def key(name: str, discriminator: str, period: int, now: float) -> str:
    return f"cache:rack::attack:{int(now) // period}:{name}:{discriminator}"


async def hit(redis, name: str, discriminator: str, now: float | None = None) -> Hit:
    limit, period = THROTTLES[name]
    now = time.time() if now is None else now
    k = key(name, discriminator, period, now)
    pipe = redis.pipeline()
    pipe.incr(k)
    pipe.expire(k, period + 1)
    count, _ = await pipe.execute()
    return Hit(name, limit, period, int(count), now)


def closest(hits: list[Hit]) -> Hit | None:
    """Api::RateLimitHeaders#api_throttle_data: the throttle with the fewest requests left decides the headers;
    on a tie the first defined (Ruby's min_by keeps the first)."""
    return min(hits, key=lambda h: h.limit - h.count) if hits else None
