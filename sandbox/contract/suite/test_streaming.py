"""Streaming events over WebSocket: `update` and `notification` on the user stream, `update` on the public
and hashtag streams, each payload checked as the entity its event carries (endpoints.STREAM_EVENTS)."""

from __future__ import annotations

import pytest

from mastodon_sandbox.contract.suite.streaming import Frame, Streams, of

TIMEOUT = 30.0


def _open(run, feed: str) -> bool:
    """Whether a signed-in user may stream this feed (timelines_access, 4.5+; open before)."""
    access = ((run.server.instance.get("configuration") or {}).get("timelines_access") or {}).get(feed) or {}
    return access.get("local", "public") != "disabled"


@pytest.fixture(scope="module")
def streamed(writes, me):
    """One connection, subscribed to the user, local public and hashtag streams; one post of the run's (public
    on the sandbox, unlisted on a remote) and, when there is a second account, its favourite of that post."""
    streams = Streams(writes, me)
    streams.subscribe("user")
    public, hashtag = _open(writes, "live_feeds"), _open(writes, "hashtag_feeds")
    if public:
        streams.subscribe("public:local")
    if hashtag:
        streams.subscribe("hashtag", tag=writes.tag)
    status = writes.post(me, f"streamed {writes.tag} #{writes.tag}")
    if writes.peer:
        writes.peer.api.post(f"/api/v1/statuses/{status['id']}/favourite")
    everywhere = writes.visibility == "public"

    def done(frames: list[Frame]) -> bool:
        return bool(of(frames, "user", "update", status["id"])
                    and (not writes.peer or of(frames, "user", "notification", status["id"]))
                    and (not (everywhere and public) or of(frames, "public:local", "update", status["id"]))
                    and (not (everywhere and hashtag) or of(frames, "hashtag", "update", status["id"])))
    try:
        frames = streams.collect(done, TIMEOUT)
    finally:
        streams.close()
    return {"status": status, "frames": frames, "errors": streams.errors, "public": public, "hashtag": hashtag}


def test_the_user_stream_sends_the_post_and_its_notification(streamed, request):
    status, frames = streamed["status"], streamed["frames"]
    assert not streamed["errors"], streamed["errors"]
    assert of(frames, "user", "update", status["id"]), f"no update on the user stream within {TIMEOUT:.0f} s"
    peer = request.getfixturevalue("peer")  # a skip without a second account
    [note] = of(frames, "user", "notification", status["id"])
    assert note.payload["type"] == "favourite" and note.payload["account"]["id"] == peer.id


@pytest.mark.parametrize("stream", ["public:local", "hashtag"])
def test_the_public_and_hashtag_streams_send_public_posts(writes, streamed, stream):
    feed = "live_feeds" if stream == "public:local" else "hashtag_feeds"
    if not streamed["public" if stream == "public:local" else "hashtag"]:
        writes.lacks(f"{stream} stream", f"disabled (timelines_access.{feed})")
    if writes.visibility != "public":
        pytest.skip("a remote run posts unlisted, which the public and hashtag streams do not carry")
    assert of(streamed["frames"], stream, "update", streamed["status"]["id"]), f"no update on the {stream} stream within {TIMEOUT:.0f} s"
