import pytest

from mastodon_sandbox.config import (
    RELEASES,
    SandboxConfig,
    parse_accounts,
    release,
    settings_from_env,
)
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.lifecycle import resolve_config
from mastodon_sandbox.state import State


def test_release_accepts_series_full_version_and_tag():
    assert release("4.6").version == release("4.6.5").version == release("v4.6.5").version == "4.6.5"
    assert release("4.3").needs_otp_secret and release("4.3").password_grant
    assert not release("4.4").needs_otp_secret and not release("4.4").password_grant


@pytest.mark.parametrize("bad", ["4.2", "5.0", "4.6.1", "latest", ""])
def test_unknown_version_is_one_line_error_naming_the_choices(bad):
    with pytest.raises(SandboxError) as e:
        release(bad)
    msg = str(e.value)
    assert "\n" not in msg and all(r.version in msg for r in RELEASES.values())


def test_domain_carries_a_port_other_than_443():
    assert SandboxConfig().domain == "localhost" and SandboxConfig().base_url == "https://localhost"
    c = SandboxConfig(port=8443)
    assert c.domain == "localhost:8443" and c.base_url == "https://localhost:8443"


def test_each_sandbox_has_its_own_compose_project():
    assert SandboxConfig(name="a").project != SandboxConfig(name="b").project


@pytest.mark.parametrize("kw", [{"name": "Bad Name"}, {"server": "mastodon"}, {"s3": "gcs"}, {"port": 0}, {"registrations": "maybe"}])
def test_bad_settings_are_refused(kw):
    with pytest.raises(SandboxError):
        SandboxConfig(**kw)


def test_config_round_trips_through_json():
    c = SandboxConfig(name="x", server="standin", port=8443, accounts=parse_accounts("root:Owner,zed"))
    assert SandboxConfig.from_json(c.to_json()) == c


def test_settings_from_env_reads_sandbox_variables_and_rejects_bad_values():
    s = settings_from_env({"SANDBOX_SERVER": "standin", "SANDBOX_PORT": "8443", "SANDBOX_ACCOUNTS": "a:Admin,b", "SANDBOX_S3": ""})
    assert s["server"] == "standin" and s["port"] == 8443 and "s3" not in s
    assert [a.username for a in s["accounts"]] == ["a", "b"] and s["accounts"][0].role == "Admin"
    with pytest.raises(SandboxError):
        settings_from_env({"SANDBOX_PORT": "https"})


def _saved(tmp_path, **kw) -> State:
    state = State("t", root=tmp_path)
    state.save_config(SandboxConfig(name="t", **kw))
    return state


def test_new_sandbox_takes_the_request_and_picks_s3_for_the_server(tmp_path):
    config, new = resolve_config("t", {"server": "standin"}, State("t", root=tmp_path))
    assert new and config.s3 == "seaweedfs"
    config, _ = resolve_config("t", {}, State("t", root=tmp_path))
    assert config.server == "official" and config.s3 == "minio"


def test_existing_sandbox_keeps_its_settings_when_none_are_asked(tmp_path):
    state = _saved(tmp_path, server="standin", s3="seaweedfs", port=8443)
    config, new = resolve_config("t", {}, state)
    assert not new and config.port == 8443 and config.server == "standin"


@pytest.mark.parametrize("change", [{"port": 9443}, {"server": "official"}, {"s3": "local"}, {"email_domain": "other.test"}])
def test_changing_a_fixed_setting_is_refused(tmp_path, change):
    state = _saved(tmp_path, server="standin", s3="seaweedfs")
    with pytest.raises(SandboxError, match="keeps it"):
        resolve_config("t", change, state)


def test_newer_version_upgrades_and_older_is_refused(tmp_path):
    state = _saved(tmp_path, version="4.4.22")
    config, _ = resolve_config("t", {"version": "4.6"}, state)
    assert config.version == "4.6.5"
    with pytest.raises(SandboxError, match="refused"):
        resolve_config("t", {"version": "4.3"}, state)


