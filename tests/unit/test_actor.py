"""sandbox/testing/actor.py without Docker: draft-cavage HTTP signatures as Mastodon makes and checks them (a round
trip, each way a request can be tampered with, the draft's published test vector) and a served actor (WebFinger,
its Person, notes, a signed delivery from a second actor checked against the key it fetches, wait_for)."""

import base64
import hashlib
import json
import threading
import time
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from mastodon_sandbox.testing import actor as actor_module
from mastodon_sandbox.testing.actor import (Actor, SignatureError, generate_key, public_pem, sign_headers,
                                            verify_signature)

KEY_ID = "https://b.example/users/bot#main-key"
URL = "https://a.example/users/alice/inbox?x=1"
PATH = "/users/alice/inbox?x=1"
BODY = b'{"type": "Follow"}'


@pytest.fixture(scope="module")
def key():
    return generate_key()


@pytest.fixture(scope="module")
def other_key():
    return generate_key()


def test_a_signed_post_verifies_and_carries_what_mastodon_requires(key):
    headers = sign_headers(key, KEY_ID, "POST", URL, BODY, {"Content-Type": "application/activity+json"})
    verify_signature("POST", PATH, headers, BODY, public_pem(key))
    assert headers["Host"] == "a.example" and headers["Content-Type"] == "application/activity+json"
    assert headers["Digest"] == "SHA-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert f'keyId="{KEY_ID}",algorithm="rsa-sha256",headers="(request-target) host date digest"' in headers["Signature"]
    assert abs(time.time() - parsedate_to_datetime(headers["Date"]).timestamp()) < 60


def test_a_signed_get_has_no_digest_and_header_names_are_case_insensitive(key):
    headers = sign_headers(key, KEY_ID, "GET", "https://a.example/users/alice")
    assert "Digest" not in headers and 'headers="(request-target) host date"' in headers["Signature"]
    verify_signature("GET", "/users/alice", {k.lower(): v for k, v in headers.items()}, b"", public_pem(key))


def _signed_at(monkeypatch, key, hours_ago: float) -> dict:
    """A genuine signature over a Date `hours_ago` in the past."""
    monkeypatch.setattr(actor_module, "formatdate", lambda usegmt: formatdate(time.time() - hours_ago * 3600, usegmt=True))
    return sign_headers(key, KEY_ID, "POST", URL, BODY)


def test_a_date_outside_mastodon_s_window_is_refused(monkeypatch, key):
    # SignedRequest#matches_time_window? (app/lib/signed_request.rb): at most 5 min old plus the 1 h clock margin,
    # at most 1 h ahead
    verify_signature("POST", PATH, _signed_at(monkeypatch, key, 64 / 60), BODY, public_pem(key))
    verify_signature("POST", PATH, _signed_at(monkeypatch, key, -59 / 60), BODY, public_pem(key))
    with pytest.raises(SignatureError, match="Date .* is 66 min old, beyond the 65 min allowed"):
        verify_signature("POST", PATH, _signed_at(monkeypatch, key, 66 / 60), BODY, public_pem(key))
    with pytest.raises(SignatureError, match="Date .* is 61 min ahead, beyond the 60 min allowed"):
        verify_signature("POST", PATH, _signed_at(monkeypatch, key, -61 / 60), BODY, public_pem(key))


@pytest.mark.parametrize("case, reason", [
    ("changed body", "Digest does not match the body"),
    ("changed path", "signature does not verify"),
    ("missing signed header", "signed header 'host' is missing"),
    ("another key", "signature does not verify"),
    ("no signature", "no Signature header"),
    ("malformed signature", "malformed Signature header"),
])
def test_a_tampered_request_is_refused_with_its_reason(key, other_key, case, reason):
    headers = sign_headers(key, KEY_ID, "POST", URL, BODY)
    path, body, pem = PATH, BODY, public_pem(key)
    if case == "changed body":
        body = b'{"type": "Undo"}'
    elif case == "changed path":
        path = "/users/bob/inbox?x=1"
    elif case == "missing signed header":
        del headers["Host"]
    elif case == "another key":
        pem = public_pem(other_key)
    elif case == "no signature":
        del headers["Signature"]
    else:
        headers["Signature"] = 'algorithm="rsa-sha256"'
    with pytest.raises(SignatureError, match=reason):
        verify_signature("POST", path, headers, body, pem)


