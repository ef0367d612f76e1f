"""Fault rules as `mastodon-sandbox faults add` checks them (sandbox/faults/rules.py) and the nginx maps that route
the named accounts' requests to the fault layer (sandbox/faults/layer.py, `_render_maps`). No Docker;
tests/unit/test_faultd.py runs the layer itself."""

from __future__ import annotations

import json

import pytest

from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.faults.layer import _render_maps
from mastodon_sandbox.faults.rules import Rule, make_rule


@pytest.mark.parametrize("action, options, expected", [
    ("status", {"status": 429}, {"status": 429, "path": "*"}),
    ("status", {"status": 400, "account": "alice", "method": "post", "path": "/api/v1/statuses*"},
     {"status": 400, "account": "alice", "method": "POST", "path": "/api/v1/statuses*"}),
    ("status", {"status": 599, "count": 3, "probability": 0.5, "seed": 7},
     {"status": 599, "count": 3, "probability": 0.5, "seed": 7}),
    ("status", {"status": 503, "retry_after": 0}, {"retry_after": 0}),
    ("status", {"status": 500.0, "count": 2.0, "seed": "-3"}, {"status": 500, "count": 2, "seed": -3}),
    ("delay", {"seconds": 1.5}, {"seconds": 1.5}),
    ("close", {"probability": 1}, {"probability": 1.0}),
    # A stream alone is enough for a cut: the path defaults to the streaming API's.
    ("cut", {"after_events": 2, "stream": "user:notification"},
     {"after_events": 2, "stream": "user:notification", "path": "/api/v1/streaming*"}),
    ("cut", {"after_seconds": 0.5, "path": "/api/v1/streaming/public"}, {"after_seconds": 0.5}),
])
def test_good_rules_are_made(action, options, expected):
    rule = make_rule("f1", action, **options)
    assert rule.id == "f1" and rule.action == action
    assert {k: getattr(rule, k) for k in expected} == expected


def test_a_duration_becomes_an_until_from_now():
    assert make_rule("f1", "close", duration=30, now=1000.0).until == 1030.0
    assert make_rule("f1", "close", now=1000.0).until is None


@pytest.mark.parametrize("action, options, named", [
    ("explode", {}, "unknown fault action 'explode'"),
    ("status", {}, "status must be 400 to 599"),
    ("status", {"status": 399}, "not 399"),
    ("status", {"status": 600}, "not 600"),
    ("status", {"status": 700}, "not 700"),
    ("status", {"status": "teapot"}, "status must be a whole number"),
    ("delay", {"seconds": 1, "status": 500}, "a status goes with the status action"),
    ("status", {"status": 500, "count": -1}, "the count must be more than zero"),
    ("status", {"status": 500, "count": 0}, "the count must be more than zero"),
    ("status", {"status": 500, "probability": 1.5}, "the probability is at most 1"),
    ("status", {"status": 500, "probability": 0}, "the probability must be more than zero"),
    ("status", {"status": 500, "probability": -0.2}, "the probability must be more than zero"),
    ("status", {"status": 500, "probability": float("nan")}, "the probability must be more than zero"),
    ("status", {"status": 500, "method": "FETCH"}, "unknown HTTP method 'FETCH'"),
    ("status", {"status": 500, "path": "api/v1/statuses"}, "a path pattern starts with /"),
    ("status", {"status": 500, "stream": "everything"}, "unknown stream 'everything'"),
    ("cut", {"stream": "user"}, "a cut needs --cut-after-events N and/or --cut-after SECONDS"),
    ("cut", {"after_events": 1, "path": "/api/v1/timelines/home"}, "a cut is for streaming answers"),
    ("cut", {"after_events": 1}, "a cut is for streaming answers"),
    ("cut", {"after_events": 0, "stream": "user"}, "the events before a cut must be more than zero"),
    ("delay", {}, "the delay action takes its seconds"),
    ("delay", {"seconds": 0}, "the delay must be more than zero"),
    ("close", {"seconds": 2}, "the delay action takes its seconds"),
    ("status", {"status": 429, "after_events": 2}, "--cut-after-events and --cut-after go with the cut action only"),
    ("status", {"status": 429, "account": "alice@example.com"}, "'alice@example.com' is not a username"),
    ("status", {"status": 429, "account": "alice bob"}, "is not a username"),
    ("close", {"duration": -5}, "the duration must be more than zero"),
    ("status", {"status": 500, "count": 2.5}, "the count must be a whole number, not 2.5"),
    ("status", {"status": 500, "count": float("inf")}, "the count must be a whole number"),
    ("status", {"status": 429.5}, "the status must be a whole number"),
    ("close", {"probability": 0.5, "seed": None}, "the seed must be a whole number, not None"),
    ("close", {"probability": 0.5, "seed": 1.5}, "the seed must be a whole number"),
    ("close", {"probability": 0.5, "seed": "dice"}, "the seed must be a whole number"),
])
def test_bad_rules_are_refused_in_one_line_naming_the_problem(action, options, named):
    with pytest.raises(SandboxError) as caught:
        make_rule("f1", action, **options)
    message = str(caught.value)
    assert named in message
    assert "\n" not in message