def test_damaged_state_folder_is_reported_not_overwritten(tmp_path):
    state = State("t", root=tmp_path)
    state.dir.mkdir(parents=True)
    state.config_file.write_text("{not json")
    with pytest.raises(SandboxError, match="damaged"):
        resolve_config("t", {}, state)
    assert state.config_file.read_text() == "{not json"


@pytest.mark.parametrize("kw,message", [
    ({"pool_size": -3}, "bad pool size -3"),
    ({"pool_size": 100000}, "bad pool size"),
    ({"email_domain": "not a domain"}, "bad e-mail domain 'not a domain'"),
    ({"email_domain": "localhost"}, "bad e-mail domain"),
    ({"accounts": parse_accounts("bad-name")}, "bad username 'bad-name'"),
    ({"accounts": parse_accounts("admin:God")}, "unknown role 'God' for admin: Mastodon's roles are Owner, Admin, Moderator"),
    ({"accounts": parse_accounts("alice,Alice")}, "named twice"),
    ({"version": "4.3", "accounts": parse_accounts("admin:Owner,alice")}, "reserves the username 'admin'"),
])
def test_each_bad_setting_is_one_line_before_anything_is_made(tmp_path, kw, message):
    state = State("t", root=tmp_path)
    with pytest.raises(SandboxError, match=message) as e:
        resolve_config("t", kw, state)
    assert "\n" not in str(e.value)
    assert not state.dir.exists()  # resolve_config is the first thing `up` does: nothing was created


def test_a_43_sandbox_defaults_to_an_owner_that_43_allows():
    assert [(a.username, a.role) for a in SandboxConfig(version="4.3").accounts] == [("owner", "Owner"), ("alice", None), ("bob", None)]
    assert SandboxConfig().accounts[0].username == "admin"


def test_changeable_settings_are_applied_to_an_existing_sandbox(tmp_path):
    state = _saved(tmp_path, server="standin", s3="seaweedfs")
    config, new = resolve_config("t", {"registrations": "open", "pool_size": 3, "accounts": parse_accounts("admin:Owner,alice,carol")}, state)
    assert not new and config.registrations == "open" and config.pool_size == 3
    assert [a.username for a in config.accounts] == ["admin", "alice", "carol"]


def test_db_prepare_runs_only_for_a_new_database_or_new_code():
    from mastodon_sandbox.lifecycle import prepare_reason

    marker = {"image": "mastodon-sandbox/mastodon:4.6.5-source", "image_id": "sha256:" + "a" * 64, "version": "4.6.5", "model": "m",
              "cluster": "7447300948532187162"}
    assert prepare_reason(True, None, marker) == "a new database"
    assert prepare_reason(False, None, marker) == "no record of an earlier db:prepare"
    assert prepare_reason(False, dict(marker), marker) is None
    assert prepare_reason(False, {**marker, "model": "other"}, marker) is None  # recreating containers needs no migration
    assert "image changed" in prepare_reason(False, {**marker, "image_id": "sha256:" + "b" * 64}, marker)
    assert prepare_reason(False, {**marker, "version": "4.3.23"}, marker) == "Mastodon 4.3.23 -> 4.6.5"
    # Volumes wiped (`docker compose down --volumes`) or made anew: initdb chose another system identifier.
    assert prepare_reason(False, marker, {**marker, "cluster": "7447300948532187999"}) == "a new database cluster"
    # A record from before clusters were recorded (a volume timestamp) says nothing: PostgreSQL is asked.
    old_record = {k: v for k, v in marker.items() if k != "cluster"} | {"database": "2026-12-01T20:00:00Z"}
    assert prepare_reason(False, old_record, marker) is None
    assert prepare_reason(False, old_record, marker, has_database=False) == "no Mastodon database in PostgreSQL"
