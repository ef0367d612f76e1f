"""Your own ActivityPub server federating with real Mastodon: a minimal actor (sandbox/testing/actor.py) served
by the test on this machine, over plain HTTP, exposed to the group (`mastodon-sandbox expose`). Each instance
(a: the run's version; b: 4.3.23 in CI) treats it as any remote server: WebFinger, actor fetch, signed
deliveries both ways. Every wait is `settle()` or the actor's own inbox; no sleep."""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.federation import exposure
from mastodon_sandbox.state import GroupState
from mastodon_sandbox.testing.actor import Actor
from tests.conftest import cli

pytestmark = [pytest.mark.docker, pytest.mark.needs_mastodon]


def short_worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user_document(actor: Actor, instance, who) -> dict:
    """The instance's actor document of a user, found by WebFinger as any server finds it."""
    jrd = actor.fetch(f"{instance.url}/.well-known/webfinger?resource=acct:{instance.acct(who)}", signed=False).json()
    self_link = next(link["href"] for link in jrd["links"] if link.get("rel") == "self")
    return actor.fetch(self_link).json()


def mention_html(user_doc: dict) -> str:
    return (f'<p><span class="h-card"><a href="{user_doc["url"]}" class="u-url mention">@<span>'
            f'{user_doc["preferredUsername"]}</span></a></span> hello from an app of my own</p>')


@pytest.mark.parametrize("short", ["a", "b"])
def test_an_exposed_app_is_followed_signed_answers_and_its_note_and_the_reply_cross(mastodon_federation, short):
    fed = mastodon_federation
    instance = fed[short]
    (user,) = instance.accounts(1)
    client = instance.client(user)
    with fed.actor() as actor:
        remote = fed.resolve(client, actor.handle.lstrip("@"))  # WebFinger, then the actor, through the door
        assert remote["acct"] == actor.handle.lstrip("@") and remote["url"]
        client.account_follow(remote["id"])

        follow = actor.wait_for(lambda r: r.activity.get("type") == "Follow")
        assert follow.signature_ok, follow.signature_error  # signed by the user's key, from their actor document
        assert follow.headers["X-Forwarded-Proto"] == "https" and follow.headers["Host"] == actor.domain
        user_doc = user_document(actor, instance, user)
        assert follow.activity["actor"] == user_doc["id"] and follow.activity["object"] == actor.id

        assert actor.deliver(user_doc["inbox"], actor.accept(follow.activity)).status_code == 202
        fed.settle()
        assert client.account_relationships(remote["id"])[0]["following"] is True

        note = actor.note(mention_html(user_doc), mention={"id": user_doc["id"], "handle": f"@{instance.acct(user)}"})
        assert actor.deliver(user_doc["inbox"], note).status_code == 202
        fed.settle()
        arrived = [s for s in client.timeline_home() if s["uri"] == note["object"]["id"]]
        assert arrived and arrived[0]["account"]["acct"] == remote["acct"]
        mentions = [n for n in client.notifications() if n["type"] == "mention"]
        assert [n["status"]["uri"] for n in mentions] == [note["object"]["id"]]

        client.status_post(f"{actor.handle} thanks", in_reply_to_id=arrived[0]["id"])
        reply = actor.wait_for(lambda r: r.activity.get("type") == "Create"
                               and r.activity["object"].get("inReplyTo") == note["object"]["id"])
        assert reply.signature_ok, reply.signature_error

        seen = {(d.sender, d.receiver, d.activity, d.status) for d in fed.deliveries()}
        assert {(instance.domain, actor.domain, "Follow", 202), (actor.domain, instance.domain, "Accept(Follow)", 202),
                (actor.domain, instance.domain, "Create(Note)", 202), (instance.domain, actor.domain, "Create(Note)", 202)} <= seen


def test_with_authorized_fetch_on_only_a_signed_fetch_of_a_user_is_answered(mastodon_federation):
    fed = mastodon_federation
    instance = fed["a"]
    (user,) = instance.accounts(1)
    with fed.actor() as actor:
        uri = user_document(actor, instance, user)["id"]
        assert actor.fetch(uri, signed=False).status_code == 200
        with instance.authorized_fetch():
            assert actor.fetch(uri, signed=False).status_code == 401
            signed = actor.fetch(uri)  # Mastodon fetches the app's key through the door to check it
            assert signed.status_code == 200 and signed.json()["id"] == uri


