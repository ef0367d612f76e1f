"""Federation between two real Mastodon sandboxes of one group (the plugin's federation setting: fed:a,b, and in
CI fed:a,b@4.3, so 4.6.5 and 4.3.23 talk). Every wait is `settle()`: no sleep in these tests. Each test leases
its own accounts on both instances, so they do not see each other's follows and posts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from mastodon_sandbox.errors import SandboxError

pytestmark = [pytest.mark.docker, pytest.mark.needs_mastodon]

PICTURE = Path(__file__).resolve().parents[2] / "fixtures" / "media" / "picture-stripes.png"


def uris(statuses) -> list[str]:
    return [s["uri"] for s in statuses]


def follow(fed, follower_instance, follower, followed_instance, followed) -> dict:
    """`follower` (a lease on its instance) follows `followed` on the other; returns the followed as the
    follower's instance sees it, once the follow is accepted."""
    client = follower_instance.client(follower)
    remote = fed.resolve(client, followed_instance.acct(followed))
    client.account_follow(remote["id"])
    fed.settle()
    assert client.account_relationships(remote["id"])[0]["following"], "the follow was not accepted"
    return remote


def test_a_remote_account_is_resolved_followed_and_its_posts_reach_the_follower(mastodon_federation):
    fed = mastodon_federation
    a, b = fed["a"], fed["b"]
    (reader,), (author,) = a.accounts(1), b.accounts(1)
    remote = follow(fed, a, reader, b, author)
    assert remote["acct"] == b.acct(author) and remote["url"] == f"{b.url}/@{author.username}"
    assert [f["acct"] for f in b.client(author).account_followers(author.id)] == [a.acct(reader)]

    status = b.client(author).status_post("from b to its followers")
    fed.settle()
    assert status["uri"] in uris(a.client(reader).timeline_home())
    created = [d for d in fed.deliveries() if d.activity == "Create(Note)"]
    assert [(d.sender, d.receiver, d.status) for d in created] == [(b.domain, a.domain, 202)]
    assert any(d.activity == "Follow" and d.sender == a.domain for d in fed.deliveries())


def test_a_follow_request_to_a_locked_remote_account_waits_for_its_approval(mastodon_federation):
    fed = mastodon_federation
    a, b = fed["a"], fed["b"]
    (asker,), (locked,) = a.accounts(1), b.accounts(1)
    b.client(locked).account_update_credentials(locked=True)
    client = a.client(asker)
    remote = fed.resolve(client, b.acct(locked))
    assert remote["locked"] is True
    assert client.account_follow(remote["id"])["requested"] is True
    fed.settle()
    pending = b.client(locked).follow_requests()
    assert [r["acct"] for r in pending] == [a.acct(asker)]
    assert not client.account_relationships(remote["id"])[0]["following"]

    b.client(locked).follow_request_authorize(pending[0]["id"])
    fed.settle()
    assert client.account_relationships(remote["id"])[0]["following"]


def test_a_mention_in_text_notifies_the_other_instance_and_the_reply_threads_on_the_first(mastodon_federation):
    fed = mastodon_federation
    a, b = fed["a"], fed["b"]
    (alice,), (bob,) = a.accounts(1), b.accounts(1)
    post = a.client(alice).status_post(f"hello @{b.acct(bob)}, from a")  # never resolved before: the mention does it
    fed.settle()
    mentions = b.client(bob).notifications(types=["mention"])
    assert [n["account"]["acct"] for n in mentions] == [a.acct(alice)]
    assert mentions[0]["status"]["uri"] == post["uri"]

    # Mastodon.py's status_reply writes the @mention of the author (as the web UI does), so alice is notified
    reply = b.client(bob).status_reply(mentions[0]["status"], "hello back, from b")
    assert [m["acct"] for m in reply["mentions"]] == [a.acct(alice)]
    fed.settle()
    thread = a.client(alice).status_context(post["id"])
    assert uris(thread["descendants"]) == [reply["uri"]]
    assert [n["type"] for n in a.client(alice).notifications()] == ["mention"]


