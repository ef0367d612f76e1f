"""`mastodon-sandbox seed --group` on real Mastodon (the plugin's federation setting: fed:a,b, and in CI
fed:a,b@4.3): what the group summary says was made between the instances is what each side's API shows, and
`reset --group` returns to it. The group is seeded once (the first test here that finds it unseeded does it,
through the CLI); every wait is `settle()`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mastodon_sandbox.federation.seed import load_group_summary, seeded_token
from tests.conftest import cli

pytestmark = [pytest.mark.docker, pytest.mark.needs_mastodon]


def seeded(fed) -> dict:
    """The group summary, after seeding the group unless it is seeded already (minutes: every member's own
    seed, then the steps between them)."""
    if load_group_summary(fed.group) is None:
        done = cli("seed", "--group", fed.group, "--scenario", "small", "--quiet")  # small: minutes, not more
        assert done.returncode == 0, done.stderr[-3000:]
    return fed.seeded()


def instance(fed, domain: str):
    return next(i for i in fed.instances.values() if i.domain == domain)


def client(fed, acct: str):
    """A Mastodon.py client of a seeded account (user@domain) on its own instance."""
    username, _, domain = acct.partition("@")
    member = instance(fed, domain)
    return member.client(SimpleNamespace(token=seeded_token(member.sandbox, username)))


def accts(accounts) -> list[str]:
    return [a["acct"] for a in accounts]


def test_what_the_group_seed_made_shows_on_both_sides(mastodon_federation):
    fed = mastodon_federation
    summary = seeded(fed)
    pairs = {(x, y) for x in summary["members"] for y in summary["members"] if x != y}
    assert {(f["from"], f["to"]) for f in summary["follows"]} == pairs

    # a follow: on the follower's instance as a relationship, on the followed's among its followers
    for f in (summary["follows"][0], next(f for f in summary["follows"] if f["locked"])):
        x, y = f["from"], f["to"]
        assert client(fed, f["follower"]["acct"]).account_relationships(f["followed"]["ids"][x])[0]["following"]
        followers = client(fed, f["followed"]["acct"]).account_followers(f["followed"]["ids"][y], limit=80)
        assert f["follower"]["acct"] in accts(followers)

    # a mention notified the mentioned account on the other instance
    m = summary["mentions"][0]
    notified = client(fed, m["mentioned"]["acct"]).notifications(types=["mention"], limit=80)
    assert (m["actor"]["acct"], m["status"]["uri"]) in [(n["account"]["acct"], n["status"]["uri"]) for n in notified]

    # a reply threads under the remote status on the replier's instance
    r = summary["replies"][0]
    thread = client(fed, r["actor"]["acct"]).status_context(r["in_reply_to"]["ids"][r["from"]])
    assert r["status"]["uri"] in [s["uri"] for s in thread["descendants"]]

    # a favourite and a boost are counted on the status's own instance
    for section, who_did in (("favourites", "status_favourited_by"), ("reblogs", "status_reblogged_by")):
        done = summary[section][0]
        on_origin = client(fed, done["author"]["acct"])
        status_id = done["status"]["ids"][done["to"]]
        assert done["actor"]["acct"] in accts(getattr(on_origin, who_did)(status_id)), section
        counted = on_origin.status(status_id)
        assert counted["favourites_count" if section == "favourites" else "reblogs_count"] >= 1


def test_reset_group_brings_back_a_follow_removed_after_the_seed(mastodon_federation):
    fed = mastodon_federation
    f = seeded(fed)["follows"][0]
    x, y = f["from"], f["to"]
    follower = client(fed, f["follower"]["acct"])
    follower.account_unfollow(f["followed"]["ids"][x])
    fed.settle()
    assert not follower.account_relationships(f["followed"]["ids"][x])[0]["following"]
    assert f["follower"]["acct"] not in accts(client(fed, f["followed"]["acct"]).account_followers(f["followed"]["ids"][y], limit=80))

    done = cli("reset", "--group", fed.group)
    assert done.returncode == 0 and done.stdout.count("restored snapshot 'seeded'") == len(fed.instances), done.stdout + done.stderr
    fed.settle()
    follower = client(fed, f["follower"]["acct"])  # credentials come back with the snapshot
    assert follower.account_relationships(f["followed"]["ids"][x])[0]["following"]
    assert f["follower"]["acct"] in accts(client(fed, f["followed"]["acct"]).account_followers(f["followed"]["ids"][y], limit=80))
