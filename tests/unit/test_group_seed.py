"""`mastodon-sandbox seed --group` before Docker is touched: the plan of the steps between the members (pure,
deterministic, small) and what the command refuses in one line before anything is made. On real Mastodon:
tests/federation/test_group_seed.py."""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace

import pytest

from mastodon_sandbox import cli, lifecycle
from mastodon_sandbox.config import SandboxConfig
from mastodon_sandbox.data.plan import render
from mastodon_sandbox.data.scenario import load
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.federation import seed as group_seed
from mastodon_sandbox.federation.seed import PER_PAIR, load_group_summary, plan_cross
from mastodon_sandbox.stack import Stack
from mastodon_sandbox.state import GroupState, State

DOMAINS = ("a.localhost", "b.localhost", "c.localhost")


def summary_of(domain: str, scenario: str = "default", seed: int = 1, scale: int = 1) -> dict:
    """A member's seed.json as seed.py writes it, from the plan its seed renders (ids made up)."""
    plan = render(load(scenario), seed, scale, domain, "mail.test")
    accounts = {a["key"]: {"username": a["username"], "id": str(100 + i), "locked": a["locked"], "bot": a["bot"]}
                for i, a in enumerate(plan.accounts)}
    statuses = {s["ref"]: {"id": str(5000 + i), "actor": s["actor"], "visibility": s["visibility"],
                           "url": f"https://{domain}/@{accounts[s['actor']]['username']}/{5000 + i}"}
                for i, s in enumerate(st for st in plan.steps if st["op"] == "status")}
    return {"scenario": plan.scenario, "seed": seed, "scale": scale, "accounts": accounts, "statuses": statuses}


@pytest.fixture(scope="module")
def summaries() -> dict[str, dict]:
    return {d: summary_of(d) for d in DOMAINS}


# --- the plan ---------------------------------------------------------------------------------------------------

def test_the_same_inputs_give_the_same_plan_and_another_seed_another(summaries):
    plan = plan_cross(1, 1, summaries)
    assert plan == plan_cross(1, 1, json.loads(json.dumps(summaries)))
    assert plan != plan_cross(2, 1, summaries)
    # a pair's steps are its own: a third member joining changes none of a → b's
    two = {d: summaries[d] for d in DOMAINS[:2]}
    assert [s for s in plan if (s["from"], s["to"]) == DOMAINS[:2]] == [s for s in plan_cross(1, 1, two) if s["from"] == DOMAINS[0]]


def test_every_ordered_pair_gets_every_kind_of_step_in_the_small_counts(summaries):
    plan = plan_cross(1, 1, summaries)
    per_pair = Counter((s["from"], s["to"], s["op"]) for s in plan)
    pairs = {(x, y) for x in DOMAINS for y in DOMAINS if x != y}
    assert {(x, y) for x, y, _ in per_pair} == pairs
    assert per_pair == Counter({(x, y, op): n for x, y in pairs for op, n in PER_PAIR.items()})
    assert PER_PAIR == {"follow": 3, "mention": 2, "reply": 2, "favourite": 2, "reblog": 1}


def test_the_counts_scale_with_scale():
    bigger = {d: summary_of(d, scale=2) for d in DOMAINS[:2]}
    counts = Counter(s["op"] for s in plan_cross(1, 2, bigger))
    assert counts == Counter({op: 2 * 2 * n for op, n in PER_PAIR.items()})  # two ordered pairs, scale 2


def test_fewer_candidates_than_the_counts_give_fewer_steps_never_repeats():
    one = {d: {"accounts": {"u001": {"username": f"only_{d[0]}", "id": "1", "locked": False}},
               "statuses": {"s0001": {"id": "9", "actor": "u001", "visibility": "public", "url": f"https://{d}/@x/9"},
                            "s0002": {"id": "10", "actor": "u001", "visibility": "private", "url": f"https://{d}/@x/10"}}}
           for d in DOMAINS[:2]}
    counts = Counter((s["from"], s["op"]) for s in plan_cross(1, 3, one))
    assert set(counts.values()) == {1}  # one account and one public status on each side: each step once