def test_a_delivery_to_an_app_that_stopped_is_named_by_settle_and_arrives_once_it_is_back(mastodon_federation):
    fed = mastodon_federation
    instance = fed["a"]
    (author,) = instance.accounts(1)
    port = free_port()
    domain = f"app-stop-{short_worker()}.localhost"
    with fed.expose(port, domain=domain):
        with Actor(domain, ca_bundle=str(GroupState(fed.group).ca_file), port=port) as actor:
            author_doc = user_document(actor, instance, author)
            follow = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{actor.id}#follow-1", "type": "Follow",
                      "actor": actor.id, "object": author_doc["id"]}
            assert actor.deliver(author_doc["inbox"], follow).status_code == 202
            actor.wait_for(lambda r: r.activity.get("type") == "Accept")  # the author's instance accepted the follow
        # the app is down: the author's post cannot be delivered to it
        status = instance.client(author).status_post("to my followers, one of them an app")
        with pytest.raises(SandboxError, match=rf"did not settle.*DeliveryWorker to https://{domain}/.*502"):
            fed.settle(timeout=15)
        assert any(d.receiver == domain and d.status == 502 for d in fed.deliveries())
        with Actor(domain, ca_bundle=str(GroupState(fed.group).ca_file), port=port) as actor:
            fed.settle()  # Sidekiq's retry delivers it
            assert [r.activity["object"]["id"] for r in actor.inbox if r.activity.get("type") == "Create"] == [status["uri"]]


def test_bad_exposures_are_refused_in_one_line_before_anything_is_made(mastodon_federation):
    group = mastodon_federation.group
    before = exposure.exposures(group)
    for args, said in [
        (["app.example.org", "--to", "127.0.0.1:8000"], "the group's CA vouches only for names under localhost"),
        (["app.localhost:8443", "--to", "127.0.0.1:8000"], "bad name"),
        ([mastodon_federation["b"].domain, "--to", "127.0.0.1:8000"], f"is the domain of sandbox '{group}-b'"),
        (["app-bad.localhost", "--to", "8000"], "bad --to '8000'"),
        (["app-bad.localhost", "--to", "no-such-host.invalid:8000"], "does not resolve"),
        (["app-bad.localhost"], "say where the app listens"),
    ]:
        out = cli("expose", *args, "--group", group)
        assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert said in out.stderr
    assert exposure.exposures(group) == before
    assert not (GroupState(group).exposed_dir / "app-bad.localhost").exists()


def test_the_cli_exposes_lists_and_removes_an_app_and_warns_when_nothing_listens(mastodon_federation):
    group, port = mastodon_federation.group, free_port()
    name = f"app-cli-{short_worker()}.localhost"
    made = cli("expose", name, "--to", f"127.0.0.1:{port}", "--group", group)
    try:
        assert made.returncode == 0, made.stderr
        assert f"https://{name} -> http://127.0.0.1:{port}" in made.stdout
        assert f"nothing listens on 127.0.0.1:{port} yet" in made.stderr
        assert f"https://{name} -> http://127.0.0.1:{port}" in cli("expose", "--group", group).stdout
        status = cli("status", "--name", f"{group}-a").stdout
        assert f"ok exposed to the group: https://{name}" in status
        again = cli("expose", name, "--to", f"127.0.0.1:{port}", "--group", group)
        assert again.returncode == 1 and "is already exposed" in again.stderr
    finally:
        removed = cli("expose", "--remove", name, "--group", group)
    assert removed.returncode == 0, removed.stderr
    assert name not in cli("expose", "--group", group).stdout
    project = f"mastodon-sandbox-group-{group}-exposed-{name.split('.')[0]}"
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
                          capture_output=True, text=True).stdout
    assert left.strip() == ""


class Output:
    """A running command's stdout, read on a thread so that a test waits for a line with a deadline."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(line) for line in proc.stdout], daemon=True).start()

    def until(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout} s; printed: {''.join(self.seen)}")


def test_the_actor_command_accepts_a_follow_and_posts_each_typed_line_to_its_followers(mastodon_federation):
    fed = mastodon_federation
    instance = fed["a"]
    (user,) = instance.accounts(1)
    client = instance.client(user)
    domain = f"actor-{short_worker()}.localhost"
    proc = subprocess.Popen([sys.executable, "-m", "mastodon_sandbox.cli", "actor", domain, "--group", fed.group],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = Output(proc)
    try:
        out.until(f"@bot@{domain} is served at https://{domain}/users/bot")
        remote = fed.resolve(client, f"bot@{domain}")
        client.account_follow(remote["id"])
        assert "(signed)" in out.until("received Follow from")
        assert out.until("accepted the follow of").rstrip().endswith(": 202")
        fed.settle()
        assert client.account_relationships(remote["id"])[0]["following"] is True

        proc.stdin.write("typed into the actor command\n")
        proc.stdin.flush()
        # every follower's inbox took it; a Follow Mastodon retried from an earlier run on this machine (the
        # actor's domain was down then) may have made a second follower
        assert re.search(r": \[(202, )*202\]$", out.until("posted https://").rstrip())
        fed.settle()
        assert any("typed into the actor command" in s["content"] and s["account"]["acct"] == f"bot@{domain}"
                   for s in client.timeline_home())
    finally:
        proc.stdin.close()  # the end of input stops it
        proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read()
    out.until(f"stopped; {domain} is no longer exposed")
    assert domain not in [e.name for e in exposure.exposures(fed.group)]
