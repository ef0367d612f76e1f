"""PostgreSQL access (psycopg 3) and `rails db:prepare`: create the database, load the schema, seed."""
from __future__ import annotations

import os
import threading
import time
from typing import Any

from .config import Config

SCHEMA_VERSION = "20260611150940"  # db/schema.rb of v4.6.5
SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "schema.sql")

# UserRole::FLAGS (app/models/user_role.rb): v4.3.23 has bits 0-19; v4.6.5 adds view_feeds (20, from 4.5),
# invite_bypass_approval (21) and manage_email_subscriptions (22).
FLAGS = {
    "administrator": 1 << 0, "view_devops": 1 << 1, "view_audit_log": 1 << 2, "view_dashboard": 1 << 3,
    "manage_reports": 1 << 4, "manage_federation": 1 << 5, "manage_settings": 1 << 6, "manage_blocks": 1 << 7,
    "manage_taxonomies": 1 << 8, "manage_appeals": 1 << 9, "manage_users": 1 << 10, "manage_invites": 1 << 11,
    "manage_rules": 1 << 12, "manage_announcements": 1 << 13, "manage_custom_emojis": 1 << 14,
    "manage_webhooks": 1 << 15, "invite_users": 1 << 16, "manage_roles": 1 << 17, "manage_user_access": 1 << 18,
    "delete_user_data": 1 << 19, "view_feeds": 1 << 20, "invite_bypass_approval": 1 << 21,
    "manage_email_subscriptions": 1 << 22,
}
# The first release each later flag is known in: v4.6.5 has them, v4.3.23 has none (the 4.4/4.5 sources were
# not at hand; view_feeds is 4.5's).
FLAG_SINCE = {"view_feeds": (4, 5), "invite_bypass_approval": (4, 6), "manage_email_subscriptions": (4, 6)}
EVERYONE_PERMISSIONS = FLAGS["invite_users"]  # UserRole::Flags::DEFAULT


def all_permissions(release: tuple[int, ...]) -> int:
    """UserRole::Flags::ALL of that release: 8388607 on v4.6.5, 1048575 on v4.3.23."""
    out = 0
    for name, bit in FLAGS.items():
        if release[:2] >= FLAG_SINCE.get(name, (0, 0)):
            out |= bit
    return out

# config/roles.yml
ROLES = [
    ("Moderator", 10, ["invite_users", "view_dashboard", "view_audit_log", "view_feeds", "manage_users",
                       "manage_reports", "manage_taxonomies"]),
    ("Admin", 100, ["invite_users", "view_dashboard", "view_audit_log", "view_feeds", "manage_users",
                    "manage_user_access", "delete_user_data", "manage_reports", "manage_taxonomies",
                    "manage_federation", "manage_settings", "manage_blocks", "manage_appeals", "manage_rules",
                    "manage_invites", "manage_announcements", "manage_custom_emojis", "manage_webhooks",
                    "manage_roles"]),
    ("Owner", 1000, ["administrator"]),
]


def conninfo(cfg: Config, dbname: str | None = None) -> dict:
    d = dict(cfg.db)
    if dbname:
        d["dbname"] = dbname
    if not d.get("password"):
        d.pop("password", None)
    return d


def connect(cfg: Config, dbname: str | None = None):
    import psycopg
    from psycopg.rows import dict_row
    # client_encoding: a database created as SQL_ASCII (initdb without a locale) would otherwise hand back bytes.
    return psycopg.connect(**conninfo(cfg, dbname), autocommit=True, row_factory=dict_row, connect_timeout=10,
                           client_encoding="utf8")


_local = threading.local()


def verify_after(cfg: Config) -> float:
    """How long Rails trusts a connection used that recently without checking it: activerecord 8.1.3 (Mastodon
    4.6.5) 2 s, `verify_timeout` in abstract_adapter.rb; activerecord 7.1.6 (4.3) checks every one it hands out."""
    return 0.0 if cfg.release < (4, 4) else 2.0


def thread_conn(cfg: Config):
    """One connection per worker thread (the web server runs DB work in a thread pool). One left unused longer than
    Rails would trust it is checked first, and replaced when the server ended it (a snapshot's copy or swap
    ends every connection), as Rails reconnects."""
    conn = getattr(_local, "conn", None)
    if conn is not None and not (conn.closed or conn.broken) and time.monotonic() - getattr(_local, "used", 0.0) > verify_after(cfg):
        try:
            conn.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure: a new connection, as Rails' verify! does
            forget_thread_conn()
            conn = None
    if conn is None or conn.closed or conn.broken:
        conn = connect(cfg)
        _local.conn = conn
    _local.used = time.monotonic()
    return conn


