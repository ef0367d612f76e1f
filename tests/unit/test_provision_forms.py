"""Sign-in and authorization form parsing against the REAL pages of a v4.6.5 server (corpus f4): what the
parser would submit must be exactly what the recorder submitted and the server accepted."""

from __future__ import annotations

import pytest

from mastodon_sandbox.provision.oauth import (
    OOB,
    OAuthError,
    parse_page,
    pkce_challenge,
    read_redirect,
)
from tests.corpus import exchange as corpus_exchange
from tests.corpus import exchanges



def f4() -> tuple[dict, ...]:
    return exchanges("f4-oauth-code.jsonl")


def exchange(label: str) -> dict:
    return corpus_exchange("f4-oauth-code.jsonl", label)


def followed_by(label: str) -> tuple[dict, dict]:
    """The exchange with `label` and the one recorded right after it."""
    recs = f4()
    i = next(i for i, d in enumerate(recs) if d["label"] == label)
    return recs[i], recs[i + 1]


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_sign_in_form_submits_what_the_server_accepted(who):
    page_rec, post_rec = followed_by(f"{who}: GET sign_in again")
    assert post_rec["response"]["status"] == 302  # the recorded submission signed in
    form = parse_page(page_rec["response"]["text"]).form("/auth/sign_in")
    assert form is not None and form.method == "POST"
    sent = post_rec["request"]["body"]
    ours = form.submission(**{"user[email]": sent["user[email]"], "user[password]": sent["user[password]"]})
    assert ours == sent


def test_wrong_password_page_says_why():
    rec = exchange("alice: POST sign_in wrong password")
    page = parse_page(rec["response"]["text"])
    assert rec["response"]["status"] == 200
    assert page.flash and "Invalid" in page.flash[0] and "password" in page.flash[0]
    assert page.form("/auth/sign_in") is not None  # the form comes back, pre-filled
    assert page.form("/auth/sign_in").fields["user[email]"] == rec["request"]["body"]["user[email]"]


@pytest.mark.parametrize("get_label,deny", [("alice: GET authorize", False), ("bob: GET authorize for deny", True)])
def test_authorization_forms_submit_what_the_server_accepted(get_label, deny):
    page_rec, post_rec = followed_by(get_label)
    assert page_rec["response"]["status"] == 200 and post_rec["response"]["status"] == 302
    page = parse_page(page_rec["response"]["text"])
    form = page.form("/oauth/authorize", "DELETE" if deny else "POST")
    assert form is not None
    assert form.submission() == post_rec["request"]["body"]
    # Each form carries its own CSRF token, not the page's meta one.
    assert form.fields["authenticity_token"] != page.meta.get("csrf-token")
    other = page.form("/oauth/authorize", "POST" if deny else "DELETE")
    assert other is not None and other.fields["authenticity_token"] != form.fields["authenticity_token"]


def test_out_of_band_page_shows_the_code_of_the_redirect():
    approve = exchange("alice: POST authorize (approve)")
    page = exchange("alice: GET native code page")
    code = read_redirect(approve["response"]["headers"]["location"], OOB, "unused-for-oob")
    assert parse_page(page["response"]["text"]).oauth_code == code
    # ...and that code is the one the token request used.
    assert exchange("alice: token")["request"]["body"]["code"] == code


def test_immediate_redirect_carries_a_code():
    rec = exchange("alice: GET authorize again (token exists)")
    assert rec["response"]["status"] == 302
    assert read_redirect(rec["response"]["headers"]["location"], OOB, "x")


def loopback_state(rec: dict) -> tuple[str, str]:
    from urllib.parse import parse_qs, urlsplit
    q = parse_qs(urlsplit(rec["request"]["url"]).query)
    return q["redirect_uri"][0], q["state"][0]


def test_loopback_redirect_checks_state():
    rec = exchange("bob: GET authorize again (token exists)")
    redirect_uri, state = loopback_state(rec)
    location = rec["response"]["headers"]["location"]
    code = read_redirect(location, redirect_uri, state)
    assert code and code in location
    with pytest.raises(OAuthError) as e:
        read_redirect(location, redirect_uri, state + "x")
    assert e.value.error == "state_mismatch"
    stripped = location.replace(f"&state={state}", "")
    with pytest.raises(OAuthError):
        read_redirect(stripped, redirect_uri, state)


def test_deny_redirect_is_access_denied():
    get_rec, post_rec = followed_by("bob: GET authorize for deny")
    redirect_uri, state = loopback_state(get_rec)
    with pytest.raises(OAuthError) as e:
        read_redirect(post_rec["response"]["headers"]["location"], redirect_uri, state)
    assert e.value.error == "access_denied"


def test_scope_outside_the_app_page_says_why():
    rec = next(d for d in f4() if "scope outside app" in d["label"])
    assert rec["response"]["status"] == 400
    flash = parse_page(rec["response"]["text"]).flash
    assert flash and "scope" in flash[0] and "invalid" in flash[0]


def test_recorded_pkce_pair_matches_our_s256():
    """The verifier the server accepted hashes to the challenge sent in the authorization request."""
    from urllib.parse import parse_qs, urlsplit
    get_rec = exchange("alice: GET authorize")
    challenge = parse_qs(urlsplit(get_rec["request"]["url"]).query)["code_challenge"][0]
    token = exchange("alice: token")
    assert token["response"]["status"] == 200
    assert pkce_challenge(token["request"]["body"]["code_verifier"]) == challenge
    bad = exchange("alice: token with bad verifier")
    assert bad["response"]["status"] == 400
    assert pkce_challenge(bad["request"]["body"]["code_verifier"]) != challenge
