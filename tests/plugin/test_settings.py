"""The plugin's settings, resolved once per run (sandbox/testing/settings.py), without a sandbox: one order of
precedence for every setting — option, then environment variable, then ini key, then default — a bad value
refused in one line, the choice shown in the run's header, and only the plugin's own fixtures taking the
sandbox (a user's own `mastodon_…` fixture does not)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SHOW = '''
from mastodon_sandbox.testing.settings import settings

def test_show(request):
    s = settings(request.config)
    print(f"SETTINGS {s.sandbox} {s.state_dir} {s.mode} {s.missing} {s.restore} {s.target} {s.pool_refill}")
'''


@pytest.fixture(autouse=True)
def _a_shell_of_its_own(monkeypatch):
    for var in ("SANDBOX_NAME", "SANDBOX_STATE_DIR"):
        monkeypatch.delenv(var, raising=False)


def shown(result) -> list[str]:
    [line] = [ln for ln in result.stdout.lines if "SETTINGS " in ln]
    return line.split("SETTINGS ", 1)[1].split()


def test_defaults_then_ini_then_environment_then_option(pytester, monkeypatch):
    pytester.makepyfile(test_show=SHOW)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    assert shown(result) == ["default", str(pytester.path / ".sandbox"), "warm", "fail", "False", "sandbox", "8"]

    pytester.makeini("[pytest]\nmastodon_sandbox = from-ini\nmastodon_sandbox_state_dir = states\n"
                     "mastodon_pool_refill = 4\nmastodon_sandbox_missing = skip\n")
    assert shown(pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider"))[:4] == [
        "from-ini", str(pytester.path / "states"), "warm", "skip"]

    monkeypatch.setenv("SANDBOX_NAME", "from-env")
    monkeypatch.setenv("SANDBOX_STATE_DIR", "env-states")
    assert shown(pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider"))[:2] == [
        "from-env", str(pytester.path / "env-states")]

    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", "--mastodon-sandbox=from-option",
                                           "--mastodon-sandbox-state-dir=opt-states", "--mastodon-pool-refill=2")
    got = shown(result)
    assert got[:2] == ["from-option", str(pytester.path / "opt-states")] and got[-1] == "2"


def test_a_bad_value_is_one_line_before_any_test(pytester):
    pytester.makeini("[pytest]\nmastodon_sandbox_mode = lukewarm\n")
    pytester.makepyfile(test_show=SHOW)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "mastodon-sandbox: mastodon_sandbox_mode is warm/cold, not 'lukewarm'" in result.stderr.str()
    assert "Traceback" not in result.stderr.str() and "test_show" not in result.stdout.str()


def test_the_header_says_which_sandbox_and_where(pytester):
    pytester.makepyfile(test_show=SHOW)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mastodon-sandbox=absent")
    header = [ln for ln in result.stdout.lines if ln.startswith("mastodon-sandbox: sandbox")]
    assert header == [f"mastodon-sandbox: sandbox 'absent' in {pytester.path / '.sandbox'} (not there yet); mode warm, target sandbox"]


def test_a_users_own_mastodon_fixture_does_not_take_the_sandbox(pytester):
    """No sandbox here: a test using only the user's `mastodon_parser` runs; one using the plugin's is not run."""
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef mastodon_parser():\n    return str.upper\n")
    pytester.makepyfile(test_mine="def test_mine(mastodon_parser):\n    assert mastodon_parser('a') == 'A'\n\n"
                                  "def test_theirs(mastodon_sandbox):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mastodon-sandbox=absent")
    result.assert_outcomes(passed=1, deselected=1)
    assert result.ret == 1  # the one that needs the sandbox was not run, and the run says so