# draft-cavage-http-signatures-12, Appendix C: the "Test" key pair and the C.2 Basic Test, as published.
DRAFT_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----
"""
DRAFT_PRIVATE_KEY = b"""-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----
"""
DRAFT_DATE = "Sun, 05 Jan 2014 21:31:40 GMT"
DRAFT_BASIC_SIGNATURE = ("qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8Vf"
                         "EdKFYRqzic+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0=")
DRAFT_HEADERS = {
    "Host": "example.com", "Date": DRAFT_DATE, "Content-Type": "application/json",
    "Digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", "Content-Length": "18",
    "Signature": f'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",signature="{DRAFT_BASIC_SIGNATURE}"',
}
HUGE = 1e12


def test_the_drafts_basic_test_vector_verifies_for_its_request_only():
    verify_signature("POST", "/foo?param=value&pet=dog", DRAFT_HEADERS, b'{"hello": "world"}', DRAFT_PUBLIC_KEY, max_age=HUGE)
    for path in ("/foo?param=value&pet=cat", "/foo"):
        with pytest.raises(SignatureError, match="does not verify"):
            verify_signature("POST", path, DRAFT_HEADERS, b'{"hello": "world"}', DRAFT_PUBLIC_KEY, max_age=HUGE)
    with pytest.raises(SignatureError, match="beyond"):  # Mastodon's window refuses a date of 2014
        verify_signature("POST", "/foo?param=value&pet=dog", DRAFT_HEADERS, b'{"hello": "world"}', DRAFT_PUBLIC_KEY)


def test_signing_the_drafts_basic_test_gives_its_published_signature(monkeypatch):
    key = serialization.load_pem_private_key(DRAFT_PRIVATE_KEY, password=None)
    assert public_pem(key) == DRAFT_PUBLIC_KEY
    monkeypatch.setattr(actor_module, "formatdate", lambda usegmt: DRAFT_DATE)
    headers = sign_headers(key, "Test", "POST", "https://example.com/foo?param=value&pet=dog")
    assert headers["Signature"] == DRAFT_HEADERS["Signature"]


# -- a served actor ---------------------------------------------------------------------------------------------

@pytest.fixture
def bot():
    with Actor("app-gw0.localhost") as actor:
        yield actor


def _get(actor: Actor, path: str, **kw) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{actor.port}{path}", timeout=5, **kw)


def test_webfinger_answers_for_its_acct_and_its_id_only(bot):
    for resource in ("acct:bot@app-gw0.localhost", bot.id):
        r = _get(bot, "/.well-known/webfinger", params={"resource": resource})
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/jrd+json"
        assert r.json()["subject"] == "acct:bot@app-gw0.localhost"
        assert {"rel": "self", "type": "application/activity+json", "href": bot.id} in r.json()["links"]
    for resource in ("acct:alice@app-gw0.localhost", "acct:bot@other.localhost", ""):
        assert _get(bot, "/.well-known/webfinger", params={"resource": resource}).status_code == 404


def test_the_person_has_the_actors_key_and_ids_from_the_domain_whatever_the_host(bot):
    r = _get(bot, "/users/bot", headers={"Host": "elsewhere:8443", "X-Forwarded-Proto": "https"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/activity+json"
    person = r.json()
    assert (bot.id, bot.key_id, bot.handle) == ("https://app-gw0.localhost/users/bot",
                                                "https://app-gw0.localhost/users/bot#main-key", "@bot@app-gw0.localhost")
    assert person["id"] == bot.id and person["preferredUsername"] == "bot" and person["type"] == "Person"
    assert person["inbox"] == bot.inbox_url and person["endpoints"]["sharedInbox"] == "https://app-gw0.localhost/inbox"
    assert person["publicKey"]["id"] == bot.key_id and person["publicKey"]["owner"] == bot.id
    served = serialization.load_pem_public_key(person["publicKey"]["publicKeyPem"].encode())
    assert served.public_numbers() == bot.key.public_key().public_numbers()
    seen = [q for q in bot.requests if q.path == "/users/bot"]
    assert seen and seen[0].method == "GET" and seen[0].headers["Host"] == "elsewhere:8443"
    assert seen[0].headers["X-Forwarded-Proto"] == "https"
    followers = _get(bot, "/users/bot/followers").json()
    assert followers["type"] == "OrderedCollection" and followers["id"] == f"{bot.id}/followers"
    assert _get(bot, "/users/alice").status_code == 404


def test_notes_are_addressed_as_mastodon_expects_and_served(bot):
    alice = {"id": "https://a.localhost/users/alice", "handle": "@alice@a.localhost"}
    create = bot.note("<p>hi</p>", mention=alice, in_reply_to="https://a.localhost/users/alice/statuses/1")
    note = create["object"]
    assert create["type"] == "Create" and create["actor"] == bot.id and note["attributedTo"] == bot.id
    assert note["id"].startswith("https://app-gw0.localhost/notes/")
    assert note["to"] == ["https://www.w3.org/ns/activitystreams#Public"] and alice["id"] in note["cc"]
    assert note["tag"] == [{"type": "Mention", "href": alice["id"], "name": "@alice@a.localhost"}]
    assert note["inReplyTo"] == "https://a.localhost/users/alice/statuses/1"
    served = _get(bot, urlsplit(note["id"]).path)
    assert served.headers["Content-Type"] == "application/activity+json"
    assert served.json()["id"] == note["id"] and served.json()["content"] == "<p>hi</p>"
    direct = bot.note("<p>psst</p>", mention=alice, public=False)["object"]
    assert direct["to"] == [alice["id"]] and direct["cc"] == [] and direct["id"] != note["id"]
    assert _get(bot, "/notes/unknown").status_code == 404


def test_accept_references_the_follow_as_received(bot):
    follow = {"id": "https://a.localhost/3f2a", "type": "Follow", "actor": "https://a.localhost/users/alice",
              "object": bot.id}
    first, second = bot.accept(follow), bot.accept(follow)
    assert first["type"] == "Accept" and first["actor"] == bot.id and first["object"] == follow
    assert first["id"] != second["id"] and first["id"].startswith("https://app-gw0.localhost/")


@pytest.fixture
def pair():
    """`receiver` resolves key documents from `sender`'s server over plain HTTP, noting what it asked for."""
    with Actor("b.example") as sender:
        asked = []

        def resolve(url: str) -> dict:
            asked.append(url)
            return requests.get(f"http://127.0.0.1:{sender.port}{urlsplit(url).path}", timeout=5).json()

        with Actor("a.example", resolve=resolve) as receiver:
            yield receiver, sender, asked


