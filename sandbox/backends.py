"""PostgreSQL's password on a sandbox made before the back-ends had passwords.

The host reaches every container's own address, so PostgreSQL and Redis must not answer without a
password. A new sandbox gets them from its secrets (DB_PASS, REDIS_PASSWORD in secrets.env, written to
db.env, redis.env and mastodon.env): the database image initialises its cluster with POSTGRES_PASSWORD
and scram-sha-256 for every network client, and Redis starts with requirepass (compose/base.yml).

A sandbox made before that has a cluster initialised with `host all all all trust` and a superuser with no
password. Redis needs nothing done: its configuration changed, so compose recreates it with the password,
and its data stays in its volume. The cluster is brought over once by `require_db_password`, which
`lifecycle.start` calls when every service is healthy: the superuser's password set (as a SCRAM verifier made
here, so the password itself reaches neither a command line nor PostgreSQL's log), then the catch-all line
moved to scram-sha-256 and the configuration reloaded. Connections already open stay; Mastodon's next ones
send DB_PASS, which trust ignored until then. The data is untouched. What was done is recorded in
applied.json under the password's digest, so a later `up` reads one file and runs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from pathlib import Path

from . import server_commands
from .errors import SandboxError, command_failed
from .handle import Sandbox
from .progress import Progress
from .state import read_env_file
from .stores import Postgres

RECORD_KEY = "db_password"
SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations), as psql's \password makes it

# Network rules that let a client in without a password, but the container's own loopback (the images'
# initdb writes those; only processes in the container reach them).
TRUSTING_RULES = ("SELECT 'trusting:' || line_number || ':' || type || ':' || coalesce(address, '') "
                  "FROM pg_hba_file_rules WHERE type <> 'local' AND auth_method = 'trust' "
                  "AND coalesce(address, '') NOT IN ('127.0.0.1', '::1')")
SUPERUSER_PASSWORD = "SELECT 'password:' || coalesce(rolpassword, '') FROM pg_authid WHERE rolname = 'postgres'"


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """What PostgreSQL stores for a password under scram-sha-256 (RFC 5802/7677; src/common/scram-common.c):
    `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. ALTER ROLE ... PASSWORD takes it as it is."""
    salt = secrets.token_bytes(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def verifier_matches(stored: str, password: str) -> bool:
    """Whether a stored SCRAM verifier is the one `password` makes (with its own salt and iterations)."""
    found = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)", stored)
    if found is None:
        return False
    iterations, salt = int(found.group(1)), base64.b64decode(found.group(2))
    return hmac.compare_digest(scram_verifier(password, salt, iterations), stored)


def record_mark(password: str) -> str:
    """What applied.json keeps: a digest of the password it was done for (another password: done again)."""
    return hashlib.sha256(f"mastodon-sandbox db password:{password}".encode()).hexdigest()[:16]


def require_db_password(sandbox: Sandbox, record: Path, progress: Progress) -> None:
    """PostgreSQL asks every network client for DB_PASS: the superuser's password set to it and no network
    rule trusting clients, whatever the cluster was made with. Once per password (recorded in `record`)."""
    password = read_env_file(sandbox.state.secrets_file).get("DB_PASS")
    if not password:
        raise SandboxError(f"{sandbox.state.secrets_file} holds no DB_PASS: run `mastodon-sandbox up` again")
    applied = sandbox.state.read_json(record, default={}) or {}
    if applied.get(RECORD_KEY) == record_mark(password):
        return
    container = sandbox.stack.containers().get("db")
    if container is None:
        raise SandboxError(f"the database of {sandbox.name!r} is not running: see `mastodon-sandbox logs db`")
    db = Postgres(container)
    done = []
    stored = re.search(r"password:(\S*)", db.sql(SUPERUSER_PASSWORD))
    if stored is None or not verifier_matches(stored.group(1), password):
        service, argv = server_commands.psql_script()
        proc = sandbox.stack.exec(service, argv, input=f"ALTER ROLE postgres PASSWORD '{scram_verifier(password)}';\n")
        if proc.returncode != 0:
            raise command_failed("could not set the database's password", proc.returncode, proc.stdout, proc.stderr)
        done.append("the superuser's password set from secrets.env")
    if _trusting(db):
        proc = sandbox.stack.exec(*server_commands.pg_hba_method("trust", "scram-sha-256"))
        if proc.returncode != 0 or "reloaded:t" not in proc.stdout:
            raise command_failed("could not change the database's pg_hba.conf", proc.returncode, proc.stdout, proc.stderr)
        left = _trusting(db)
        if left:
            raise SandboxError(f"the database's pg_hba.conf still trusts network clients ({left[0]}): "
                               "remove that line, or the sandbox with `mastodon-sandbox destroy`")
        done.append("pg_hba.conf's network line moved from trust to scram-sha-256")
    if done:
        progress.step(f"the database now asks network clients for a password: {'; '.join(done)}")
    sandbox.state.write_json(record, {**applied, RECORD_KEY: record_mark(password)})


def _trusting(db: Postgres) -> list[str]:
    """pg_hba.conf's rules (as on disk) that let a network client in without a password."""
    return re.findall(r"trusting:(\S+)", db.sql(TRUSTING_RULES))
