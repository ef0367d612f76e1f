import base64
import re
import stat

from cryptography.hazmat.primitives.asymmetric import ec

from mastodon_sandbox.config import SandboxConfig
from mastodon_sandbox.environment import (
    generate_secrets,
    load_or_create_secrets,
    mastodon_env,
    write_env_files,
)
from mastodon_sandbox.images import images_for
from mastodon_sandbox.state import State, read_env_file


def test_secrets_have_the_formats_mastodons_own_tasks_print():
    sec = generate_secrets(SandboxConfig())
    assert re.fullmatch(r"[0-9a-f]{128}", sec["SECRET_KEY_BASE"])
    for key in ("DETERMINISTIC_KEY", "KEY_DERIVATION_SALT", "PRIMARY_KEY"):
        assert re.fullmatch(r"[A-Za-z0-9]{32}", sec[f"ACTIVE_RECORD_ENCRYPTION_{key}"])
    assert "OTP_SECRET" not in sec


def test_vapid_pair_is_a_matching_p256_pair_in_webpush_encoding():
    sec = generate_secrets(SandboxConfig())
    private = base64.urlsafe_b64decode(sec["VAPID_PRIVATE_KEY"])
    public = base64.urlsafe_b64decode(sec["VAPID_PUBLIC_KEY"])
    assert len(private) == 32 and len(public) == 65 and public[0] == 4
    derived = ec.derive_private_key(int.from_bytes(private, "big"), ec.SECP256R1()).public_key().public_numbers()
    assert derived.x.to_bytes(32, "big") + derived.y.to_bytes(32, "big") == public[1:]


def test_otp_secret_only_for_43():
    assert re.fullmatch(r"[0-9a-f]{128}", generate_secrets(SandboxConfig(version="4.3"))["OTP_SECRET"])
    assert "OTP_SECRET" in mastodon_env(SandboxConfig(version="4.3"), generate_secrets(SandboxConfig(version="4.3")))


def test_env_files_are_private_unquoted_and_secrets_never_rotate(tmp_path):
    config = SandboxConfig(port=8443, email_domain="sandbox.test")
    state = State("t", root=tmp_path)
    write_env_files(config, state, images_for(config))
    first = read_env_file(state.mastodon_env)
    write_env_files(config, state, images_for(config))
    assert read_env_file(state.mastodon_env) == first
    assert load_or_create_secrets(config, state)["SECRET_KEY_BASE"] == first["SECRET_KEY_BASE"]
    for f in (state.mastodon_env, state.compose_env, state.dir / "s3.env", state.dir / "secrets.env"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert not any(v.startswith(('"', "'")) for v in read_env_file(f).values())
    assert first["LOCAL_DOMAIN"] == "localhost:8443"
    assert first["EMAIL_DOMAIN_ALLOWLIST"] == "sandbox.test" and first["ES_ENABLED"] == "false"
    assert first["S3_ALIAS_HOST"] == "localhost:8443/s3-media"
    # compose.env is interpolated into compose files and shown by `docker compose config`: no secrets.
    compose = state.compose_env.read_text()
    assert first["SECRET_KEY_BASE"] not in compose and first["AWS_SECRET_ACCESS_KEY"] not in compose


def test_local_media_turns_s3_off():
    env = mastodon_env(SandboxConfig(s3="local"), generate_secrets(SandboxConfig()))
    assert env["S3_ENABLED"] == "false" and "S3_ENDPOINT" not in env


def test_every_generated_secret_has_the_shape_an_import_accepts():
    import re

    from mastodon_sandbox.environment import SECRET_SHAPES, generate_secrets

    for version in ("4.3", "4.6"):
        made = generate_secrets(SandboxConfig(version=version))
        assert set(made) <= set(SECRET_SHAPES)
        assert all(re.fullmatch(SECRET_SHAPES[k], v) for k, v in made.items()), made