def test_no_account_follows_itself_and_each_follow_is_made_once(summaries):
    plan = plan_cross(3, 1, summaries)
    follows = [s for s in plan if s["op"] == "follow"]
    assert all(s["from"] != s["to"] for s in plan)

    def acct(domain: str, key: str) -> str:
        return f"{summaries[domain]['accounts'][key]['username']}@{domain}"
    # members seeded alike have the same usernames: an account and its namesake are still two accounts
    assert all(acct(s["from"], s["actor"]) != acct(s["to"], s["target"]) for s in follows)
    assert len({(s["from"], s["actor"], s["to"], s["target"]) for s in follows}) == len(follows)
    for s in follows:
        assert s["actor"] in summaries[s["from"]]["accounts"] and s["target"] in summaries[s["to"]]["accounts"]
        assert s["locked"] is summaries[s["to"]]["accounts"][s["target"]]["locked"]


def test_each_pair_follows_a_locked_account_of_the_other_when_it_has_one(summaries):
    for seed_value in range(1, 6):
        plan = plan_cross(seed_value, 1, summaries)
        for x in DOMAINS:
            for y in set(DOMAINS) - {x}:
                locked = [s for s in plan if s["op"] == "follow" and (s["from"], s["to"]) == (x, y) and s["locked"]]
                assert locked and all(summaries[y]["accounts"][s["target"]]["locked"] for s in locked)


def test_replies_favourites_and_boosts_pick_public_statuses_of_the_other_instance(summaries):
    for seed_value in range(1, 6):
        for s in plan_cross(seed_value, 1, summaries):
            if s["op"] in ("reply", "favourite", "reblog"):
                theirs = summaries[s["to"]]["statuses"][s["status"]]
                assert theirs["visibility"] == "public" and s["author"] == theirs["actor"]
                assert s["actor"] in summaries[s["from"]]["accounts"]


def test_mentions_and_replies_write_the_other_account_s_address(summaries):
    for s in plan_cross(1, 1, summaries):
        if s["op"] in ("mention", "reply"):
            key = s["target"] if s["op"] == "mention" else s["author"]
            assert s["text"].startswith(f"@{summaries[s['to']]['accounts'][key]['username']}@{s['to']} ")


def test_follows_come_before_the_posts_that_should_reach_the_followers(summaries):
    ops = [s["op"] for s in plan_cross(1, 1, summaries)]
    assert ops == sorted(ops, key=list(PER_PAIR).index)


def test_a_summary_without_accounts_is_one_line():
    with pytest.raises(SandboxError, match="the seed summary of b.localhost has no accounts"):
        plan_cross(1, 1, {"a.localhost": summary_of("a.localhost"), "b.localhost": {"scenario": "default"}})


# --- what the command refuses before anything is made ---------------------------------------------------------

@pytest.fixture
def root(tmp_path, monkeypatch):
    """A state folder with group fed's members fed-a (a.localhost) and fed-b (b.localhost), unseeded; Docker and
    seeding fail the test when reached."""
    root = tmp_path / "state"
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(root))
    monkeypatch.delenv("SANDBOX_NAME", raising=False)
    for i, short in enumerate("ab"):
        add_member(root, short, address=f"127.0.0.{i + 2}")
    monkeypatch.setattr(lifecycle, "docker_client", lambda: pytest.fail("Docker was asked before the input was checked"))
    monkeypatch.setattr(Stack, "is_running", lambda self: pytest.fail("Docker was asked before the input was checked"))
    monkeypatch.setattr(group_seed, "seed", lambda *a, **kw: pytest.fail("a member was seeded"))
    return root


def add_member(root, short: str, address: str, **kw) -> State:
    state = State(f"fed-{short}", root=root)
    state.save_config(SandboxConfig(name=f"fed-{short}", hostname=f"{short}.localhost", group="fed", address=address, **kw))
    return state