RULES = [
    make_rule("f1", "status", status=429, account="alice", count=2, reset_in=10, limit=50),
    make_rule("f2", "status", status=503, retry_after=30, probability=0.25, seed=9, duration=60, now=1000.0),
    make_rule("f3", "delay", seconds=0.75, method="GET", path="/api/v1/timelines/*"),
    make_rule("f4", "close", probability=0.5),
    make_rule("f5", "cut", after_events=3, after_seconds=2.5, stream="public:local"),
    make_rule("f6", "cut", after_seconds=1, path="/api/v1/streaming"),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.action)
def test_a_rule_round_trips_through_the_json_faultd_reads(rule):
    data = json.loads(json.dumps(rule.to_json()))
    assert None not in data.values()  # faultd reads a missing key as "no limit", never a null
    assert Rule.from_json(data) == rule


def test_from_json_ignores_keys_it_does_not_know():
    # A rules file written by a newer CLI still reads.
    assert Rule.from_json({"id": "f1", "action": "close", "future": True}) == Rule(id="f1", action="close")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.action)
def test_describe_is_one_line_naming_the_rule(rule):
    line = rule.describe()
    assert line.startswith(rule.id + " ") and "\n" not in line
    assert (rule.account or "every account") in line


def test_describe_says_what_each_action_does():
    assert "answer 429" in RULES[0].describe() and "2 time(s)" in RULES[0].describe()
    assert "delay 0.75 s" in RULES[2].describe()
    assert "close the connection" in RULES[3].describe()
    assert "cut the stream after 3 event(s) or 2.5 s" in RULES[4].describe()


def test_maps_route_each_token_to_its_account_in_the_three_places_a_client_sends_it():
    files = _render_maps({"alice": ["tokA1", "tokA2"], "bob": ["tok-B_2"]}, any_account=False, generation=7)
    assert files["by-header.map"] == '"Bearer tokA1" "alice";\n"Bearer tokA2" "alice";\n"Bearer tok-B_2" "bob";\n'
    assert files["by-query.map"] == '"tokA1" "alice";\n"tokA2" "alice";\n"tok-B_2" "bob";\n'
    assert files["by-protocol.map"] == files["by-query.map"]
    assert files["any.map"] == ""  # empty: written as no file, so nginx's include finds none
    assert files["generation.map"] == '"~." "7";\n'


def test_the_catch_all_map_is_there_only_while_a_rule_names_no_account():
    files = _render_maps({}, any_account=True, generation=1)
    assert files["any.map"] == '"~." "*";\n'
    assert files["by-header.map"] == files["by-query.map"] == files["by-protocol.map"] == ""
    assert _render_maps({}, any_account=False, generation=2)["any.map"] == ""


@pytest.mark.parametrize("token", ['tok"en', "tok en", "tok;en", "tok\nen", "tök", ""])
def test_a_token_nginx_could_misread_is_never_written(token):
    with pytest.raises(SandboxError, match="alice"):
        _render_maps({"alice": ["good", token]}, any_account=False, generation=1)