def test_boosts_and_favourites_are_counted_on_the_origin(mastodon_federation):
    fed = mastodon_federation
    a, b = fed["a"], fed["b"]
    (fan,), (author,) = a.accounts(1), b.accounts(1)
    post = b.client(author).status_post("boost and like me")
    client = a.client(fan)
    seen = client.search_v2(post["uri"], resolve=True, result_type="statuses")["statuses"]
    assert uris(seen) == [post["uri"]]
    client.status_reblog(seen[0]["id"])
    client.status_favourite(seen[0]["id"])
    fed.settle()
    counted = b.client(author).status(post["id"])
    assert (counted["reblogs_count"], counted["favourites_count"]) == (1, 1)
    kinds = sorted(n["type"] for n in b.client(author).notifications())
    assert kinds == ["favourite", "reblog"]


def test_a_profile_edit_and_a_delete_reach_the_followers_instance(mastodon_federation):
    fed = mastodon_federation
    a, b = fed["a"], fed["b"]
    (author,), (reader,) = a.accounts(1), b.accounts(1)
    remote = follow(fed, b, reader, a, author)
    post = a.client(author).status_post("soon edited away")
    fed.settle()
    assert post["uri"] in uris(b.client(reader).timeline_home())

    a.client(author).account_update_credentials(display_name="Renamed on a", note="a new bio")
    a.client(author).status_delete(post["id"])
    fed.settle()
    assert post["uri"] not in uris(b.client(reader).timeline_home())
    seen = b.client(reader).account(remote["id"])
    assert seen["display_name"] == "Renamed on a" and "a new bio" in seen["note"]


def test_a_direct_message_from_a_stranger_waits_as_a_request_and_reaches_only_its_recipient(mastodon_federation):
    fed = mastodon_federation
    a, b = fed["a"], fed["b"]
    (sender,), (recipient, bystander) = a.accounts(1), b.accounts(2)
    follow(fed, b, bystander, a, sender)  # a follower on b must still not see it
    dm = a.client(sender).status_post(f"@{b.acct(recipient)} just for you", visibility="direct")
    fed.settle()
    # Since 4.3 private mentions from accounts one does not follow are filtered into a notification request
    # (NotificationPolicy#for_private_mentions defaults to filter, app/models/notification_policy.rb).
    inbox = b.client(recipient)
    requests_ = inbox.notification_requests()
    assert [(r["account"]["acct"], r["last_status"]["uri"]) for r in requests_] == [(a.acct(sender), dm["uri"])]
    assert inbox.conversations() == [] and inbox.notifications() == []
    inbox.accept_notification_request(requests_[0]["id"])
    fed.settle()  # accepting puts the mention back and opens the conversation (UnfilterNotificationsWorker)
    conversations = inbox.conversations()
    assert [c["last_status"]["uri"] for c in conversations] == [dm["uri"]]
    assert conversations[0]["last_status"]["visibility"] == "direct"
    assert [n["type"] for n in inbox.notifications()] == ["mention"]
    assert dm["uri"] not in uris(b.client(bystander).timeline_home())


def test_a_picture_posted_on_one_instance_is_fetched_and_served_by_the_other(mastodon_federation):
    fed = mastodon_federation
    a, b = fed["a"], fed["b"]
    (author,), (reader,) = a.accounts(1), b.accounts(1)
    follow(fed, b, reader, a, author)
    media = a.client(author).media_post(str(PICTURE), mime_type="image/png", description="stripes", synchronous=True)
    post = a.client(author).status_post("a picture", media_ids=[media["id"]])
    fed.settle()
    shown = next(s for s in b.client(reader).timeline_home() if s["uri"] == post["uri"])
    attachment = shown["media_attachments"][0]
    # b downloaded it from a over HTTPS verified by the group's CA, and serves its own copy
    assert attachment["remote_url"] == media["url"] and attachment["url"].startswith(b.url + "/")
    assert attachment["description"] == "stripes"
    original = requests.get(media["url"], verify=str(a.sandbox.state.ca_file), timeout=30)
    copy = requests.get(attachment["url"], verify=str(b.sandbox.state.ca_file), timeout=30)
    assert original.status_code == copy.status_code == 200 and copy.content == original.content


