"""Token checks: what each real error body means (corpus f5) and the one-line message it becomes."""

from __future__ import annotations

import json

import pytest

from mastodon_sandbox.provision.tokens import TokenProblem, check_token, classify, explain
from tests.corpus import exchange


def f5(label: str) -> dict:
    return exchange("f5-tokens.jsonl", label)["response"]


class Recorded:
    """Answers every GET with one recorded response."""

    base_url = "https://localhost"

    def __init__(self, response: dict):
        self.response = response

    def get(self, path, headers=None, **kw):
        r = self.response

        class R:
            status_code = r["status"]
            headers = r["headers"]
            text = json.dumps(r["json"]) if r["json"] is not None else r["text"]

            def json(self):
                if r["json"] is None:
                    raise ValueError
                return r["json"]
        return R()


@pytest.mark.parametrize("label,kind", [
    ("verify_credentials bad token", "invalid"),
    ("verify revoked", "revoked"),
    ("verify_credentials app token", "app-token"),
])
def test_recorded_failures_are_told_apart(label, kind):
    with pytest.raises(TokenProblem) as e:
        check_token(Recorded(f5(label)), "tok", "alice")
    assert e.value.kind == kind
    assert e.value.server_error == f5(label)["json"]["error"]
    msg = str(e.value)
    assert "\n" not in msg and "alice" in msg and "mastodon-sandbox" in msg


def test_a_good_token_returns_its_account():
    ok = f5("verify_credentials")
    assert check_token(Recorded(ok), "tok", "alice")["username"] == ok["json"]["username"]


# 403 texts as Mastodon words them (app/controllers/api/base_controller.rb; reference section 13).
@pytest.mark.parametrize("text,kind,fix", [
    ("This action is outside the authorized scopes", "scope", "--scopes"),
    ("Your login is currently pending approval", "pending", "tootctl accounts approve"),
    ("Your login is missing a confirmed e-mail address", "unconfirmed", "--confirm"),
])
def test_403s_are_told_apart_by_their_body(text, kind, fix):
    assert classify(403, text) == kind
    msg = explain(kind, "bob", text)
    assert fix in msg and text in msg and "\n" not in msg