def one_line(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("mastodon-sandbox: ") and "\n" not in err and "Traceback" not in err, err
    return err


def nothing_made(root) -> bool:
    group = GroupState("fed", root)
    return not group.seeding_file.exists() and not any((root / f"fed-{s}" / "snapshots").exists() for s in "ab")


def test_a_member_seeded_with_another_scenario_is_refused_naming_it_and_what_to_run(root, capsys):
    State("fed-b", root=root).write_json(State("fed-b", root=root).seed_file, {"scenario": "small", "seed": 1, "scale": 1})
    err = one_line(capsys, ["seed", "--group", "fed"])
    assert "member 'fed-b' of group 'fed' was seeded with scenario 'small', seed 1, scale 1" in err
    assert "`mastodon-sandbox seed --group fed --scenario small --seed 1 --scale 1`" in err
    assert nothing_made(root)
    State("fed-b", root=root).write_json(State("fed-b", root=root).seed_file, {"scenario": "default", "seed": 7, "scale": 1})
    assert "was seeded with scenario 'default', seed 7" in one_line(capsys, ["seed", "--group", "fed"])


def test_seed_group_takes_no_name_and_checks_scale_and_scenario(root, capsys):
    assert "seed --group seeds every member of group 'fed': leave --name out" in one_line(
        capsys, ["seed", "--group", "fed", "--name", "fed-a"])
    assert "bad scale 0" in one_line(capsys, ["seed", "--group", "fed", "--scale", "0"])
    assert "no seed scenario 'nope'" in one_line(capsys, ["seed", "--group", "fed", "--scenario", "nope"])
    assert "no group 'other'" in one_line(capsys, ["seed", "--group", "other"])
    assert nothing_made(root)


def test_a_group_seeded_already_or_since_grown_is_refused(root, capsys):
    group = GroupState("fed", root)
    group.write_json(group.seed_file, {"scenario": "default", "seed": 1, "scale": 1,
                                        "members": {"a.localhost": "fed-a", "b.localhost": "fed-b"}})
    assert "group 'fed' was seeded already (scenario 'default', seed 1, scale 1): `mastodon-sandbox reset --group fed`" in \
        one_line(capsys, ["seed", "--group", "fed"])
    add_member(root, "c", address="127.0.0.4")
    assert "was seeded as a.localhost, b.localhost and has a.localhost, b.localhost, c.localhost now" in \
        one_line(capsys, ["seed", "--group", "fed"])


def test_a_cut_short_group_seed_is_run_again_with_its_own_scenario(root, capsys):
    group = GroupState("fed", root)
    group.write_json(group.seeding_file, {"started": "2025-01-01T00:00:00Z", "scenario": "small", "seed": 2, "scale": 1})
    assert "`mastodon-sandbox seed --group fed --scenario small --seed 2 --scale 1`" in one_line(capsys, ["seed", "--group", "fed"])


def test_members_must_be_real_mastodon_two_or_more_and_running(root, capsys, monkeypatch):
    add_member(root, "s", address="127.0.0.5", server="standin")
    assert "member 'fed-s' runs the stand-in" in one_line(capsys, ["seed", "--group", "fed"])
    State("fed-s", root=root).remove()
    State("fed-b", root=root).remove()
    assert "group 'fed' has one member, fed-a: a group seed needs two or more" in one_line(capsys, ["seed", "--group", "fed"])
    add_member(root, "b", address="127.0.0.3")
    monkeypatch.setattr(Stack, "is_running", lambda self: False)
    assert "member 'fed-a' of group 'fed' is not running: `mastodon-sandbox up --name fed-a` first" in \
        one_line(capsys, ["seed", "--group", "fed"])
    assert nothing_made(root)


def test_the_group_summary_is_there_only_once_the_group_seed_is_done(root):
    from mastodon_sandbox.testing.federation import Federation, FederationSpec, Member

    group = GroupState("fed", root)
    assert group.seed_file == root / "_groups" / "fed" / "seed.json" and load_group_summary("fed") is None
    spec = FederationSpec("fed", (Member("a", None), Member("b", None)))
    fed = Federation(spec, [SimpleNamespace(config=SimpleNamespace(domain=m.domain)) for m in spec.members], request=None)
    with pytest.raises(pytest.fail.Exception, match=r"group 'fed' is not seeded: `mastodon-sandbox seed --group fed`"):
        fed.seeded()
    summary = {"scenario": "default", "seed": 1, "scale": 1, "members": {"a.localhost": "fed-a", "b.localhost": "fed-b"}}
    group.write_json(group.seed_file, summary)
    assert oct(group.seed_file.stat().st_mode & 0o777) == "0o600"
    group.write_json(group.seeding_file, {"scenario": "default", "seed": 1, "scale": 1})
    assert load_group_summary("fed") is None  # cut short, or under way
    group.seeding_file.unlink()
    assert load_group_summary("fed") == summary == fed.seeded()
    group.write_json(group.seed_file, {**summary, "members": {"a.localhost": "fed-a", "c.localhost": "fed-c"}})
    with pytest.raises(pytest.fail.Exception, match="was seeded without b.localhost"):
        fed.seeded()


# --- applying a plan, against a stand-in for the API ---------------------------------------------------------

class FakeApi:
    """Answers the calls CrossSeeder makes as Mastodon would, recording them; the remote copy of an account
    or status gets the id `r-<acct or URL>`."""

    calls: list[tuple[str, str, str, str]] = []
    made = 0

    def __init__(self, sandbox, token: str):
        self.domain, self.token = sandbox.config.domain, token

    def call(self, method: str, path: str, ok=(200,), params=None, data=None, headers=None):
        FakeApi.calls.append((self.domain, self.token, method, path))
        q = (params or {}).get("q")
        if path == "/api/v2/search" and params["type"] == "accounts":
            return {"accounts": [{"id": f"r-{q}", "acct": q}]}
        if path == "/api/v2/search":  # by a status's URL (its URI is another address) or by its URI
            return {"statuses": [{"id": f"r-{q}", "uri": q.replace("/@", "/users/"), "url": q}]}
        if path == "/api/v1/accounts/lookup":
            return {"id": f"r-{params['acct']}"}
        if path == "/api/v1/accounts/relationships":
            return [{"following": True}]
        if path in ("/api/v1/statuses",) or path.endswith("/reblog"):
            FakeApi.made += 1
            words = data["status"].split() if data and "status" in data else []
            mentions = [{"id": f"r-{words[0][1:]}", "acct": words[0][1:]}] if words and words[0].startswith("@") else []
            return {"id": str(FakeApi.made), "uri": f"https://{self.domain}/users/x/statuses/{FakeApi.made}",
                    "url": f"https://{self.domain}/@x/{FakeApi.made}", "mentions": mentions}
        return {}


def test_a_plan_is_applied_as_the_seeded_users_follows_first_with_the_ids_on_both_sides(summaries, monkeypatch):
    members = {d: SimpleNamespace(config=SimpleNamespace(domain=d), name=f"fed-{d[0]}") for d in DOMAINS[:2]}
    two = {d: summaries[d] for d in members}
    settled: list[int] = []
    monkeypatch.setattr(group_seed, "Api", FakeApi)
    monkeypatch.setattr(group_seed, "seeded_token", lambda sb, username: f"{username}@{sb.config.domain}")
    monkeypatch.setattr(group_seed, "settle_group", lambda found: settled.append(len(FakeApi.calls)))
    FakeApi.calls = []
    plan = plan_cross(1, 1, two)
    made = group_seed.CrossSeeder("fed", list(members.values()), two, group_seed.Progress(quiet=True)).run(plan)

    assert {k: len(v) for k, v in made.items()} == {"follows": 6, "mentions": 4, "replies": 4, "favourites": 4, "reblogs": 2}
    posts = [i for i, c in enumerate(FakeApi.calls) if c[2:] == ("POST", "/api/v1/statuses")]
    follows = [i for i, c in enumerate(FakeApi.calls) if c[3].endswith("/follow")]
    assert max(follows) < settled[0] < min(posts) and len(settled) == 4  # follows, acceptances, posts, the end
    # every call is made as the step's actor, with a token of its own instance
    assert all(token.endswith("@" + domain) for domain, token, _, _ in FakeApi.calls)
    authorized = [c for c in FakeApi.calls if c[3].endswith("/authorize")]
    assert len(authorized) == sum(f["locked"] for f in made["follows"]) >= 2

    f = made["follows"][0]
    x, y = f["from"], f["to"]
    assert f["followed"]["ids"] == {y: two[y]["accounts"][f["followed"]["key"]]["id"], x: f"r-{f['followed']['acct']}"}
    assert f["follower"]["ids"] == {x: two[x]["accounts"][f["follower"]["key"]]["id"], y: f"r-{f['follower']['acct']}"}
    m = made["mentions"][0]
    assert set(m["status"]["ids"]) == set(m["mentioned"]["ids"]) == {m["from"], m["to"]} and m["status"]["uri"].startswith(f"https://{m['from']}/")
    r = made["replies"][0]
    assert set(r["in_reply_to"]["ids"]) == set(r["status"]["ids"]) == {r["from"], r["to"]}
    assert r["in_reply_to"]["url"] == two[r["to"]]["statuses"][r["in_reply_to"]["ref"]]["url"]
    b = made["reblogs"][0]
    assert set(b["status"]["ids"]) == {b["from"], b["to"]} and b["reblog"]["ids"].keys() == {b["from"]}


class Answer:
    """What requests returns, as far as Api.call reads it."""

    def __init__(self, status: int, body: str):
        self.status_code, self.text, self.content, self.headers = status, body, body.encode(), {}


def racing_api(answers: list[Answer], tries: list[dict]):
    """FakeApi, but its status posts first get `answers` through the real Api.call (its error, its format);
    every try's headers are kept in `tries`."""
    from mastodon_sandbox.data.seed import Api

    class RacingApi(FakeApi):
        def call(self, method: str, path: str, ok=(200,), params=None, data=None, headers=None):
            if path == "/api/v1/statuses":
                tries.append(headers or {})
                if answers:
                    real = Api.__new__(Api)
                    real.base, real.session = "https://x", SimpleNamespace(request=lambda *a, **kw: answers.pop(0))
                    real.call(method, path, data=data, headers=headers)
            return super().call(method, path, ok, params, data, headers)
    return RacingApi


# Upstream's answer when the mention's account was made at the same moment by Sidekiq (seen on real 4.3.23).
TAKEN = Answer(422, '{"error":"Validation failed: Username has already been taken"}')
BLANK = Answer(422, '{"error":"Validation failed: Text can\'t be blank"}')


@pytest.mark.parametrize("answers, tried, error", [((TAKEN,), 2, None), ((TAKEN, TAKEN), 2, "already been taken"),
                                                   ((BLANK,), 1, "can't be blank")])
def test_a_post_that_lost_the_race_to_create_the_mentioned_account_is_tried_once_more(summaries, monkeypatch, answers, tried, error):
    """The first post failed before anything was saved (PostStatusService#process_status!): a second try, with
    the same idempotency key, makes it. Another 422, or the same one twice, is an error naming the call and
    Mastodon's answer."""
    members = [SimpleNamespace(config=SimpleNamespace(domain=d), name=f"fed-{d[0]}") for d in DOMAINS[:2]]
    tries: list[dict] = []
    monkeypatch.setattr(group_seed, "Api", racing_api(list(answers), tries))
    monkeypatch.setattr(group_seed, "seeded_token", lambda sb, username: f"{username}@{sb.config.domain}")
    FakeApi.calls = []
    seeder = group_seed.CrossSeeder("fed", members, {d: summaries[d] for d in DOMAINS[:2]}, group_seed.Progress(quiet=True))
    step = next(s for s in plan_cross(1, 1, seeder.summaries) if s["op"] == "mention")
    if error:
        with pytest.raises(SandboxError, match=rf"^POST /api/v1/statuses answered 422: .*{error}"):
            seeder.mention(step)
    else:
        made = seeder.mention(step)
        assert made["status"]["uri"].startswith(f"https://{step['from']}/") and made["mentioned"]["ids"][step["from"]].startswith("r-")
    assert len(tries) == tried and len({h["Idempotency-Key"] for h in tries}) == 1