def test_a_delivery_signed_by_another_actor_is_recorded_as_verified(pair):
    receiver, sender, asked = pair
    create = sender.note("<p>hello</p>")
    assert sender.deliver(f"http://127.0.0.1:{receiver.port}/users/bot/inbox", create).status_code == 202
    got = receiver.wait_for(lambda r: r.activity.get("id") == create["id"], timeout=5)
    assert (got.signature_ok, got.signature_error) == (True, "")
    assert got.path == "/users/bot/inbox" and got.activity == create and got.headers["Content-Type"] == "application/activity+json"
    assert asked == [sender.id]  # the keyId's document, fragment stripped
    follow = {"@context": "https://www.w3.org/ns/activitystreams", "id": "https://b.example/f/1", "type": "Follow",
              "actor": sender.id, "object": receiver.id}
    assert sender.deliver(f"http://127.0.0.1:{receiver.port}/inbox", follow).status_code == 202
    assert receiver.wait_for(lambda r: r.activity.get("type") == "Follow", timeout=5).signature_ok
    assert asked == [sender.id]  # the key was cached


def test_fetch_sends_a_get_signed_for_authorized_fetch(pair):
    receiver, sender, _ = pair
    r = receiver.fetch(f"http://127.0.0.1:{sender.port}/users/bot")
    assert r.status_code == 200 and r.json()["id"] == sender.id
    got = [q for q in sender.requests if q.path == "/users/bot"][-1]
    assert got.headers["Accept"] == "application/activity+json"
    assert f'keyId="{receiver.key_id}"' in got.headers["Signature"]
    verify_signature("GET", "/users/bot", got.headers, b"", public_pem(receiver.key))
    receiver.fetch(f"http://127.0.0.1:{sender.port}/users/bot", signed=False)
    assert "Signature" not in sender.requests[-1].headers


def _post(receiver: Actor, headers: dict, body: bytes) -> None:
    r = requests.post(f"http://127.0.0.1:{receiver.port}/users/bot/inbox", data=body, headers=headers, timeout=5)
    assert r.status_code == 202  # whatever the signature


@pytest.mark.parametrize("case, reason", [
    ("changed body", "Digest does not match the body"),
    ("actor is not the signer", "is not the activity's actor"),
    ("unsigned", "no Signature header"),
    ("digest not signed", "must sign its Digest"),
])
def test_a_tampered_delivery_is_recorded_as_not_verified_with_its_reason(pair, case, reason):
    receiver, sender, _ = pair
    url = f"http://127.0.0.1:{receiver.port}/users/bot/inbox"
    activity = {"id": f"https://b.example/{case}", "type": "Create", "actor": sender.id}
    if case == "actor is not the signer":
        activity["actor"] = "https://b.example/users/someone-else"
    body = json.dumps(activity).encode()
    headers = sign_headers(sender.key, sender.key_id, "POST", url, body)
    if case == "changed body":
        body = body.replace(b"Create", b"Delete")
    elif case == "unsigned":
        headers = {}
    elif case == "digest not signed":
        headers = sign_headers(sender.key, sender.key_id, "POST", url)
    _post(receiver, headers, body)
    got = receiver.wait_for(lambda r: r.body == body, timeout=5)
    assert not got.signature_ok and reason in got.signature_error


def test_wait_for_waits_for_a_later_arrival_and_times_out_listing_what_came(pair):
    receiver, sender, _ = pair
    create = sender.note("<p>later</p>")
    timer = threading.Timer(0.3, sender.deliver, (f"http://127.0.0.1:{receiver.port}/inbox", create))
    timer.start()
    started = time.monotonic()
    try:
        got = receiver.wait_for(lambda r: r.activity.get("type") == "Create", timeout=10)
    finally:
        timer.join()
    assert got.activity["id"] == create["id"] and time.monotonic() - started < 3  # woken on arrival, not at timeout
    snapshot = receiver.inbox
    snapshot.clear()
    assert len(receiver.inbox) == 1  # a copy
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"within 0.5 s; 1 arrived: Create from https://b.example/users/bot to /inbox \(signed\)"):
        receiver.wait_for(lambda r: r.activity.get("type") == "Delete", timeout=0.5)
    assert 0.45 < time.monotonic() - started < 3
