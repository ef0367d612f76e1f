"""Environment contract (same variable names as Mastodon) and boot checks."""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

BANNER = ("mastodon-sandbox stand-in {version}: this is NOT Mastodon. It is offline test equipment that imitates "
          "Mastodon v{upstream} on the surfaces the sandbox harness uses.")
DISCLAIMER = "This server is the mastodon-sandbox offline stand-in, not Mastodon."

# config/initializers/active_record_encryption.rb: every Rails process aborts when one of these is blank.
AR_KEYS = ("ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY", "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT",
           "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY")
AR_MESSAGE = """Mastodon now requires that these variables are set:

  - ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY
  - ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT
  - ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY

Run `bin/rails db:encryption:init` to generate new secrets and then assign the environment variables.
"""


@dataclass(frozen=True)
class Config:
    local_domain: str
    upstream_version: str
    db: dict
    redis_host: str
    redis_port: int
    redis_db: int
    secret_key_base: str
    email_allowlist: tuple[str, ...]
    smtp_delivery_method: str
    smtp_from: str
    trusted_proxies: tuple[str, ...] | None
    root: str = "/opt/mastodon"
    redis_password: str | None = None
    web_domain: str = ""
    alternate_domains: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        """config/initializers/1_hosts.rb: config.hosts gets LOCAL_DOMAIN, WEB_DOMAIN and ALTERNATE_DOMAINS."""
        return (self.local_domain, self.web_domain or self.local_domain, *self.alternate_domains)

    @property
    def redis_url(self) -> str:
        """The Redis URL as Sidekiq logs it: a password shown as REDACTED (Sidekiq::RedisConnection#scrub)."""
        auth = ":REDACTED@" if self.redis_password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/{self.redis_db}"

    @property
    def version(self) -> str:
        return f"{self.upstream_version}+standin"

    @property
    def release(self) -> tuple[int, ...]:
        """The pinned release as numbers: (4, 3, 24) for 4.3.24 (the harness pins 4.3.24, 4.4.22, 4.5.15, 4.6.5)."""
        return parse_version(self.upstream_version)

    @property
    def is_43(self) -> bool:
        # Every 4.3.x release (4.3.9, 4.3.24, ...) behaves as 4.3 on the surfaces the stand-in imitates.
        return self.release[:2] == (4, 3)

    @property
    def password_grant(self) -> bool:
        # "Remove OAuth Password Grant Type support (#30960)" shipped in 4.4.0.
        return self.is_43

    @property
    def base_url(self) -> str:
        # config/initializers/1_hosts.rb: https in production, LOCAL_HTTPS ignored.
        return f"https://{self.local_domain}"

    @property
    def streaming_url(self) -> str:
        return f"wss://{self.local_domain}"

    @property
    def host_only(self) -> str:
        return self.local_domain.split(":")[0]

    @property
    def tmp_dir(self) -> str:
        return os.path.join(self.root, "tmp")


def parse_version(v: str) -> tuple[int, ...]:
    """'4.3.24' -> (4, 3, 24); a leading 'v' and a suffix ('-beta1', '+x') are ignored."""
    import re
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", v or "")
    if not m:
        raise ValueError(f"STANDIN_VERSION must look like 4.6.5, not {v!r}")
    return tuple(int(p) for p in m.group(1).split("."))


def load(env: dict | None = None) -> Config:
    e = os.environ if env is None else env
    allow = e.get("EMAIL_DOMAIN_ALLOWLIST", "")
    tp = e.get("TRUSTED_PROXY_IP", "").replace(",", " ").split()
    version = (e.get("STANDIN_VERSION") or "4.6.5").strip().lstrip("v") or "4.6.5"
    parse_version(version)  # refuse a STANDIN_VERSION that is not a release number at boot
    return Config(
        local_domain=e.get("LOCAL_DOMAIN") or f"localhost:{e.get('PORT', '3000')}",
        upstream_version=version,
        db={"host": e.get("DB_HOST", "localhost"), "port": int(e.get("DB_PORT") or 5432),
            "user": e.get("DB_USER", "mastodon"), "password": e.get("DB_PASS", ""),
            "dbname": e.get("DB_NAME", "mastodon_production")},
        redis_host=e.get("REDIS_HOST", "localhost"), redis_port=int(e.get("REDIS_PORT") or 6379),
        redis_db=int(e.get("REDIS_DB") or 0),
        # lib/mastodon/redis_configuration.rb: REDIS_PASSWORD goes into the redis:// URL when present.
        redis_password=e.get("REDIS_PASSWORD") or None,
        secret_key_base=e.get("SECRET_KEY_BASE", ""),
        # config/initializers/email_domains_lists.rb: the allowlist is split on '|'.
        email_allowlist=tuple(d.strip().lower() for d in allow.replace(",", "|").split("|") if d.strip()),
        smtp_delivery_method=e.get("SMTP_DELIVERY_METHOD", "smtp"),
        smtp_from=e.get("SMTP_FROM_ADDRESS", "notifications@localhost"),
        trusted_proxies=tuple(tp) if tp else None,
        root=e.get("STANDIN_ROOT", "/opt/mastodon"),
        web_domain=e.get("WEB_DOMAIN", ""),
        # config/initializers/1_hosts.rb: ALTERNATE_DOMAINS.split(/\s*,\s*/)
        alternate_domains=tuple(d for d in re.split(r"\s*,\s*", e.get("ALTERNATE_DOMAINS", "")) if d),
    )


def boot_check(cfg: Config, env: dict | None = None) -> None:
    """Abort like a Rails process of Mastodon would on missing secrets."""
    e = os.environ if env is None else env
    if "REDIS_NAMESPACE" in e:
        # config/initializers/deprecations.rb
        sys.stderr.write("ERROR: the REDIS_NAMESPACE environment variable is no longer supported, "
                         "and a migration is required.\n")
        sys.exit(1)
    if any(not e.get(k) for k in AR_KEYS):
        sys.stderr.write(AR_MESSAGE)
        sys.exit(1)
    if not cfg.secret_key_base:
        sys.stderr.write("Missing `secret_key_base` for 'production' environment, set this string with "
                         "`bin/rails credentials:edit` (ArgumentError)\n")
        sys.exit(1)


def banner(cfg: Config, what: str) -> str:
    return f"[{what}] " + BANNER.format(version=cfg.version, upstream=cfg.upstream_version)
