"""Seed scenarios and the plans they render: checked before anything is made, deterministic, inside
Mastodon's limits, and never pointing outside the sandbox (no Docker)."""

from __future__ import annotations

import json
import re

import pytest

from mastodon_sandbox.data import plan as plan_mod
from mastodon_sandbox.data import scenario as scenario_mod
from mastodon_sandbox.data.plan import render
from mastodon_sandbox.data.scenario import load, parse
from mastodon_sandbox.errors import SandboxError

DOMAIN, EMAIL_DOMAIN = "localhost:8443", "example.test"


def plan_of(name="default", seed=1, scale=1):
    return render(load(name), seed, scale, DOMAIN, EMAIL_DOMAIN)


def test_every_shipped_scenario_loads():
    assert {"default", "small"} <= set(scenario_mod.available())
    for name in scenario_mod.available():
        assert load(name).name == name


def test_the_same_seed_gives_the_same_plan_and_another_seed_another():
    assert plan_of(seed=7).to_json() == plan_of(seed=7).to_json()
    assert plan_of(seed=7).to_json() != plan_of(seed=8).to_json()


def test_the_default_scenario_has_every_kind_of_thing():
    counts = plan_of().counts()
    for op in ("follow", "authorize_follow", "status", "favourite", "reblog", "bookmark", "vote", "pin", "list", "filter", "schedule"):
        assert counts.get(op, 0) > 0, op
    statuses = [s for s in plan_of().steps if s["op"] == "status"]
    assert {s["visibility"] for s in statuses} == {"public", "unlisted", "private", "direct"}
    assert any(s.get("in_reply_to") for s in statuses) and any(s.get("spoiler_text") for s in statuses)
    assert {m["kind"] for s in statuses for m in s.get("media", [])} == {"image", "gif", "audio"}
    assert all(m["description"] for s in statuses for m in s.get("media", []))  # alt text on every medium
    assert any(s.get("poll") for s in statuses) and any("#" in s["text"] for s in statuses)


def test_scale_multiplies_accounts_and_totals_never_the_per_account_load():
    one, three = plan_of(scale=1), plan_of(scale=3)
    assert len(three.accounts) == 3 * len(one.accounts)
    assert three.counts()["favourite"] == 3 * one.counts()["favourite"]
    for plan in (one, three):
        per_account: dict[str, int] = {}
        media: dict[str, int] = {}
        for s in plan.steps:
            if s["op"] in ("status", "schedule"):
                per_account[s["actor"]] = per_account.get(s["actor"], 0) + 1
                media[s["actor"]] = media.get(s["actor"], 0) + len(s.get("media", []))
        assert max(per_account.values()) <= scenario_mod.MAX_STATUSES_PER_ACCOUNT
        assert max(media.values()) <= scenario_mod.MAX_MEDIA_PER_ACCOUNT
        pins: dict[str, int] = {}
        for s in plan.steps:
            if s["op"] == "pin":
                pins[s["actor"]] = pins.get(s["actor"], 0) + 1
        assert max(pins.values(), default=0) <= scenario_mod.MAX_PINS_PER_ACCOUNT


def test_nothing_points_outside_the_sandbox():
    """Real Mastodon fetches link cards and resolves remote mentions: only .test/.invalid hosts, the
    sandbox's own domain, the plan's own accounts and the sandbox's e-mail domain may appear."""
    for scale in (1, 4):
        plan = plan_of(scale=scale)
        text = json.dumps(plan.to_json())
        for host in re.findall(r"https?://([^/\s\"]+)", text):
            assert host == DOMAIN or host.endswith((".test", ".invalid")), host
        usernames = {a["username"] for a in plan.accounts}
        for s in plan.steps:
            for mention in re.findall(r"@([\w.@-]+)", s.get("text", "")):
                assert mention in usernames, mention  # local accounts of the plan, no @user@remote
        for email in re.findall(r"[\w.+-]+@[\w.-]+\.\w+", text):
            assert email.endswith("@" + EMAIL_DOMAIN), email


def test_accounts_are_valid_local_usernames_and_keep_clear_of_provisioning():
    plan = plan_of(scale=5)
    names = [a["username"] for a in plan.accounts]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[a-z0-9_]{1,30}", name) and not name.startswith("pool_") and name not in plan_mod.RESERVED


