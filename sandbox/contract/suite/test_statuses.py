"""Writes: post, edit, delete; replies and mentions; direct messages; polls and votes; favourite, boost,
bookmark and pin; scheduled statuses; follows. Against a remote server only with writes allowed, only on
the run's own (bot) accounts, and everything made is deleted again."""

from __future__ import annotations

import secrets

from mastodon_sandbox.contract.suite.support import eventually, in_a_day


def test_post_edit_and_delete(writes, me):
    status = writes.post(me, f"a status to edit and delete {writes.tag}")
    assert writes.tag in status["content"] and status["visibility"] == writes.visibility
    edited = me.api.put(f"/api/v1/statuses/{status['id']}", data={"status": f"edited {writes.tag}"}).body
    assert edited["edited_at"] and "edited" in edited["content"]
    history = me.api.get(f"/api/v1/statuses/{status['id']}/history").body
    assert len(history) == 2 and "edited" in history[-1]["content"]
    assert me.api.get(f"/api/v1/statuses/{status['id']}/source").body["text"] == f"edited {writes.tag}"
    deleted = writes.delete_status(me, status["id"]).body
    assert deleted["id"] == status["id"] and deleted["text"] == f"edited {writes.tag}"  # for a redraft
    me.api.get(f"/api/v1/statuses/{status['id']}", expect=(404,))


def test_a_reply_with_a_mention_notifies_the_mentioned(writes, me, peer, my_status):
    reply = writes.post(me, f"@{peer.username} a reply {writes.tag}", in_reply_to_id=my_status["id"])
    assert reply["in_reply_to_id"] == my_status["id"]
    assert [m["id"] for m in reply["mentions"]] == [peer.id]
    context = me.api.get(f"/api/v1/statuses/{my_status['id']}/context").body
    assert reply["id"] in [s["id"] for s in context["descendants"]]

    def notified() -> list:
        notes = peer.api.get("/api/v1/notifications", params={"types[]": ["mention"], "limit": 10}).body
        return [n for n in notes if (n.get("status") or {}).get("id") == reply["id"]]
    assert eventually("the mention's notification", notified)[0]["account"]["id"] == me.id


def test_a_direct_message_reaches_its_recipient(writes, me, peer):
    writes.mutual_follows(me, peer)
    message = writes.post(me, f"@{peer.username} a direct message {writes.tag}", visibility="direct")
    assert message["visibility"] == "direct"

    def conversation() -> list:
        found = peer.api.get("/api/v1/conversations", params={"limit": 10}).body
        return [c for c in found if (c.get("last_status") or {}).get("id") == message["id"]]
    assert me.id in [a["id"] for a in eventually("the conversation", conversation)[0]["accounts"]]

    def notified() -> list:
        notes = peer.api.get("/api/v1/notifications", params={"types[]": ["mention"], "limit": 10}).body
        return [n for n in notes if (n.get("status") or {}).get("id") == message["id"]]
    eventually("the private mention's notification (accounts that follow each other)", notified)


def test_a_poll_and_a_vote(writes, me, peer):
    status = writes.post(me, f"a poll {writes.tag}", **{"poll[options][]": ["yes", "no"], "poll[expires_in]": "3600"})
    poll = status["poll"]
    assert [o["title"] for o in poll["options"]] == ["yes", "no"] and not poll["expired"]
    assert me.api.get(f"/api/v1/polls/{poll['id']}").body["id"] == poll["id"]
    voted = peer.api.post(f"/api/v1/polls/{poll['id']}/votes", data={"choices[]": ["0"]}).body  # not one's own poll
    assert voted["voted"] is True and voted["own_votes"] == [0] and voted["votes_count"] == 1


def test_favourite_boost_bookmark_and_pin(writes, me, my_status):
    path = f"/api/v1/statuses/{my_status['id']}"
    assert me.api.post(f"{path}/favourite").body["favourited"] is True
    assert me.id in [a["id"] for a in me.api.get(f"{path}/favourited_by").body]
    assert me.api.post(f"{path}/unfavourite").body["favourited"] is False
    # A boost is a status of its own; it goes with the original (discard_with_reblogs), so needs no cleanup entry.
    boost = me.api.post(f"{path}/reblog").body
    assert boost["reblog"]["id"] == my_status["id"]
    assert me.id in [a["id"] for a in me.api.get(f"{path}/reblogged_by").body]
    assert me.api.post(f"{path}/unreblog").body["reblogged"] is False
    assert me.api.post(f"{path}/bookmark").body["bookmarked"] is True
    assert me.api.post(f"{path}/unbookmark").body["bookmarked"] is False
    assert me.api.post(f"{path}/pin").body["pinned"] is True
    assert me.api.post(f"{path}/unpin").body["pinned"] is False


def test_a_scheduled_status(writes, me):
    scheduled = writes.post(me, f"a scheduled status {writes.tag}", scheduled_at=in_a_day())
    assert scheduled["params"]["text"] == f"a scheduled status {writes.tag}"
    path = f"/api/v1/scheduled_statuses/{scheduled['id']}"
    assert scheduled["id"] in [s["id"] for s in me.api.get("/api/v1/scheduled_statuses").body]
    assert me.api.get(path).body["scheduled_at"] == scheduled["scheduled_at"]
    moved = me.api.put(path, data={"scheduled_at": in_a_day(days=2)}).body
    assert moved["scheduled_at"] > scheduled["scheduled_at"]
    me.api.delete(path)  # render_empty: Empty
    writes.cleanup.done("scheduled_status", scheduled["id"], me.id)
    me.api.get(path, expect=(404,))


def test_a_repeated_idempotency_key_gives_the_same_status(writes, me):
    key = {"Idempotency-Key": f"contract-{writes.tag}-{secrets.token_hex(4)}"}
    first = writes.post(me, f"posted once {writes.tag}", headers=key)
    again = writes.post(me, f"posted once {writes.tag}", headers=key)
    assert again["id"] == first["id"]


def test_follow_and_unfollow(writes, me, peer):
    followed = writes.follow(me, peer).body
    assert followed["id"] == peer.id and (followed["following"] or followed["requested"])
    [relationship] = me.api.get("/api/v1/accounts/relationships", params={"id[]": [peer.id]}).body
    assert relationship["following"] or relationship["requested"]
    unfollowed = writes.unfollow(me, peer).body
    assert not unfollowed["following"] and not unfollowed["requested"]
