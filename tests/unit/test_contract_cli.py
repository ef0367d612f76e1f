"""`mastodon-sandbox contract`: its own options, pytest's passed through, and a target refused before pytest
starts (sandbox/contract/cli.py)."""

from __future__ import annotations

import os

import pytest

from mastodon_sandbox.cli import build_parser, main


@pytest.fixture(autouse=True)
def no_contract_settings(monkeypatch):
    """Only what a test sets: none of the developer's own MASTODON_CONTRACT_* variables."""
    for key in [k for k in os.environ if k.startswith("MASTODON_CONTRACT_")]:
        monkeypatch.delenv(key)


def test_options_the_command_does_not_know_go_to_pytest_in_order():
    args = build_parser().parse_args(["contract", "-k", "pagination or streaming", "--name", "other", "-x", "--", "-q"])
    assert (args.name, args.target) == ("other", None)
    assert args.pytest_args == ["-k", "pagination or streaming", "-x", "--", "-q"]
    assert build_parser().parse_args(["contract", "--target", "remote"]).pytest_args == []


@pytest.mark.parametrize("env, says", [
    ({"MASTODON_CONTRACT_URL": "https://botsin.space", "MASTODON_CONTRACT_TOKEN": "t"}, "botsin.space closed in December 2024"),
    ({"MASTODON_CONTRACT_TOKEN": "t"}, "needs MASTODON_CONTRACT_URL"),
    ({"MASTODON_CONTRACT_URL": "https://example.social"}, "needs MASTODON_CONTRACT_TOKEN"),
    ({"MASTODON_CONTRACT_URL": "https://example.social", "MASTODON_CONTRACT_TOKEN": "t", "MASTODON_CONTRACT_CA": "/no/such.pem"},
     "MASTODON_CONTRACT_CA=/no/such.pem: no such file"),
])
def test_a_remote_target_that_cannot_work_is_one_line_before_any_request(env, says, monkeypatch, capsys):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["contract", "--target", "remote"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and says in out.err


def test_a_sandbox_that_does_not_exist_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    assert main(["contract", "--name", "nowhere"]) != 0
    assert "no sandbox 'nowhere'" in capsys.readouterr().err
