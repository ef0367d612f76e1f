"""One identity (a user's token, or none) talking to the server under test. Every answer is paced by its
rate-limit headers, recognised as a named server quirk or checked against the contract (the entity
`endpoints.entity_for` names, or the one the caller knows), and counted in the run's report.

Outcomes a test must not count as its own failure are exceptions of their own: ServerQuirk (the server's
known deviation), Paced and BudgetSpent (pacing.py), ScopeMissing (a remote token without a scope) and
RateLimitedAnyway (a 429 that pacing did not prevent: the run stops).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from ..errors import SandboxError
from .endpoints import NO_BODY, entity_for
from .pacing import (
    BudgetSpent,
    MalformedRateLimit,
    Pacer,
    WriteBudget,
    family_of,
    parse_rate_limit,
    server_time,
)
from .quirks import Exchange, Quirk, quirk_for
from .report import Report, endpoint_of
from .target import Server, looks_like_html, send
from .validate import ContractViolation, validate

__all__ = ["Answer", "BudgetSpent", "Client", "Context", "RateLimitedAnyway", "ReadOnly", "ScopeMissing", "ServerQuirk", "UnexpectedAnswer"]

AUTO = "auto"  # entity: whatever endpoints.entity_for names


class ServerQuirk(Exception):
    """The answer is one of the server's named quirks (quirks.py): the server's deviation, not the suite's."""

    def __init__(self, quirk: Quirk, what: str):
        self.quirk = quirk
        super().__init__(f"{quirk.name}: {what}: {quirk.description}")


class ScopeMissing(SandboxError):
    """A remote token was refused a scope a test needs (403): the test is skipped with the reason."""


class ReadOnly(SandboxError):
    """A write in a read-only run: refused before it is sent, and the test is skipped."""


class RateLimitedAnyway(SandboxError):
    """A 429 the run did not ask for: the run stops rather than hammer the server."""


class UnexpectedAnswer(AssertionError):
    """An answer with a status, or a type, the documented API does not give for this request."""


@dataclass
class Context:
    """What every client of one run shares."""

    server: Server
    report: Report
    pacer: Pacer
    budget: WriteBudget
    session: requests.Session
    remote: bool
    read_only: bool = False


@dataclass
class Answer:
    method: str
    url: str
    status: int
    headers: Mapping[str, str]
    body: Any
    entity: str | None

    @property
    def links(self) -> dict[str, str]:
        """The Link header's URLs by rel (next, prev)."""
        raw = self.headers.get("Link", "")
        return {link["rel"]: link["url"] for link in requests.utils.parse_header_links(raw) if "rel" in link} if raw else {}


@dataclass
class Client:
    context: Context
    token: str | None = field(repr=False)
    who: str  # a name for reports and pacing, never the token

    def get(self, path: str, **kw: Any) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Answer:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Answer:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Answer:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.request("DELETE", path, **kw)

    def request(self, method: str, path: str, *, params: Any = None, data: Any = None, files: Any = None,
                headers: Mapping[str, str] | None = None, expect: Collection[int] = (200,), entity: str | None = AUTO,
                pace: bool = True) -> Answer:
        """Send, pace, and check the answer; `expect` lists the statuses the documented API gives here,
        `entity` overrides the table (None: check no body), `pace` False sends even into a spent limit."""
        __tracebackhide__ = True  # pytest shows the test's line and the message, not this frame (nor its token)
        ctx, method = self.context, method.upper()
        url = path if path.startswith(("http://", "https://")) else ctx.server.base_url + path
        url = requests.Request(method, url, params=params).prepare().url
        what = endpoint_of(method, url)
        family = family_of(method, url)
        if ctx.read_only and method != "GET":
            raise ReadOnly(f"{what}: a read-only run sends no writes (MASTODON_CONTRACT_WRITES=1 allows them on bot accounts)")
        if pace:
            ctx.pacer.before(self.who, family, what)
        if method != "GET":
            ctx.budget.spend(self.who, method, url, what)
        sent = dict(headers or {})
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = send(ctx.session, method, url, ctx.server.verify, headers={**sent, **auth}, data=data, files=files)
        self._observe_rate_limit(method, url, family, response)
        status = response.status_code
        if status == 429 and 429 not in expect:
            reset = response.headers.get("X-RateLimit-Reset")
            raise RateLimitedAnyway(f"{what} answered 429 (rate limited{', resets at ' + reset if reset else ''}) although "
                                    "the run paces by the rate-limit headers: stopping; what it made stays in the cleanup list")
        html = looks_like_html(response)
        body = _body(response)
        # Rails renders its error pages in the format asked for: for `Accept: */*` that is an HTML page sent as
        # `Content-Type: */*` (app/controllers/concerns/error_responses.rb, format.any); quirks look at the page.
        content_type = "text/html" if html else response.headers.get("Content-Type", "")
        quirk = quirk_for(ctx.server.version, Exchange(method, url, status, content_type, body, sent))
        if quirk:
            ctx.report.quirk(quirk.name, method, url)
            raise ServerQuirk(quirk, what)
        error = body.get("error") if isinstance(body, dict) else None
        if status not in expect:
            if ctx.remote and status == 403:
                raise ScopeMissing(f"{what} answered 403 ({error}): the token lacks a scope this test needs")
            raise UnexpectedAnswer(f"{what} answered {status}, expected {' or '.join(map(str, expect))}"
                                   + (f": {error}" if error else " (HTML page)" if html else ""))
        name = entity_for(method, url, status) if entity == AUTO else entity
        nothing = name == NO_BODY and not response.content  # `head 200` comes as text/html, with no body
        if name and not nothing and (html or not _is_json(response)):
            ctx.report.broken(method, url, f"answered {content_type or 'no content type'}, not JSON")
            raise UnexpectedAnswer(f"{what} answered {status} with {content_type or 'no content type'}, not a JSON {name}")
        if name:
            errors = validate(name, body, ctx.server.version)
            if errors:
                more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
                ctx.report.broken(method, url, f"not a valid {name}: {errors[0]}{more}")
                raise ContractViolation(name, ctx.server.version, errors)
            ctx.report.verified(method, url, name)
        return Answer(method, url, status, response.headers, body, name)

    def _observe_rate_limit(self, method: str, url: str, family: str, response: requests.Response) -> None:
        try:
            limit = parse_rate_limit(response.headers)
        except MalformedRateLimit as e:
            self.context.report.broken(method, url, f"rate-limit headers: {e}")
            raise
        if limit:
            self.context.report.rate_limited_answers += 1
            self.context.pacer.observe(self.who, family, limit, server_time(response.headers))


def _is_json(response: requests.Response) -> bool:
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
