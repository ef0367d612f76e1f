"""Known server quirks (sandbox/contract/quirks.py) recognised in real exchanges, and only where they apply."""

from __future__ import annotations

from pathlib import Path

import yaml

from mastodon_sandbox.contract.quirks import QUIRKS, Exchange, quirk_for
from mastodon_sandbox.contract.versions import ServerVersion
from tests.corpus import exchange

CASSETTES = Path(__file__).resolve().parents[1] / "recordings" / "mastodon-4.6-mastodonpy"


def _live(flow: str, label: str) -> Exchange:
    rec = exchange(flow, label)
    request, response = rec["request"], rec["response"]
    content_type = next((v for k, v in response["headers"].items() if k.lower() == "content-type"), "")
    return Exchange(request["method"], request["url"], response["status"], content_type,
                    response["json"] if response.get("json") is not None else response.get("text"),
                    request.get("headers") or {})


def test_a_repeated_idempotency_key_answering_500_is_the_servers_quirk():
    repeated = _live("f6-api.jsonl", "post idempotent 2")
    assert repeated.status == 500  # the recording, as the quirk describes it
    assert quirk_for("4.6.5", repeated).name == "idempotency-key-repeat-500"
    assert quirk_for("4.6.5+standin", repeated).name == "idempotency-key-repeat-500"
    # 4.3.23's PostStatusService returned the first status: there a 500 is a real failure
    assert quirk_for("4.3.23", repeated) is None
    first = _live("f6-api.jsonl", "post idempotent 1")
    assert quirk_for("4.6.5", first) is None


def test_an_html_404_for_an_unknown_api_route_is_the_servers_quirk():
    item = yaml.safe_load((CASSETTES / "test_instance_domain_blocks.yaml").read_text())["interactions"][0]
    html_404 = Exchange(item["request"]["method"], item["request"]["uri"], item["response"]["status"]["code"],
                        item["response"]["headers"]["content-type"][0], item["response"]["body"]["string"])
    assert html_404.status == 404 and html_404.content_type.startswith("text/html")
    assert quirk_for("4.6.4", html_404).name == "unknown-api-route-html-404"
    # asked for JSON, the same server answers a JSON Error: nothing to excuse
    json_404 = _live("f11-pagination-errors.jsonl", "unknown route json")
    assert json_404.status == 404 and quirk_for("4.6.5", json_404) is None


def test_a_non_numeric_limit_answering_an_empty_page_is_the_servers_quirk():
    empty = Exchange("GET", "https://localhost/api/v1/timelines/home?limit=abc", 200, "application/json", [])
    assert quirk_for("4.6.5", empty).name == "non-numeric-limit-empty-page"
    assert quirk_for("4.6.5", Exchange("GET", "https://localhost/api/v1/timelines/home?limit=2", 200, "application/json", [])) is None
    assert quirk_for("4.3.23", empty).name == "non-numeric-limit-empty-page"  # seen live there too
    assert quirk_for("4.2.0", empty) is None


def test_a_zero_limit_on_an_accounts_pages_answering_500_is_the_servers_quirk():
    """Api::BaseController#limit_param reads `0` and `abc` as 0; the accounts' statuses, followers and following
    controllers then take an empty page as full and call .id on its missing last record
    (app/controllers/api/v1/accounts/statuses_controller.rb `records_continue?`, concerns/api/pagination.rb)."""
    for query in ("limit=0", "limit=abc", "limit=00"):
        for page in ("statuses", "followers", "following"):
            broken = Exchange("GET", f"https://localhost/api/v1/accounts/1/{page}?{query}", 500, "text/html", "")
            assert quirk_for("4.6.5", broken).name == "zero-limit-account-pagination-500", (page, query)
    assert quirk_for("4.6.5", Exchange("GET", "https://localhost/api/v1/accounts/1/statuses?limit=5", 500, "text/html", "")) is None
    assert quirk_for("4.6.5", Exchange("GET", "https://localhost/api/v1/timelines/home?limit=0", 500, "text/html", "")) is None
    assert quirk_for("4.4.0", Exchange("GET", "https://localhost/api/v1/accounts/1/statuses?limit=0", 500, "text/html", "")) is None


def test_quirks_name_versions_that_parse_and_are_ordered():
    for quirk in QUIRKS:
        assert ServerVersion.parse(quirk.first_seen) <= ServerVersion.parse(quirk.last_seen), quirk.name
        assert quirk.applies_to(quirk.first_seen) and quirk.applies_to(quirk.last_seen)
    assert len({q.name for q in QUIRKS}) == len(QUIRKS)


def test_the_html_404_real_4_6_5_sends_as_any_type_is_the_servers_quirk():
    """Asked with `Accept: */*`, Mastodon 4.6.5 renders its 404 page as HTML but sends the type asked for:
    `Content-Type: */*; charset=utf-8` (ErrorResponses#respond_with_error, `format.any { render ...,
    formats: [:html] }`, app/controllers/concerns/error_responses.rb). The recordings hold only the JSON one
    (f11 "unknown route json", asked with `Accept: application/json`); this is the same request asking for
    anything, the page shaped after app/views/layouts/error.html.haml. The suite's client relabels such a page
    text/html (sandbox/contract/client.py); a caller of quirk_for gets the header as sent."""
    page = ('\n<!DOCTYPE html>\n<html data-color-scheme="auto" data-contrast="auto" lang="en">\n<head>\n'
            '<meta content="text/html; charset=UTF-8" http-equiv="Content-Type">\n<meta charset="utf-8">\n'
            "<title>The page you are looking for isn't here. - Mastodon</title>\n</head>\n<body class=\"error\">\n"
            "<div class=\"dialog\">\n<div class=\"dialog__message\">\n<h1>The page you are looking for isn't here.</h1>\n"
            "</div>\n</div>\n</body>\n</html>\n")
    any_404 = Exchange("GET", "https://localhost/api/v1/nonexistent", 404, "*/*; charset=utf-8", page,
                       {"Accept": "*/*", "Authorization": "Bearer <token>"})
    assert quirk_for("4.6.5", any_404).name == "unknown-api-route-html-404"
    assert quirk_for("4.6.5", Exchange(any_404.method, any_404.url, 404, "*/*; charset=utf-8", page.encode())).name \
        == "unknown-api-route-html-404"
    # not a page: a JSON Error (or nothing) under */* is no HTML 404
    assert quirk_for("4.6.5", Exchange("GET", any_404.url, 404, "*/*; charset=utf-8", {"error": "Not Found"})) is None
    assert quirk_for("4.6.5", Exchange("GET", any_404.url, 404, "*/*; charset=utf-8", '{"error":"Not Found"}')) is None
    # outside /api/ or on a version it was not seen on, nothing to excuse
    assert quirk_for("4.6.5", Exchange("GET", "https://localhost/nothing", 404, "*/*; charset=utf-8", page)) is None
    assert quirk_for("4.3.23", any_404).name == "unknown-api-route-html-404"  # seen live on 4.3.23 too
    assert quirk_for("4.2.0", any_404) is None
