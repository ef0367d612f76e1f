"""What a bot does, with Mastodon.py against the sandbox: toots (emoji and CJK read back unchanged), media
served from S3 over the sandbox's HTTPS, a poll, a reply and a mention, a follow and the home feed it fills,
a direct message, a scheduled status, the user stream, pagination and a hashtag timeline.

Needs real Mastodon (the official images or the source-built server): the stand-in does not offer
statuses. Uses the provisioned alice and bob through their Mastodon.py `.secret` files, as a user would.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
import time
import uuid
import zlib

import pytest
import requests

from mastodon_sandbox.provision.credentials import usercred_path

pytestmark = [pytest.mark.docker, pytest.mark.needs_mastodon]

# Emoji, CJK and combining accents: a database that is not UTF8 mangles or refuses them.
TEXT = "héllo 🐘 from the sandbox: こんにちは、世界 · 你好 · 안녕하세요"


def png(width: int = 8, height: int = 8) -> bytes:
    """A real PNG (a red square), made here so the test needs no file."""
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def eventually(what: str, probe, timeout: float = 60, interval: float = 0.5):
    """Sidekiq does fan-out, notifications and media in the background: poll until `probe` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(interval)


@pytest.fixture(scope="module")
def session(mastodon_sandbox) -> requests.Session:
    s = requests.Session()
    s.verify = str(mastodon_sandbox.state.ca_file)  # the sandbox CA, never verify=False
    s.trust_env = False
    return s


@pytest.fixture(scope="module")
def api(mastodon_sandbox, session):
    import mastodon

    def client(username: str):
        return mastodon.Mastodon(access_token=str(usercred_path(mastodon_sandbox.state, username)), session=session)

    return client


@pytest.fixture(scope="module")
def alice(api):
    return api("alice")


@pytest.fixture(scope="module")
def bob(api):
    return api("bob")


@pytest.fixture(scope="module")
def tag() -> str:
    return f"walk{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def toot(alice, tag):
    return alice.status_post(f"{TEXT} #{tag}")


def test_emoji_and_cjk_come_back_unchanged(alice, toot):
    assert TEXT in toot["content"]
    assert TEXT in alice.status(toot["id"])["content"]
    assert alice.status_source(toot["id"])["text"].startswith(TEXT)


def test_media_is_stored_in_s3_and_served_over_the_sandboxs_https(mastodon_sandbox, alice, session):
    media = alice.media_post(io.BytesIO(png()), mime_type="image/png", description="a red square")
    media = eventually("media processed", lambda: (m := alice.media(media["id"])) and m["url"] and m)
    assert media["description"] == "a red square" and media["type"] == "image"
    url = media["url"]
    if mastodon_sandbox.config.s3 != "local":
        assert url.startswith(f"{mastodon_sandbox.url}/s3-media/"), url
    served = session.get(url, timeout=15)
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/png"
    assert served.content.startswith(b"\x89PNG")
    status = alice.status_post("with a picture", media_ids=[media["id"]])
    assert [m["id"] for m in status["media_attachments"]] == [media["id"]]


def test_a_poll_takes_a_vote(alice, bob):
    status = alice.status_post("which?", poll=alice.make_poll(["tea", "coffee"], expires_in=600))
    poll = bob.poll_vote(status["poll"]["id"], [1])
    assert poll["voted"] is True and poll["own_votes"] == [1] and poll["votes_count"] == 1


def test_a_follow_fills_the_home_feed(alice, bob):
    me = alice.me()
    rel = bob.account_follow(me["id"])
    assert rel["following"] is True or rel["requested"] is True
    status = alice.status_post(f"for my followers {uuid.uuid4().hex[:6]}")
    eventually("the status in bob's home feed", lambda: any(s["id"] == status["id"] for s in bob.timeline_home(limit=40)))


def test_a_mention_notifies_and_a_reply_threads(alice, bob, toot):
    reply = bob.status_post(f"@alice {TEXT}", in_reply_to_id=toot["id"])
    assert reply["in_reply_to_id"] == toot["id"]
    assert any(s["id"] == reply["id"] for s in alice.status_context(toot["id"])["descendants"])
    eventually("alice's mention notification",
               lambda: any(n["type"] == "mention" and n["status"]["id"] == reply["id"] for n in alice.notifications(limit=30)))


def test_a_direct_message_starts_a_conversation(alice, bob):
    # The author's conversation comes from the fan-out (FanOutOnWriteService#deliver_to_conversation!), the
    # recipient's from the mention's notification (NotifyService#push_to_conversation!), which the default
    # policy filters for private mentions from people one does not follow: alice follows bob first.
    alice.account_follow(bob.me()["id"])
    dm = bob.status_post("@alice just between us", visibility="direct")
    assert dm["visibility"] == "direct"
    for who in (bob, alice):
        eventually("the conversation", lambda: any(c["last_status"] and c["last_status"]["id"] == dm["id"] for c in who.conversations()))


def test_a_scheduled_status_waits_and_can_be_cancelled(alice):
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=30)
    scheduled = alice.status_post("later", scheduled_at=when)
    assert any(s["id"] == scheduled["id"] for s in alice.scheduled_statuses())
    alice.scheduled_status_delete(scheduled["id"])
    assert not any(s["id"] == scheduled["id"] for s in alice.scheduled_statuses())


def test_the_user_stream_delivers_a_notification(mastodon_sandbox, alice, bob, toot):
    import websocket

    streaming = alice.instance_v2()["configuration"]["urls"]["streaming"]
    token = alice.access_token
    ws = websocket.create_connection(f"{streaming}/api/v1/streaming?stream=user", header=[f"Authorization: Bearer {token}"],
                                     sslopt={"ca_certs": str(mastodon_sandbox.state.ca_file)}, timeout=30)
    try:
        time.sleep(0.5)  # the subscription is made once the socket is open
        bob.status_favourite(toot["id"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            frame = json.loads(ws.recv())
            if frame.get("event") == "notification" and json.loads(frame["payload"])["type"] == "favourite":
                assert json.loads(frame["payload"])["status"]["id"] == toot["id"]
                return
        pytest.fail("no favourite notification on the user stream within 30 s")
    finally:
        ws.close()


def test_pagination_follows_link_headers(alice):
    for i in range(3):
        alice.status_post(f"page filler {i}", visibility="unlisted")
    first = alice.account_statuses(alice.me()["id"], limit=2)
    assert len(first) == 2
    second = alice.fetch_next(first)
    assert second and len(second) <= 2 and not {s["id"] for s in first} & {s["id"] for s in second}
    assert max(int(s["id"]) for s in second) < min(int(s["id"]) for s in first)


def test_the_hashtag_timeline_finds_the_toot(alice, toot, tag):
    eventually("the hashtag timeline", lambda: any(s["id"] == toot["id"] for s in alice.timeline_hashtag(tag)))
