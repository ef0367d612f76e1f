"""The plugin without a sandbox to test against (no Docker needed): the run says why in one line, once,
naming the state folder it looked in, and the tests that need no sandbox still run. Also what `pytest --help`
and `pytest --fixtures` tell a user."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SUITE = '''
import pytest

@pytest.mark.parametrize("i", range(12))
def test_needs_an_account(mastodon_account, i):
    pass

def test_needs_the_sandbox(mastodon_sandbox):
    pass

def test_needs_nothing():
    pass
'''


@pytest.fixture(autouse=True)
def _a_shell_of_its_own(monkeypatch):
    """Not this run's sandbox: each test names the one it asks for (or asks for `default`)."""
    monkeypatch.delenv("SANDBOX_NAME", raising=False)


def lines_saying(result, text: str) -> list[str]:
    return [line for line in (result.stdout.str() + result.stderr.str()).splitlines() if text in line]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two workers"])
def test_a_sandbox_not_in_the_state_folder_is_one_line_once(pytester, tmp_path, monkeypatch, workers):
    root = tmp_path / "state"
    (root / "other").mkdir(parents=True)
    (root / "other" / "config.json").write_text('{"name": "other", "server": "standin", "s3": "seaweedfs"}')
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(root))
    pytester.makepyfile(test_bot=SUITE)
    result = pytester.runpytest_subprocess("--mastodon-sandbox=absent", "-p", "no:cacheprovider", *workers)
    assert result.ret == 1
    [line] = lines_saying(result, "no sandbox 'absent'")
    assert f"in the state folder {root} (it holds other: --mastodon-sandbox picks one)" in line
    assert "`mastodon-sandbox up --name absent` makes it" in line and "13 test(s) that need it were not run" in line
    assert "Traceback" not in result.stdout.str()
    result.assert_outcomes(passed=1, deselected=0 if workers else 13)  # xdist's controller counts no deselection


def test_a_state_folder_that_does_not_exist_is_named_with_how_to_give_another(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "wrong"))
    pytester.makepyfile(test_bot=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 1
    [line] = lines_saying(result, "no sandbox 'default'")
    assert f"the state folder {tmp_path / 'wrong'} does not exist" in line and "--mastodon-sandbox-state-dir" in line
    assert "up --name" not in line  # the folder is the mistake, not a missing sandbox


def test_the_state_dir_option_wins_over_the_environment(pytester, tmp_path, monkeypatch):
    (tmp_path / "given").mkdir()
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "from-env"))
    pytester.makepyfile(test_bot=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--mastodon-sandbox-state-dir={tmp_path / 'given'}")
    [line] = lines_saying(result, "no sandbox 'default'")
    assert f"in the state folder {tmp_path / 'given'} (it holds none)" in line


def test_skip_mode_skips_them_with_the_line_once_a_test_function(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    pytester.makepyfile(test_bot=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mastodon-sandbox-missing=skip", "-rs")
    result.assert_outcomes(passed=1, skipped=13)
    lines = lines_saying(result, "no sandbox 'default'")
    assert [line.split(":")[0] for line in lines] == ["SKIPPED [12] test_bot.py", "SKIPPED [1] test_bot.py"]  # one a test function


def test_help_and_fixtures_say_what_a_user_needs(pytester):
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    for option in ("--mastodon-sandbox-state-dir", "--mastodon-pool-refill", "--mastodon-sandbox-restore", "mastodon_pool_refill"):
        assert option in help_text, option
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    fixtures = " ".join(pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider").stdout.str().split())
    for said in ("mastodon_client_with_token", "mastodon_session_with_token", "mastodon_token", "poll_ids=",
                 ".state.ca_file", "REQUESTS_CA_BUNDLE", "as plain JSON", "user:notification", "never seeded",
                 "leased apart from any", "client_id, client_secret"):
        assert said in fixtures, said
