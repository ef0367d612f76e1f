"""`bin/rails runner CODE`: the stand-in cannot run Ruby. It recognises the scripts mastodon-sandbox ships by
their first line, `# sandbox-script: <name>`, and runs a native implementation of the same JSON contract."""
from __future__ import annotations

import json
import os
import sys
from typing import Callable

from . import accounts, config, oauth
from .db import connect

# Where the stand-in says the exception was raised; Ruby names a file, line and method there.
RUNNER_LOCATION = "bin/rails runner (stand-in):1:in `<main>'"

REFUSAL = ("stand-in: bin/rails runner only runs the scripts mastodon-sandbox ships (bulk_accounts, "
           "tootctl_batch); this one is not one of them")


def script_name(code: str) -> str | None:
    for line in code.splitlines():
        if not line.strip():
            continue
        s = line.strip()
        if s.startswith("# sandbox-script:"):
            return s.split(":", 1)[1].strip() or None
        return None
    return None


class RubyError(Exception):
    """An exception the shipped Ruby script would raise and not rescue: `bin/rails runner` prints it as Ruby
    prints an uncaught exception (`LOCATION: MESSAGE (CLASS)`, backtrace after) and exits 1."""

    def __init__(self, message: str, cls: str = "RuntimeError"):
        super().__init__(message)
        self.cls = cls


def fetch(doc: dict, key: str):
    """Hash#fetch: a missing key raises KeyError with Ruby's wording."""
    if not isinstance(doc, dict) or key not in doc:
        raise RubyError(f'key not found: "{key}"', "KeyError")
    return doc[key]


# config/initializers/devise.rb: config.password_length = 8..72 (Devise's :validatable checks it on save).
PASSWORD_LENGTH = (8, 72)


def password_errors(password) -> list[tuple[str, str]]:
    if not password:
        return [("password", "blank")]
    if len(password) < PASSWORD_LENGTH[0]:
        return [("password", "too_short")]
    if len(password) > PASSWORD_LENGTH[1]:
        return [("password", "too_long")]
    return []


def bulk_accounts(cfg: config.Config, conn, doc: dict, log: Callable[[str], None] = print) -> dict:
    """sandbox/provision/scripts/bulk_accounts.rb step by step: the same keys fetched in the same order (a
    missing one is the script's KeyError), the app found by (name, scopes) or created; each account reused
    (password untouched) or created like `tootctl accounts create --confirmed --approve`, a failed save raised
    as "USERNAME: attribute type, …"; then a non-revoked token for (app, user) with the app's scopes."""
    app_spec = fetch(doc, "app")
    name, scopes = fetch(app_spec, "name"), fetch(app_spec, "scopes")
    # Doorkeeper::Application.find_by(name:, scopes:)
    app = conn.execute("SELECT * FROM oauth_applications WHERE name = %s AND scopes = %s ORDER BY id LIMIT 1",
                       (name, scopes)).fetchone()
    if app is None:
        redirect_uri = fetch(app_spec, "redirect_uri")
        bad = [s for s in oauth.split_scopes(scopes) if s not in oauth.ALL_SCOPES]
        if bad:  # create! with enforce_configured_scopes (config/initializers/doorkeeper.rb); Doorkeeper's
            # en.yml `not_match_configured` gained "those" after 5.7.1 (4.3's) by 5.9.2 (4.6's)
            those = "" if cfg.is_43 else "those "
            raise RubyError(f"Validation failed: Scopes doesn't match {those}configured on the server.",
                            "ActiveRecord::RecordInvalid")
        app = oauth.create_app(conn, name, redirect_uri, scopes)
        log(f"created app {name} (id {app['id']})")
    password = fetch(doc, "password")
    out_accounts = []
    shared_digest: str | None = None  # one bcrypt for the whole pool: every pool account shares the password
    for spec in fetch(doc, "accounts"):
        username = fetch(spec, "username")
        existing = accounts.find_local(conn, username)
        if existing is None:
            role_id = None
            if spec.get("role"):
                role = accounts.role_by_name(conn, spec["role"])
                if role is None:
                    raise RubyError(f"Cannot find user role with that name: {spec['role']}")
                role_id = role["id"]
            email = fetch(spec, "email")
            errors = password_errors(password)
            try:
                made = accounts.create_local(cfg, conn, username, email, password=password, confirmed=True,
                                             approve=True, role_id=role_id, password_digest=shared_digest,
                                             extra_errors=errors)
            except accounts.ValidationFailed as e:
                raise RubyError(f"{username}: " + ", ".join(f"{a} {t}" for a, t in e.errors)) from None
            shared_digest = shared_digest or made.user["encrypted_password"]
            account_id, user_id, created = made.account["id"], made.user["id"], True
            email = made.user["email"]
        elif existing["user_id"] is None:
            raise RubyError(f"{username} has no local user")
        else:
            account_id, user_id, created = existing["id"], existing["user_id"], False
            email = conn.execute("SELECT email FROM users WHERE id = %s", (user_id,)).fetchone()["email"]
        tok = oauth.find_or_create_token(conn, app["id"], user_id, app["scopes"])
        out_accounts.append({"username": username, "email": email, "id": str(account_id), "created": created,
                             "token": tok["token"], "scopes": tok["scopes"]})
    return {"app": {"id": str(app["id"]), "name": app["name"], "client_id": app["uid"],
                    "client_secret": app["secret"], "scopes": app["scopes"]},
            "accounts": out_accounts}


def tootctl_batch(cfg: config.Config, conn, doc: list, log: Callable[[str], None] = print) -> list:
    """Contract of sandbox/provision/scripts/tootctl_batch.rb: each argv runs as `tootctl ARGV` alone would,
    its stdout, stderr and exit status captured apart."""
    import contextlib
    import io

    from . import tootctl

    out = []
    for argv in doc:
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                status = tootctl.main([str(a) for a in argv])
            except SystemExit as e:
                status = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
            except Exception as e:  # noqa: BLE001 - one command's failure, as the shipped script rescues StandardError
                print(f"{type(e).__name__}: {e}", file=sys.stderr)
                status = 1
        out.append({"status": status, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()})
    return out


SCRIPTS = {"bulk_accounts": bulk_accounts, "tootctl_batch": tootctl_batch}


def main(argv: list[str], cfg: config.Config) -> int:
    if not argv:
        sys.stderr.write("Usage: rails runner [options] [<'Some.ruby(code)'> | <filename.rb>]\n")
        return 1
    code = argv[0]
    if os.path.isfile(code) and code.endswith(".rb"):
        code = open(code).read()
    name = script_name(code)
    fn = SCRIPTS.get(name or "")
    if fn is None:
        sys.stderr.write(REFUSAL + "\n")
        return 1
    raw = sys.stdin.read()
    try:
        doc = json.loads(raw) if raw.strip() else {}
    except ValueError as e:
        sys.stderr.write(f"{name}: stdin is not a JSON document: {e}\n")
        return 1
    conn = connect(cfg)
    try:
        result = fn(cfg, conn, doc, log=lambda s: print(s, flush=True))
    except RubyError as e:
        # Ruby's report of an uncaught exception: the raising line first, then the backtrace.
        sys.stderr.write(f"{RUNNER_LOCATION}: {e} ({e.cls})\n")
        return 1
    print("SANDBOX-JSON " + json.dumps(result), flush=True)
    return 0