def test_a_delivery_to_a_stopped_instance_is_retried_and_arrives_once_it_is_back(mastodon_federation):
    fed = mastodon_federation
    a, b = fed["a"], fed["b"]
    (author,), (reader,) = a.accounts(1), b.accounts(1)
    follow(fed, b, reader, a, author)
    b.sandbox.stack.run("stop", "web")  # b's proxy answers 502 meanwhile
    try:
        post = a.client(author).status_post("sent while b is down")
        with pytest.raises(SandboxError) as pending:
            fed.settle(timeout=8)
        message = str(pending.value)
        assert "did not settle" in message and "1 to retry" in message
        # b's proxy answers for its stopped web: 502, or 504 when the stopped container's address is still cached
        code = re.search(rf"ActivityPub::DeliveryWorker to https://{b.domain}/inbox on push: .* returned code (50[24])", message)
        assert code, message
        failed = [d for d in fed.deliveries() if d.activity == "Create(Note)"]
        assert [(d.receiver, d.status) for d in failed] == [(b.domain, int(code.group(1)))]
    finally:
        b.sandbox.stack.run("start", "web")
        b.sandbox.stack.wait_ready(timeout=180)
    # Mastodon retries after 15-25 s, then 25-35 s later (ActivityPub::DeliveryWorker's sidekiq_retry_in): each
    # attempt while b's web was starting answered 5xx too, and the one after is delivered.
    fed.settle(timeout=240)
    assert post["uri"] in uris(b.client(reader).timeline_home())
    arrived = [(d.receiver, d.status) for d in fed.deliveries() if d.activity == "Create(Note)"]
    assert arrived[0] == (b.domain, int(code.group(1))) and arrived[-1] == (b.domain, 202)
    assert all(receiver == b.domain and status >= 500 for receiver, status in arrived[:-1]), arrived


def test_a_group_snapshot_puts_every_member_back_together(mastodon_federation):
    """`snapshot save|restore --group`: a follow and a post made across the group after the snapshot are gone from
    both sides after the restore (restoring one member alone would leave the other's view of it wrong)."""
    from tests.conftest import cli

    fed = mastodon_federation
    a, b = fed["a"], fed["b"]
    (author,), (reader,) = a.accounts(1), b.accounts(1)  # leased before the snapshot: they are in it
    saved = cli("snapshot", "save", "fed-test", "--group", fed.group, "--replace")
    assert saved.returncode == 0 and saved.stdout.count("saved snapshot 'fed-test'") == 2, saved.stdout + saved.stderr
    follow(fed, b, reader, a, author)
    post = a.client(author).status_post("made after the snapshot")
    fed.settle()
    assert post["uri"] in uris(b.client(reader).timeline_home())

    restored = cli("snapshot", "restore", "fed-test", "--group", fed.group)
    assert restored.returncode == 0 and restored.stdout.count("restored snapshot 'fed-test'") == 2, restored.stdout + restored.stderr
    assert b.client(reader).account_following(reader.id) == [] and a.client(author).account_followers(author.id) == []
    assert post["uri"] not in uris(b.client(reader).timeline_home())
    assert [s["uri"] for s in a.client(author).account_statuses(author.id)] == []
    follow(fed, b, reader, a, author)  # and they federate as before

    missing = cli("snapshot", "restore", "never-saved", "--group", fed.group)
    assert missing.returncode == 1 and "no member was restored" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
