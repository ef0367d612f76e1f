"""Mastodon's secrets and the env files the compose stack reads.

Secrets are generated once, when a sandbox is created, in the formats Mastodon's own tasks print,
and never rotated afterwards (`up` re-renders the files from the saved values).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .config import SandboxConfig, compose_dir, group_network
from .state import State, read_env_file, render_env_file, write_private

ALNUM = string.ascii_letters + string.digits
MEDIA_BUCKET = "media"
# The proxy serves the bucket under this path, which shadows no Mastodon route.
MEDIA_PATH = "s3-media"
DB_NAME = "mastodon_production"  # Mastodon's database (what snapshots copy and swap)


def alphanumeric(n: int = 32) -> str:
    """Like Ruby's SecureRandom.alphanumeric, which `bin/rails db:encryption:init` uses (lib/tasks/db.rake)."""
    return "".join(secrets.choice(ALNUM) for _ in range(n))


def vapid_keypair() -> tuple[str, str]:
    """A Web Push (VAPID) key pair as the webpush gem encodes it: url-safe base64 of the raw
    32-byte private scalar and of the uncompressed P-256 public point
    (`rails mastodon:webpush:generate_vapid_key`, lib/tasks/mastodon.rake)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(private).decode(), base64.urlsafe_b64encode(public).decode()


# The shape of each secret generate_secrets makes (what `snapshot import` accepts in a file's secrets).
B64URL = "[A-Za-z0-9_-]"
SECRET_SHAPES = {
    "SECRET_KEY_BASE": "[0-9a-f]{128}",
    "OTP_SECRET": "[0-9a-f]{128}",  # only sandboxes made for 4.3 have it
    "ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY": "[A-Za-z0-9]{32}",
    "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT": "[A-Za-z0-9]{32}",
    "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY": "[A-Za-z0-9]{32}",
    "VAPID_PRIVATE_KEY": B64URL + "{43}=",  # url-safe base64 of 32 bytes
    "VAPID_PUBLIC_KEY": B64URL + "{87}=",  # of the 65-byte uncompressed point
    "S3_ACCESS_KEY": "sandbox-[a-z0-9]{12}",
    "S3_SECRET_KEY": "[A-Za-z0-9]{40}",
    "DB_PASS": "[A-Za-z0-9]{32}",
    "REDIS_PASSWORD": "[A-Za-z0-9]{32}",
}
# DB_PASS and REDIS_PASSWORD: exports made before the back-ends had passwords lack them (`up` makes them).
OPTIONAL_SECRETS = ("OTP_SECRET", "DB_PASS", "REDIS_PASSWORD")


def generate_secrets(config: SandboxConfig) -> dict[str, str]:
    """Every secret a new sandbox needs."""
    vapid_private, vapid_public = vapid_keypair()
    out = {
        # `rails secret` and the setup wizard give 128 hex characters.
        "SECRET_KEY_BASE": secrets.token_hex(64),
        # Mandatory since 4.3.0: every Rails process aborts at boot without them
        # (config/initializers/active_record_encryption.rb).
        "ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY": alphanumeric(),
        "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT": alphanumeric(),
        "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY": alphanumeric(),
        "VAPID_PRIVATE_KEY": vapid_private,
        "VAPID_PUBLIC_KEY": vapid_public,
        "S3_ACCESS_KEY": "sandbox-" + alphanumeric(12).lower(),
        "S3_SECRET_KEY": alphanumeric(40),
        # The superuser's password (PostgreSQL answers other containers and the host only with it) and
        # Redis' requirepass. Alphanumeric: they go into Mastodon's redis:// URL and a config line unescaped.
        "DB_PASS": alphanumeric(),
        "REDIS_PASSWORD": alphanumeric(),
    }
    if config.release.needs_otp_secret:
        # Only 4.3 reads OTP_SECRET (removed in 4.4.0, #34743).
        out["OTP_SECRET"] = secrets.token_hex(64)
    return out


def s3_settings(config: SandboxConfig, sec: dict[str, str]) -> dict[str, str]:
    if config.s3 == "local":
        # Media on a volume under public/system, served by Puma (RAILS_SERVE_STATIC_FILES).
        return {"S3_ENABLED": "false"}
    # config/initializers/paperclip.rb: S3_ENDPOINT makes path-style addressing the default, and
    # S3_ALIAS_HOST makes media URLs https://<alias>/<path>; the proxy maps /s3-media/ to the bucket.
    return {
        "S3_ENABLED": "true",
        "S3_ENDPOINT": "http://s3:9000",
        "S3_REGION": "us-east-1",
        "S3_BUCKET": MEDIA_BUCKET,
        "S3_PROTOCOL": "https",
        "S3_HOSTNAME": config.domain,
        "S3_ALIAS_HOST": f"{config.domain}/{MEDIA_PATH}",
        "AWS_ACCESS_KEY_ID": sec["S3_ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": sec["S3_SECRET_KEY"],
    }


# Outbound requests to the compose network (link previews, media) are otherwise refused as private addresses
# (app/lib/request.rb). A federation group's member may reach its group's network and nothing else private.
PRIVATE_NETWORKS = "172.16.0.0/12,192.168.0.0/16"


def mastodon_env(config: SandboxConfig, sec: dict[str, str], group_subnet: str | None = None) -> dict[str, str]:
    """The environment of web, streaming and Sidekiq (one file, so their secrets always agree)."""
    env = {
        "LOCAL_DOMAIN": config.domain,
        "SECRET_KEY_BASE": sec["SECRET_KEY_BASE"],
        "ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY": sec["ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY"],
        "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT": sec["ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT"],
        "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY": sec["ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY"],
        "VAPID_PRIVATE_KEY": sec["VAPID_PRIVATE_KEY"],
        "VAPID_PUBLIC_KEY": sec["VAPID_PUBLIC_KEY"],
        "DB_HOST": "db",
        "DB_PORT": "5432",
        "DB_NAME": DB_NAME,
        "DB_USER": "postgres",
        # config/database.yml (DB_PASS) and streaming/database.js; Mastodon::RedisConfiguration
        # (lib/mastodon/redis_configuration.rb: REDIS_PASSWORD, which the Sidekiq and cache configs fall
        # back to) and streaming/redis.js — the same in v4.3.23 and v4.6.5.
        "DB_PASS": sec["DB_PASS"],
        "REDIS_HOST": "redis",
        "REDIS_PORT": "6379",
        "REDIS_PASSWORD": sec["REDIS_PASSWORD"],
        "ES_ENABLED": "false",
        # Account creation checks the e-mail domain's DNS unless it is allowlisted
        # (app/validators/email_mx_validator.rb, config/initializers/email_domains_lists.rb).
        "EMAIL_DOMAIN_ALLOWLIST": config.email_domain,
        # ActionMailer file delivery: Sidekiq writes mail to tmp/mails (`mastodon-sandbox mail`).
        "SMTP_DELIVERY_METHOD": "file",
        "SMTP_FROM_ADDRESS": f"notifications@{config.email_domain}",
        "ALLOWED_PRIVATE_ADDRESSES": group_subnet or PRIVATE_NETWORKS,
        "DISABLE_AUTOMATIC_SWITCHING_TO_APPROVED_REGISTRATIONS": "true",
        "RAILS_LOG_LEVEL": "warn",
    }
    if "OTP_SECRET" in sec:
        env["OTP_SECRET"] = sec["OTP_SECRET"]
    env.update(s3_settings(config, sec))
    return env


def s3_env(sec: dict[str, str]) -> dict[str, str]:
    """Credentials of the S3 server itself (MinIO's root user; SeaweedFS's identity)."""
    return {
        "MINIO_ROOT_USER": sec["S3_ACCESS_KEY"],
        "MINIO_ROOT_PASSWORD": sec["S3_SECRET_KEY"],
        "S3_BUCKET": MEDIA_BUCKET,
    }


def db_env(sec: dict[str, str]) -> dict[str, str]:
    """The database container's: the superuser's password, which both PostgreSQL images set when they
    initialise a cluster (and then ask of every client not on the container's own socket: scram-sha-256)."""
    return {"POSTGRES_PASSWORD": sec["DB_PASS"]}


def redis_env(sec: dict[str, str]) -> dict[str, str]:
    """The Redis container's: the password its command hands redis-server on stdin (compose/base.yml), and
    the same for redis-cli (REDISCLI_AUTH), so the health check and the harness's commands authenticate."""
    return {"REDIS_PASSWORD": sec["REDIS_PASSWORD"], "REDISCLI_AUTH": sec["REDIS_PASSWORD"]}


# compose/proxy/, mounted into the proxy and the fault layer (base.yml)
PROXY_CONFS = ("sandbox.conf", "federation-log.conf", "faultd.py")


def proxy_conf_digest() -> str:
    """nginx reads its configuration once, from mounted files: a changed file must recreate the proxy."""
    h = hashlib.sha256()
    for conf in PROXY_CONFS:
        h.update((compose_dir() / "proxy" / conf).read_bytes())
    return h.hexdigest()[:16]


def compose_env(config: SandboxConfig, state: State, images: dict[str, str]) -> dict[str, str]:
    """Variables the compose files interpolate: images, address, port, paths. No secrets."""
    group = {"SANDBOX_GROUP_NETWORK": group_network(config.group)} if config.group else {}
    return {
        "SANDBOX_STATE": str(state.dir),
        "SANDBOX_ADDRESS": config.address,
        "SANDBOX_PORT": str(config.port),
        "SANDBOX_HOST": config.host,
        "PROXY_CONF_DIGEST": proxy_conf_digest(),
        **group,
        "STANDIN_VERSION": config.release.version,
        "WEB_CONCURRENCY": str(config.web_concurrency),
        "MAX_THREADS": str(config.max_threads),
        **images,
    }


DB_ENV_FILE = "db.env"
REDIS_ENV_FILE = "redis.env"


def load_or_create_secrets(config: SandboxConfig, state: State) -> dict[str, str]:
    """The sandbox's secrets: read from the state folder, generated only where missing."""
    path = state.secrets_file
    saved = read_env_file(path)
    fresh = generate_secrets(config)
    missing = {k: v for k, v in fresh.items() if k not in saved}
    if missing:
        saved.update(missing)
        write_private(path, render_env_file(saved, header="mastodon-sandbox secrets: generated once, never rotated"))
    return saved


# The env files the compose files read, all written by `up` (write_env_files).
ENV_FILES = ("mastodon.env", "s3.env", DB_ENV_FILE, REDIS_ENV_FILE, "compose.env")


def write_env_files(config: SandboxConfig, state: State, images: dict[str, str], group_subnet: str | None = None) -> None:
    sec = load_or_create_secrets(config, state)
    contents = (render_env_file(mastodon_env(config, sec, group_subnet), header="Mastodon environment (generated by mastodon-sandbox)"),
                render_env_file(s3_env(sec)), render_env_file(db_env(sec)), render_env_file(redis_env(sec)),
                render_env_file(compose_env(config, state, images)))
    for name, text in zip(ENV_FILES, contents):
        write_private(state.dir / name, text)
    state.faults_dir.mkdir(mode=0o700, exist_ok=True)


def missing_env_files(state: State) -> list[str]:
    """The env files a sandbox lacks: one made by an earlier version gets the newer ones from its next `up`."""
    return [name for name in ENV_FILES if not (state.dir / name).exists()]
