"""Pacing by the server's X-RateLimit-* headers, and the write budget of one run against a remote server.

Mastodon answers API requests with the limit, what is left and when the window resets of the throttle
closest to exhaustion for that request (app/controllers/concerns/api/rate_limit_headers.rb), or of the
per-account family when that is tighter (app/lib/rate_limiter.rb). The throttles (config/initializers/
rack_attack.rb, v4.6.5): 300 per token / 5 min on the API, 300 per user / 15 min for paging requests, 30 per
user / 30 min for media uploads and for status deletes and unreblogs, 5 application registrations per IP /
10 min; the families: 300 posts per account /
3 h, 400 follows / 24 h. A request is paced on what the last answer of its kind said, so a run stops short
of a 429 instead of provoking one.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

from ..errors import SandboxError

HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
_PAGING_PARAMS = ("page", "min_id", "max_id", "since_id")  # rack_attack.rb paging_request?


class MalformedRateLimit(AssertionError):
    """X-RateLimit-* headers that are present but not what the documentation promises."""


class Paced(SandboxError):
    """Going on would need a wait longer than this run allows: the test is skipped, not failed."""


class BudgetSpent(SandboxError):
    """This run's write budget for a kind of write is spent: the test is skipped, not failed."""


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    reset: datetime  # timezone-aware


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def parse_reset(value: str) -> datetime:
    """Mastodon's ISO 8601 timestamp (`2026-08-01T13:50:00.037659Z`) or an epoch in seconds, which other
    servers claiming the API send (Mastodon.py accepts both)."""
    text = value.strip()
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=timezone.utc)
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", text):
        raise ValueError(text)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))  # Python 3.10 does not read `Z`
    return parsed


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """The answer's rate limit; None when it sends none (the headers are optional); MalformedRateLimit when
    some are missing or not numbers and a timestamp."""
    values = {name: _header(headers, name) for name in HEADERS}
    present = [name for name, value in values.items() if value is not None]
    if not present:
        return None
    if len(present) < len(HEADERS):
        missing = ", ".join(name for name in HEADERS if values[name] is None)
        raise MalformedRateLimit(f"{', '.join(present)} without {missing}")
    limit, remaining, reset = (values[name].strip() for name in HEADERS)
    if not limit.isdigit() or not remaining.isdigit():
        raise MalformedRateLimit(f"X-RateLimit-Limit {limit!r} and X-RateLimit-Remaining {remaining!r} must be whole numbers")
    if int(remaining) > int(limit):
        raise MalformedRateLimit(f"X-RateLimit-Remaining {remaining} is more than X-RateLimit-Limit {limit}")
    try:
        when = parse_reset(reset)
    except ValueError:
        raise MalformedRateLimit(f"X-RateLimit-Reset {reset!r} is neither an ISO 8601 timestamp nor an epoch") from None
    return RateLimit(int(limit), int(remaining), when)


def server_time(headers: Mapping[str, str]) -> datetime | None:
    """The server's clock from its Date header, to wait the right time whatever this machine's clock says."""
    raw = _header(headers, "Date")
    try:
        return parsedate_to_datetime(raw) if raw else None
    except (TypeError, ValueError):
        return None


def family_of(method: str, url: str) -> str:
    """Which throttle an API request counts against (rack_attack.rb, rate_limiter.rb)."""
    method, parts = method.upper(), urlsplit(url)
    path = parts.path.rstrip("/")
    if method == "POST" and re.fullmatch(r"/api/v\d+/media", path):
        return "media"
    if (method == "DELETE" and re.fullmatch(r"/api/v1/statuses/\d+", path)) or \
            (method == "POST" and re.fullmatch(r"/api/v1/statuses/\d+/unreblog", path)):
        return "delete"
    if (method == "POST" and path in ("/api/v1/statuses",)) or (method == "PUT" and re.fullmatch(r"/api/v1/statuses/\d+", path)) \
            or (method == "POST" and re.fullmatch(r"/api/v1/statuses/\d+/reblog", path)):
        return "statuses"
    if method == "POST" and re.fullmatch(r"/api/v1/accounts/\d+/follow", path):
        return "follows"
    if method == "POST" and path == "/api/v1/apps":  # 5 registrations per IP / 10 min: no bearing on other calls
        return "apps"
    if any(parse_qs(parts.query).get(name) for name in _PAGING_PARAMS):
        return "paging"
    return "api"


def reserve_for(limit: int) -> int:
    """Requests left untouched in each window: 5 %, at least 2 (2 of 30 deletes, 15 of 300 API calls)."""
    return max(2, math.ceil(limit * 0.05))


class Pacer:
    """Remembers the last rate limit seen per (identity, family) and waits, or refuses, before a request
    that would eat into the reserve."""

    def __init__(self, max_wait: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        self.max_wait = max_wait
        self._sleep, self._clock = sleep, clock
        self._seen: dict[tuple[str, str], tuple[RateLimit, float]] = {}  # → (limit, local reset time)
        self.waited = 0.0

    def observe(self, who: str, family: str, limit: RateLimit, now: datetime | None = None) -> None:
        """Record an answer's rate limit; `now` is the server's clock (its Date header) when known."""
        local_now = self._clock()
        server_now = now.timestamp() if now else local_now
        self._seen[(who, family)] = (limit, local_now + (limit.reset.timestamp() - server_now))

    def left(self, who: str, family: str) -> int | None:
        seen = self._seen.get((who, family))
        return seen[0].remaining if seen else None

    def before(self, who: str, family: str, what: str) -> None:
        """Wait until the window resets when the reserve is reached; Paced when that is too long."""
        seen = self._seen.get((who, family))
        if not seen:
            return
        limit, reset_at = seen
        if limit.remaining > reserve_for(limit.limit):
            return
        wait = reset_at - self._clock()
        if wait <= 0:
            del self._seen[(who, family)]
            return
        if wait > self.max_wait:
            raise Paced(f"{what}: {limit.remaining} of {limit.limit} requests left until "
                        f"{limit.reset.strftime('%H:%M:%S')}Z ({wait:.0f} s away, more than the {self.max_wait:.0f} s "
                        "this run waits): not risking a 429")
        self._sleep(wait + 0.5)
        self.waited += wait + 0.5
        del self._seen[(who, family)]


# Writes one remote run may make per account, well inside Mastodon's limits: 300 posts / 3 h, and the
# 30 deletes / 30 min every post must be undone with (so posts stay below what one window can delete).
REMOTE_BUDGET = {"statuses": 20, "media": 3, "follows": 6}


def budget_kind(method: str, url: str) -> str | None:
    """The budgeted kind of a write, or None for writes the budget does not count."""
    family = family_of(method, url)
    return family if family in ("statuses", "media", "follows") and method.upper() in ("POST", "PUT") else None


class WriteBudget:
    """Counts a run's writes per account; `limits` None means unlimited (the sandbox's fresh accounts)."""

    def __init__(self, limits: Mapping[str, int] | None, share: int = 1):
        # Under xdist every worker gets its share, so the run as a whole stays inside the budget.
        self.limits = None if limits is None else {k: max(1, v // max(1, share)) for k, v in limits.items()}
        self.spent: dict[tuple[str, str], int] = {}

    def spend(self, who: str, method: str, url: str, what: str) -> None:
        kind = budget_kind(method, url)
        if kind is None or self.limits is None:
            return
        used = self.spent.get((who, kind), 0)
        if used >= self.limits[kind]:
            raise BudgetSpent(f"{what}: this run's budget of {self.limits[kind]} {kind} writes for {who} is spent")
        self.spent[(who, kind)] = used + 1
