"""tootctl argument parsing and error formatting (no database needed)."""
import pytest
from standin import tootctl
from standin.tootctl import CliError, parse


def test_create_with_all_options():
    path, pos, opts = parse(["accounts", "create", "alice", "--email", "alice@example.test", "--confirmed",
                             "--approve", "--role", "Owner"])
    assert path == ("accounts", "create")
    assert pos == ["alice"]
    assert opts == {"email": "alice@example.test", "confirmed": True, "approve": True, "role": "Owner"}


def test_equals_form_and_negation():
    _, _, opts = parse(["accounts", "create", "bob", "--email=bob@example.test", "--no-confirmed"])
    assert opts == {"email": "bob@example.test", "confirmed": False}


def test_email_is_required_like_thor():
    with pytest.raises(CliError, match="No value provided for required options '--email'"):
        parse(["accounts", "create", "bob"])


def test_modify_flags_with_dashes():
    _, pos, opts = parse(["accounts", "modify", "carol", "--reset-password", "--remove-role", "--disable"])
    assert pos == ["carol"]
    assert opts == {"reset_password": True, "remove_role": True, "disable": True}


def test_unknown_subcommand_message_matches_thor():
    # f9 "registrations bogus": stderr 'Could not find command "bogus".', rc 1
    with pytest.raises(CliError) as e:
        parse(["settings", "registrations", "bogus"])
    assert str(e.value) == 'Could not find command "bogus".'
    with pytest.raises(CliError, match='Could not find command "frobnicate"'):
        parse(["frobnicate"])


def test_an_unknown_switch_is_an_argument_as_thor_leaves_it():
    # Seen on real v4.6.5 (Mastodon's commands do not check_unknown_options!):
    #   tootctl accounts approve nobodyhere --bogus  -> the arity error below, rc 1
    #   tootctl accounts approve --bogus             -> "No such account" (the switch is the username)
    with pytest.raises(CliError) as e:
        parse(["accounts", "approve", "nobodyhere", "--bogus"])
    assert str(e.value) == ('ERROR: "tootctl accounts approve" was called with arguments ["nobodyhere", "--bogus"]\n'
                            'Usage: "tootctl accounts approve [USERNAME]"')
    assert parse(["accounts", "approve", "--bogus"])[1] == ["--bogus"]
    with pytest.raises(CliError, match=r'called with arguments \["--bogus"\]\nUsage: "tootctl version"'):
        parse(["version", "--bogus"])


def test_approve_number_alias():
    _, pos, opts = parse(["accounts", "approve", "-n", "3"])
    assert pos == [] and opts == {"number": 3}


def test_report_errors_format():
    # f2 "create bad email": three Failure/Error blocks, one per error
    s = tootctl.format_errors([("email", "invalid"), ("email", "invalid"), ("email", "blocked")])
    assert s + "\n" == "Failure/Error: email\n    invalid\nFailure/Error: email\n    invalid\nFailure/Error: email\n    blocked\n"


def test_version_and_errors_reach_stderr(capsys, monkeypatch):
    monkeypatch.setenv("STANDIN_VERSION", "4.6.5")
    for k in ("ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY", "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT",
              "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY"):
        monkeypatch.setenv(k, "x" * 32)
    monkeypatch.setenv("SECRET_KEY_BASE", "ab" * 64)
    assert tootctl.main(["version"]) == 0
    assert capsys.readouterr().out == "4.6.5+standin\n"
    assert tootctl.main(["settings", "registrations", "bogus"]) == 1
    assert capsys.readouterr().err == 'Could not find command "bogus".\n'


def test_boot_refused_without_encryption_keys(monkeypatch, capsys):
    for k in ("ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY", "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT",
              "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("SECRET_KEY_BASE", "ab" * 64)
    with pytest.raises(SystemExit) as e:
        tootctl.main(["version"])
    assert e.value.code == 1
    assert "Mastodon now requires that these variables are set" in capsys.readouterr().err