def forget_thread_conn() -> None:
    conn = getattr(_local, "conn", None)
    _local.conn = None
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


def one(conn, sql: str, params: Any = None) -> dict | None:
    return conn.execute(sql, params).fetchone()


def all_rows(conn, sql: str, params: Any = None) -> list[dict]:
    return conn.execute(sql, params).fetchall()


def get_setting(conn, var: str, default: str | None = None) -> str | None:
    row = one(conn, "SELECT value FROM settings WHERE var = %s", (var,))
    if row is None or row["value"] is None:
        return default
    return _yaml_scalar_load(row["value"])


def set_setting(conn, var: str, value: str) -> None:
    # rails-settings-cached stores YAML-dumped values.
    conn.execute(
        "INSERT INTO settings (var, value, created_at, updated_at) VALUES (%s, %s, now(), now()) "
        "ON CONFLICT (var) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        (var, f"--- {value}\n"))


def _yaml_scalar_load(v: str) -> str:
    v = v.strip()
    return v[4:].strip() if v.startswith("--- ") else v


def prepare(cfg: Config, log=print) -> None:
    """`bin/rails db:prepare`: idempotent create + schema load + seed (Rails >= 7.1 semantics)."""
    from psycopg import sql
    name = cfg.db["dbname"]
    admin = connect(cfg, "postgres")
    exists = one(admin, "SELECT 1 AS x FROM pg_database WHERE datname = %s", (name,))
    if not exists:
        # config/database.yml: encoding unicode
        admin.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
        log(f"Created database '{name}'")
    admin.close()
    conn = connect(cfg)
    has_schema = one(conn, "SELECT to_regclass('public.schema_migrations') AS t")["t"] is not None
    if has_schema and one(conn, "SELECT 1 AS x FROM schema_migrations WHERE version = %s", (SCHEMA_VERSION,)):
        # Same schema already there: apply idempotent upgrades (CREATE ... IF NOT EXISTS) only.
        with conn.transaction():
            conn.execute(open(SCHEMA_FILE).read())
        log(f"Schema is up to date (version {SCHEMA_VERSION}); nothing to migrate")
    else:
        with conn.transaction():
            conn.execute(open(SCHEMA_FILE).read())
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s) ON CONFLICT DO NOTHING",
                         (SCHEMA_VERSION,))
            conn.execute("INSERT INTO ar_internal_metadata (key, value, created_at, updated_at) "
                         "VALUES ('environment', 'production', now(), now()) ON CONFLICT DO NOTHING")
        log(f"Loaded schema (version {SCHEMA_VERSION})")
    seeded = seed(conn)
    log("Seeded: " + (", ".join(seeded) if seeded else "nothing new"))
    conn.close()


def seed(conn) -> list[str]:
    """db/seeds/01_web_app.rb and 03_roles.rb (the everyone role -99 as UserRole.everyone creates it)."""
    done = []
    with conn.transaction():
        if not one(conn, "SELECT 1 AS x FROM oauth_applications WHERE superapp AND name = 'Web'"):
            from .oauth import new_secret
            conn.execute(
                "INSERT INTO oauth_applications (name, uid, secret, redirect_uri, scopes, superapp, "
                "created_at, updated_at) VALUES ('Web', %s, %s, 'urn:ietf:wg:oauth:2.0:oob', "
                "'read write follow push', true, now(), now())", (new_secret(), new_secret()))
            done.append("Web app")
        if not one(conn, "SELECT 1 AS x FROM user_roles WHERE id = -99"):
            conn.execute("INSERT INTO user_roles (id, permissions, position, created_at, updated_at) "
                         "VALUES (-99, %s, -1, now(), now())", (EVERYONE_PERMISSIONS,))
            done.append("everyone role")
        for name, position, perms in ROLES:
            if not one(conn, "SELECT 1 AS x FROM user_roles WHERE name = %s", (name,)):
                bits = 0
                for p in perms:
                    bits |= FLAGS[p]
                conn.execute("INSERT INTO user_roles (name, position, permissions, highlighted, created_at, "
                             "updated_at) VALUES (%s, %s, %s, true, now(), now())", (name, position, bits))
                done.append(f"role {name}")
        if get_setting(conn, "registrations_mode") is None:
            pass  # config/settings.yml default 'none' applies without a row
    return done
