"""Pagination by the Link header (RFC 8288): `next` carries max_id and leads to older items, `prev` carries
min_id and leads back; `limit` is honoured. Clients follow the header, never compute cursors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest


def test_the_link_header_pages_back_and_forth(contract, me, request):
    if contract.writes:  # two statuses of the run's own to page through
        request.getfixturevalue("my_status")
        request.getfixturevalue("my_reply")
    path = f"/api/v1/accounts/{me.id}/statuses"
    first = me.api.get(path, params={"limit": 1})
    if not first.body or "next" not in first.links:
        pytest.skip("the account has fewer than two statuses to page through (a read-only run posts none)")
    assert len(first.body) == 1

    older = first.links["next"]
    assert urlsplit(older).netloc == contract.server.host and parse_qs(urlsplit(older).query).get("max_id"), older
    second = me.api.get(older)
    assert len(second.body) == 1 and int(second.body[0]["id"]) < int(first.body[0]["id"])

    newer = second.links.get("prev")
    assert newer and parse_qs(urlsplit(newer).query).get("min_id"), second.links
    back = me.api.get(newer)
    assert [s["id"] for s in back.body] == [first.body[0]["id"]]

