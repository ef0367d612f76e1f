"""`rails runner` script recognition and the version/disclaimer contract."""
import pytest
from standin import config, runner, serializers


def test_script_name_from_first_line():
    assert runner.script_name("# sandbox-script: bulk_accounts\nputs 1") == "bulk_accounts"
    assert runner.script_name("\n  # sandbox-script: bulk_accounts\n") == "bulk_accounts"
    assert runner.script_name("puts 1\n# sandbox-script: bulk_accounts") is None
    assert runner.script_name("") is None


def test_other_code_is_refused(capsys):
    cfg = config.load({"LOCAL_DOMAIN": "localhost"})
    assert runner.main(["puts 1"], cfg) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("stand-in: bin/rails runner only runs the scripts mastodon-sandbox ships "
                           "(bulk_accounts, tootctl_batch); this one is not one of them")


@pytest.mark.parametrize("env,version,password", [({}, "4.6.5+standin", False),
                                                  ({"STANDIN_VERSION": "4.6.5"}, "4.6.5+standin", False),
                                                  ({"STANDIN_VERSION": "4.3.9"}, "4.3.9+standin", True),
                                                  ({"STANDIN_VERSION": "4.3.24"}, "4.3.24+standin", True),
                                                  ({"STANDIN_VERSION": " v4.3.24 "}, "4.3.24+standin", True),
                                                  ({"STANDIN_VERSION": "4.4.22"}, "4.4.22+standin", False),
                                                  ({"STANDIN_VERSION": "4.5.15"}, "4.5.15+standin", False),
                                                  ({"STANDIN_VERSION": ""}, "4.6.5+standin", False)])
def test_versions(env, version, password):
    cfg = config.load({"LOCAL_DOMAIN": "localhost:8443", **env})
    assert cfg.version == version
    assert cfg.password_grant is password
    assert cfg.base_url == "https://localhost:8443" and cfg.streaming_url == "wss://localhost:8443"


@pytest.mark.parametrize("version,is_43", [("4.3.24", True), ("4.4.22", False)])
def test_pinned_releases_switch_the_43_behaviours(version, is_43):
    """The harness pins 4.3.24 / 4.4.22 / 4.5.15 / 4.6.5: every 4.3.x has the password grant, and each
    reports its own version (instance v1/v2, tootctl version)."""
    from standin import serializers
    cfg = config.load({"LOCAL_DOMAIN": "localhost", "STANDIN_VERSION": version})
    assert cfg.is_43 is is_43 and cfg.password_grant is is_43
    assert serializers.instance_v2(cfg, "none", 0)["version"] == f"{version}+standin"
    assert serializers.instance_v1(cfg, "none", 0)["version"] == f"{version}+standin"


def test_a_version_that_is_not_one_is_refused():
    with pytest.raises(ValueError):
        config.load({"STANDIN_VERSION": "latest"})


def test_disclaimer_in_instance_description():
    from standin import serializers
    cfg = config.load({"LOCAL_DOMAIN": "localhost"})
    v2 = serializers.instance_v2(cfg, "none", 0)
    assert "not Mastodon" in v2["description"] and v2["version"] == "4.6.5+standin"
    assert v2["registrations"]["enabled"] is False
    v1 = serializers.instance_v1(cfg, "open", 3)
    assert v1["registrations"] is True and v1["stats"]["user_count"] == 3


def test_email_allowlist_parsing():
    cfg = config.load({"EMAIL_DOMAIN_ALLOWLIST": "example.test|sandbox.test"})
    assert cfg.email_allowlist == ("example.test", "sandbox.test")


def test_an_owners_role_carries_every_permission_of_its_release():
    # UserRole::Flags::ALL (app/models/user_role.rb): bits 0-22 on v4.6.5, 0-19 on v4.3.23; the Owner role
    # has the administrator bit, and REST::RoleSerializer shows its computed permissions.
    owner = {"id": 3, "name": "Owner", "permissions": 1, "color": "", "highlighted": True}
    assert serializers.role_json(owner, (4, 6, 5))["permissions"] == str(2 ** 23 - 1) == "8388607"
    assert serializers.role_json(owner, (4, 3, 24))["permissions"] == str(2 ** 20 - 1)
    assert "collection_limit" not in serializers.role_json(owner, (4, 3, 24))  # 4.3.23's role_serializer.rb
    assert serializers.role_json(None, (4, 6, 5))["permissions"] == "65536"  # the everyone role, as recorded


def test_database_and_redis_passwords_come_from_mastodons_variables():
    """DB_PASS (config/database.yml) and REDIS_PASSWORD (lib/mastodon/redis_configuration.rb); the Redis URL
    is logged with the password REDACTED, as Sidekiq::RedisConnection#scrub does."""
    from standin import db

    cfg = config.load({"DB_PASS": "pw1", "REDIS_PASSWORD": "pw2", "REDIS_HOST": "redis"})
    assert db.conninfo(cfg)["password"] == "pw1" and cfg.redis_password == "pw2"
    assert cfg.redis_url == "redis://:REDACTED@redis:6379/0" and "pw2" not in cfg.redis_url
    bare = config.load({"DB_PASS": "", "REDIS_HOST": "redis"})
    assert "password" not in db.conninfo(bare) and bare.redis_password is None
    assert bare.redis_url == "redis://redis:6379/0"
