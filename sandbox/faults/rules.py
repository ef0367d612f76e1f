"""A fault rule: what it matches, what it does, and for how long. Checked whole before anything is written;
compose/proxy/faultd.py applies it (the two share only the JSON written by `Rule.to_json`)."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from ..errors import SandboxError

ACTIONS = ("status", "delay", "close", "cut")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# The streaming API's streams (streaming/index.js, channelsForUserStream and the stream names it accepts).
STREAMS = ("user", "user:notification", "public", "public:media", "public:local", "public:local:media",
           "public:remote", "public:remote:media", "hashtag", "hashtag:local", "list", "direct")
DEFAULT_RESET_IN = 5.0  # seconds until an injected 429's X-RateLimit-Reset
DEFAULT_LIMIT = 300  # X-RateLimit-Limit of an injected 429: Mastodon's per-token API limit (rack_attack.rb)


@dataclass(frozen=True)
class Rule:
    """One rule. Matches: `account` (a username; None: every request), `method`, `path` (a glob, `*` crosses
    `/`), `stream` (a streaming stream). Acts: `status` (answer it), `delay` (`seconds`, then Mastodon's answer),
    `close` (no answer), `cut` (Mastodon's answer, cut after `after_events` events or `after_seconds`). Lasts:
    `count` times, each time with `probability` (dice seeded by `seed`), until `until` (epoch seconds)."""

    id: str
    action: str
    status: int | None = None
    seconds: float | None = None
    after_events: int | None = None
    after_seconds: float | None = None
    account: str | None = None
    method: str | None = None
    path: str = "*"
    stream: str | None = None
    count: int | None = None
    probability: float | None = None
    seed: int = 0
    until: float | None = None
    reset_in: float = DEFAULT_RESET_IN
    limit: int = DEFAULT_LIMIT
    retry_after: int | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict) -> "Rule":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def describe(self) -> str:
        """One line, as `faults list` prints it."""
        if self.action == "status":
            act = f"answer {self.status}"
        elif self.action == "delay":
            act = f"delay {self.seconds:g} s"
        elif self.action == "close":
            act = "close the connection"
        else:
            act = "cut the stream after " + " or ".join(filter(None, (
                f"{self.after_events} event(s)" if self.after_events else "",
                f"{self.after_seconds:g} s" if self.after_seconds else "")))
        what = " ".join(filter(None, (self.method or "any", self.path, f"stream {self.stream}" if self.stream else "")))
        limits = ", ".join(filter(None, (f"{self.count} time(s)" if self.count else "",
                                         f"p={self.probability:g} seed {self.seed}" if self.probability else "",
                                         "until a set time" if self.until else "")))
        return f"{self.id}  {self.account or 'every account'}: {what} -> {act}" + (f" ({limits})" if limits else "")


def _positive(name: str, value, kind=float, allow_zero: bool = False):
    if value is None:
        return None
    try:
        number = kind(value)
        if kind is int and isinstance(value, float) and number != value:
            raise ValueError  # 2.5 times is not 2 times
    except (TypeError, ValueError, OverflowError):
        raise SandboxError(f"{name} must be a {'whole ' if kind is int else ''}number, not {value!r}") from None
    if isinstance(number, float) and not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise SandboxError(f"{name} must be {'zero or more' if allow_zero else 'more than zero'}, not {value!r}")
    return number


def make_rule(rule_id: str, action: str, *, status: int | None = None, seconds: float | None = None,
              after_events: int | None = None, after_seconds: float | None = None, account: str | None = None,
              method: str | None = None, path: str | None = None, stream: str | None = None,
              count: int | None = None, probability: float | None = None, seed: int = 0,
              duration: float | None = None, now: float = 0.0, reset_in: float = DEFAULT_RESET_IN,
              limit: int = DEFAULT_LIMIT, retry_after: int | None = None) -> Rule:
    """A checked rule, or a one-line SandboxError naming what is wrong (the account is checked by the layer)."""
    if action not in ACTIONS:
        raise SandboxError(f"unknown fault action {action!r}: one of {', '.join(ACTIONS)}")
    if action == "status":
        code = _positive("the status", status, int)
        if code is None or not 400 <= code <= 599:
            raise SandboxError(f"a fault's status must be 400 to 599 (an error a client sees), not {status!r}")
        status = code
    elif status is not None:
        raise SandboxError(f"a status goes with the status action, not {action!r}")
    seconds = _positive("the delay", seconds)
    if (action == "delay") != (seconds is not None):
        raise SandboxError("the delay action takes its seconds (--delay SECONDS), and only it does")
    after_events = _positive("the events before a cut", after_events, int)
    after_seconds = _positive("the seconds before a cut", after_seconds)
    if action == "cut" and after_events is None and after_seconds is None:
        raise SandboxError("a cut needs --cut-after-events N and/or --cut-after SECONDS")
    if action != "cut" and (after_events is not None or after_seconds is not None):
        raise SandboxError("--cut-after-events and --cut-after go with the cut action only")
    if method is not None:
        method = method.upper()
        if method not in METHODS:
            raise SandboxError(f"unknown HTTP method {method!r}: one of {', '.join(METHODS)}")
    path = path or ("/api/v1/streaming*" if stream else "*")
    if not path.startswith(("/", "*")):
        raise SandboxError(f"a path pattern starts with / (a glob; * matches anything, / included), not {path!r}")
    if stream is not None and stream not in STREAMS:
        raise SandboxError(f"unknown stream {stream!r}: one of {', '.join(STREAMS)}")
    if action == "cut" and not (stream or path.startswith("/api/v1/streaming")):
        raise SandboxError("a cut is for streaming answers: name a --stream or a /api/v1/streaming path")
    if account is not None and not re.fullmatch(r"[A-Za-z0-9_]+", account):
        raise SandboxError(f"{account!r} is not a username")
    count = _positive("the count", count, int)
    if probability is not None:
        probability = _positive("the probability", probability)
        if probability > 1:
            raise SandboxError(f"the probability is at most 1, not {probability!r}")
    duration = _positive("the duration", duration)
    try:
        whole_seed = int(seed)
        if whole_seed != seed and not isinstance(seed, str):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise SandboxError(f"the seed must be a whole number, not {seed!r}") from None
    return Rule(id=rule_id, action=action, status=status, seconds=seconds, after_events=after_events,
                after_seconds=after_seconds, account=account, method=method, path=path, stream=stream, count=count,
                probability=probability, seed=whole_seed, until=None if duration is None else now + duration,
                reset_in=_positive("the reset", reset_in, allow_zero=True), limit=_positive("the limit", limit, int),
                retry_after=_positive("Retry-After", retry_after, int, allow_zero=True))
