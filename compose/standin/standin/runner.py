"""`bin/rails runner CODE`: the stand-in cannot run Ruby. It recognises the scripts mastodon-sandbox ships by
their first line, `# sandbox-script: <name>`, and runs a native implementation of the same JSON contract."""
from __future__ import annotations

import json
import os
import sys
from typing import Callable

from . import accounts, config, oauth
from .db import connect

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


def bulk_accounts(cfg: config.Config, conn, doc: dict, log: Callable[[str], None] = print) -> dict:
    """Contract: find or create the app by name; for each account reuse the local one (password untouched) or
    create it like `tootctl accounts create --confirmed --approve`; then find or create a non-revoked token for
    (app, user) with the app's scopes (Doorkeeper reuse)."""
    a = doc.get("app") or {}
    name = a.get("name") or "sandbox-pool"
    scopes = a.get("scopes") or "read"
    # Doorkeeper::Application.find_by(name:, scopes:) as the shipped Ruby script does
    app = conn.execute("SELECT * FROM oauth_applications WHERE name = %s AND scopes = %s ORDER BY id LIMIT 1",
                       (name, scopes)).fetchone()
    if app is None:
        bad = [s for s in oauth.split_scopes(scopes) if s not in oauth.ALL_SCOPES]
        if bad:
            raise accounts.ValidationFailed([("scopes", "invalid")])
        app = oauth.create_app(conn, name, a.get("redirect_uri") or oauth.OOB, scopes)
        log(f"created app {name} (id {app['id']})")
    password = doc.get("password")
    domain = doc.get("email_domain") or "example.test"
    out_accounts = []
    shared_digest: str | None = None  # one bcrypt for the whole pool: every pool account shares the password
    for spec in doc.get("accounts") or []:
        username = spec["username"]
        email = spec.get("email") or f"{username}@{domain}"
        existing = accounts.find_local(conn, username)
        if existing is not None and existing["user_id"] is not None:
            account_id, user_id, created = existing["id"], existing["user_id"], False
            row = conn.execute("SELECT email FROM users WHERE id = %s", (user_id,)).fetchone()
            email = row["email"]
        else:
            role_id = None
            if spec.get("role"):
                role = accounts.role_by_name(conn, spec["role"])
                if role is None:
                    raise LookupError("Cannot find user role with that name")
                role_id = role["id"]
            made = accounts.create_local(cfg, conn, username, email, password=password, confirmed=True,
                                         approve=True, role_id=role_id, password_digest=shared_digest)
            shared_digest = shared_digest or made.user["encrypted_password"]
            account_id, user_id, created = made.account["id"], made.user["id"], True
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
    except accounts.ValidationFailed as e:
        from .tootctl import format_errors
        sys.stderr.write(f"{name}: validation failed (ActiveRecord::RecordInvalid)\n{format_errors(e.errors)}\n")
        return 1
    except LookupError as e:
        sys.stderr.write(f"{name}: {e}\n")
        return 1
    print("SANDBOX-JSON " + json.dumps(result), flush=True)
    return 0
