"""Known server quirks: answers that break the contract because the server does, not the harness.

A quirk names the versions it was seen on (inclusive; widen them when it is seen on others) and how to
recognise it from one exchange. The suite reports a matching answer as the server's quirk rather than as
a failure of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .versions import ServerVersion


@dataclass(frozen=True)
class Exchange:
    """What a quirk looks at: one request and the status, content type and body of its answer."""

    method: str
    url: str
    status: int
    content_type: str = ""
    body: Any = None
    request_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def query(self, name: str) -> list[str]:
        return parse_qs(urlsplit(self.url).query).get(name, [])

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.request_headers.items() if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class Quirk:
    name: str
    first_seen: str  # versions it was seen on, inclusive
    last_seen: str
    description: str
    recognise: Callable[[Exchange], bool]

    def applies_to(self, version: ServerVersion | str) -> bool:
        return ServerVersion.parse(self.first_seen) <= version <= ServerVersion.parse(self.last_seen)


def _to_i_is_zero(value: str) -> bool:
    """Ruby's String#to_i gives 0: no digits after an optional sign (`abc`, ``), or only zeros (`0`, `00x`)."""
    m = re.match(r"\s*[+-]?(\d+)", value)
    return m is None or int(m.group(1)) == 0


def _is_html(exchange: Exchange) -> bool:
    """An HTML page, by its type or by its body: Rails renders Mastodon's error pages as HTML under the type
    the request asked for (ErrorResponses#respond_with_error, `format.any { render ..., formats: [:html] }`,
    app/controllers/concerns/error_responses.rb), so `Accept: */*` gets `Content-Type: */*; charset=utf-8`."""
    if exchange.content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        return True
    body = exchange.body
    if isinstance(body, bytes):
        body = body[:512].decode("utf-8", "replace")
    return isinstance(body, str) and body.lstrip()[:15].lower().startswith(("<!doctype html", "<html"))


# Controllers whose `records_continue?` is `size == limit_param(...)`: for limit 0 an empty page "continues",
# and pagination_max_id calls .id on nil (app/controllers/concerns/api/pagination.rb;
# app/controllers/api/v1/accounts/statuses_controller.rb, follower_accounts_controller.rb).
_ZERO_LIMIT_500 = re.compile(r"^/api/v1/accounts/[^/]+/(statuses|followers|following)/?$")

# A collection's create and update (4.6.0+), also under the deprecated /api/v1_alpha.
_COLLECTION = re.compile(r"^/api/v1(_alpha)?/collections(/[^/]+)?/?$")


def _nested_validation_error(x: Exchange) -> bool:
    return (x.method.upper() in ("POST", "PUT", "PATCH") and x.status == 422 and bool(_COLLECTION.match(x.path))
            and isinstance(x.body, dict) and isinstance(x.body.get("error"), dict))

QUIRKS: tuple[Quirk, ...] = (
    Quirk(
        name="idempotency-key-repeat-500",
        first_seen="4.6.5", last_seen="4.6.5",
        description="A repeated Idempotency-Key within an hour answers 500: in PostStatusService#call the "
                    "duplicate branch returns out of `with_idempotency` only, then post-processing runs on nil "
                    "(app/services/post_status_service.rb; 4.3.23 returned the first status).",
        recognise=lambda x: x.method.upper() == "POST" and x.path.rstrip("/") == "/api/v1/statuses"
        and x.status == 500 and x.header("Idempotency-Key") is not None,
    ),
    Quirk(
        name="unknown-api-route-html-404",
        first_seen="4.3.23", last_seen="4.6.5",  # seen live on 4.3.23, 4.6.4 and 4.6.5
        description="An unknown /api/ route answers 404 with an HTML page, not a JSON Error, unless the "
                    "request asks for JSON (Accept: application/json); the page comes as text/html, or under the "
                    "type asked for (`*/*; charset=utf-8` for Accept: */*, seen on 4.6.5).",
        recognise=lambda x: x.path.startswith("/api/") and x.status == 404 and _is_html(x),
    ),
    Quirk(
        name="non-numeric-limit-empty-page",
        first_seen="4.3.23", last_seen="4.6.5",  # seen live on 4.3.23 and 4.6.5
        description="`limit=abc` is read as 0 and answers 200 with `[]` instead of a 400.",
        recognise=lambda x: x.method.upper() == "GET" and x.status == 200 and x.body == []
        and any(not v.lstrip("-").isdigit() for v in x.query("limit")),
    ),
    Quirk(
        name="zero-limit-account-pagination-500",
        first_seen="4.6.5", last_seen="4.6.5",
        description="`limit=0` (or a non-numeric limit, read as 0) on an account's statuses, followers or "
                    "following answers 500: the empty page counts as full, and its next-page link takes the "
                    "id of a last record that does not exist (seen live on 4.6.5).",
        recognise=lambda x: x.method.upper() == "GET" and x.status == 500 and bool(_ZERO_LIMIT_500.match(x.path))
        and any(_to_i_is_zero(v) for v in x.query("limit")),
    ),
    Quirk(
        name="collection-validation-error-nested",
        first_seen="4.6.5", last_seen="4.6.5",
        description="A collection its validations refuse answers 422 with the error one level down, "
                    "`{\"error\": {\"error\": ..., \"details\": ...}}`, not an Error: the controller wraps "
                    "ValidationErrorFormatter#as_json, itself `{error, details}`, in `{error: ...}` (rescue_from "
                    "ActiveRecord::RecordInvalid in app/controllers/api/v1/collections_controller.rb; seen live on 4.6.5).",
        recognise=_nested_validation_error,
    ),
)


def quirk_for(version: ServerVersion | str, exchange: Exchange) -> Quirk | None:
    """The known quirk of a server of `version` that explains this exchange, or None."""
    version = version if isinstance(version, ServerVersion) else ServerVersion.parse(version)
    return next((q for q in QUIRKS if q.applies_to(version) and q.recognise(exchange)), None)