def test_steps_only_use_what_their_actor_may():
    plan = plan_of()
    steps = plan.steps
    status_of = {s["ref"]: s for s in steps if s["op"] == "status"}
    follows = {(s["actor"], s["target"]) for s in steps if s["op"] == "follow"}
    for s in steps:
        if s["op"] in ("favourite", "reblog", "bookmark", "vote"):
            target = status_of[s["status"]]
            assert target["visibility"] in ("public", "unlisted") and target["actor"] != s["actor"]
        if s["op"] == "pin":
            assert status_of[s["status"]]["actor"] == s["actor"]  # only one's own statuses
        if s["op"] == "list":
            assert all((s["actor"], m) in follows for m in s["members"])  # Mastodon: 404 for non-followed
        if s["op"] == "status" and s["visibility"] == "direct":
            assert s.get("mentions")  # a direct message goes to someone
        if s["op"] == "schedule":
            assert s["in_days"] >= 1  # Mastodon wants more than 5 minutes ahead


@pytest.mark.parametrize("body,message", [
    ('{"accounts": "many"}', ":1: field 'accounts': a whole number"),
    ('{\n  "name": "x",\n  "favourites": -1\n}', ":3: field 'favourites': a whole number of 0 or more"),
    ('{"visibility": {"public": 0.5}}', "field 'visibility': shares of 0 or more that sum to 1"),
    ('{"visibility": {"secret": 1}}', "field 'visibility': an object of shares"),
    ('{"hashtags": ["#sandbox"]}', "field 'hashtags'"),
    ('{"colour": "blue"}', "field 'colour': unknown field"),
    ('{"accounts": 3, "follows_per_account": 3}', "field 'follows_per_account': fewer than the 3 accounts"),
    ('{"statuses_per_account": 500}', "at most 298"),
    ('{"reply_share": 2}', "field 'reply_share': a share between 0 and 1"),
    ('{"accounts": 4,', "not valid JSON"),
    ('{\n  "accounts": 100000\n}', ":2: field 'accounts': 100000 accounts, at most 1000"),
    ('{"accounts": 1000, "statuses_per_account": 200}', "field 'statuses_per_account': about 205043 API calls (200000 for statuses_per_account)"),
    ('{"favourites": 1000000000}', "field 'favourites': about 1000000160 API calls (1000000000 for favourites), at most 10000"),
])
def test_a_bad_scenario_names_file_line_and_field(tmp_path, body, message):
    path = tmp_path / "mine.json"
    path.write_text(body)
    with pytest.raises(SandboxError) as e:
        load(str(path))
    assert str(e.value).startswith(str(path) + ":") and message in str(e.value) and "\n" not in str(e.value)


def test_an_unknown_scenario_lists_the_known_ones():
    with pytest.raises(SandboxError, match="no seed scenario 'nope': choose one of default, small"):
        load("nope")


def test_parse_defaults_the_name_from_the_file():
    assert parse({}, "fixtures/scenarios/tiny.json").name == "tiny"


def test_a_seed_too_big_at_its_scale_is_refused_before_any_work(monkeypatch):
    """The bound holds at the scale asked for, before faker draws anything (a plan's work grows faster than it)."""
    import faker

    monkeypatch.setattr(faker, "Faker", lambda *a, **kw: pytest.fail("the plan was drawn before its size was checked"))
    scenario = parse({"accounts": 100}, "big.json")
    with pytest.raises(SandboxError) as e:
        render(scenario, 1, 50, DOMAIN, EMAIL_DOMAIN)
    assert str(e.value) == ("scenario 'big' at scale 50: 5000 accounts, at most 1000: seeding makes each one's "
                            "profile, follows and posts one API call at a time")
    assert scenario_mod.size_problem(load("default"), 50) is None  # the shipped scenarios take every scale seed allows


def test_every_kind_of_step_a_plan_makes_has_its_call():
    from mastodon_sandbox.data.seed import Seeder

    for name in ("default", "small"):
        ops = {step["op"] for step in render(load(name), 1, 1, "localhost", "example.test").steps}
        assert ops <= set(Seeder.STEPS), ops - set(Seeder.STEPS)
