"""The back-ends' passwords: generated once with the other secrets, kept, written only to the env files of
the containers that need them (never compose.env or the compose model), and the migration that gives a
PostgreSQL cluster made before them its password (sandbox/backends.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import stat
import subprocess

import pytest

from mastodon_sandbox import backends, server_commands
from mastodon_sandbox import stores
from mastodon_sandbox.config import SandboxConfig
from mastodon_sandbox.environment import load_or_create_secrets, write_env_files
from mastodon_sandbox.handle import Sandbox
from mastodon_sandbox.images import images_for
from mastodon_sandbox.progress import Progress
from mastodon_sandbox.stack import Stack
from mastodon_sandbox.state import State, read_env_file, render_env_file, write_private

NEW_KEYS = ("DB_PASS", "REDIS_PASSWORD")


@pytest.fixture
def made(tmp_path):
    config = SandboxConfig(name="t", server="standin", s3="seaweedfs", port=8443)
    state = State("t", root=tmp_path)
    write_env_files(config, state, images_for(config))
    return config, state


def test_passwords_are_generated_once_and_kept(made):
    config, state = made
    sec = read_env_file(state.secrets_file)
    assert all(re.fullmatch(r"[A-Za-z0-9]{32}", sec[k]) for k in NEW_KEYS)
    assert sec["DB_PASS"] != sec["REDIS_PASSWORD"]
    write_env_files(config, state, images_for(config))
    assert read_env_file(state.secrets_file) == sec


def test_a_sandbox_made_before_them_gets_them_added_and_keeps_every_other_secret(made):
    config, state = made
    old = {k: v for k, v in read_env_file(state.secrets_file).items() if k not in NEW_KEYS}
    write_private(state.secrets_file, render_env_file(old, header="before"))
    sec = load_or_create_secrets(config, state)
    assert {k: sec[k] for k in old} == old and all(sec[k] for k in NEW_KEYS)
    assert stat.S_IMODE((state.secrets_file).stat().st_mode) == 0o600


def test_each_container_gets_its_password_from_a_private_env_file(made):
    _, state = made
    sec = read_env_file(state.secrets_file)
    mastodon = read_env_file(state.mastodon_env)
    assert mastodon["DB_PASS"] == sec["DB_PASS"] and mastodon["REDIS_PASSWORD"] == sec["REDIS_PASSWORD"]
    assert read_env_file(state.dir / "db.env") == {"POSTGRES_PASSWORD": sec["DB_PASS"]}
    assert read_env_file(state.dir / "redis.env") == {"REDIS_PASSWORD": sec["REDIS_PASSWORD"],
                                                     "REDISCLI_AUTH": sec["REDIS_PASSWORD"]}
    assert "REDIS_PASSWORD" not in read_env_file(state.dir / "s3.env")
    for name in ("db.env", "redis.env", "mastodon.env"):
        assert stat.S_IMODE((state.dir / name).stat().st_mode) == 0o600
    compose = state.compose_env.read_text()
    assert sec["DB_PASS"] not in compose and sec["REDIS_PASSWORD"] not in compose


@pytest.mark.parametrize("server,version,s3", [("official", "4.6", "minio"), ("standin", "4.6", "seaweedfs"),
                                               ("source", "4.3", "seaweedfs")])
def test_the_compose_model_reads_them_from_files_and_never_holds_them(tmp_path, server, version, s3):
    config = SandboxConfig(name="t", server=server, version=version, s3=s3, port=8443,
                           source_dir="/opt/src" if server == "source" else "")
    state = State("t", root=tmp_path)
    write_env_files(config, state, images_for(config))
    sec = read_env_file(state.secrets_file)
    rendered = Stack(config, state).run("config", "--no-env-resolution").stdout
    assert sec["DB_PASS"] not in rendered and sec["REDIS_PASSWORD"] not in rendered
    services = Stack(config, state).config_json()["services"]
    assert "POSTGRES_HOST_AUTH_METHOD" not in services["db"].get("environment", {})
    assert services["db"]["environment"]["POSTGRES_PASSWORD"] == sec["DB_PASS"]  # from db.env
    assert services["redis"]["environment"]["REDISCLI_AUTH"] == sec["REDIS_PASSWORD"]  # from redis.env
    # The password is never on a command line: redis-server reads it on stdin (`-`), from the environment.
    command = " ".join(services["redis"]["command"])
    assert sec["REDIS_PASSWORD"] not in command and "${REDIS_PASSWORD:?" in command and "redis-server" in command
    assert services["web"]["environment"]["REDIS_PASSWORD"] == sec["REDIS_PASSWORD"]


def test_the_redis_command_hands_the_password_on_stdin(tmp_path):
    """The command runs in a shell here as in the container: redis-server (a stand-in printing its argv and
    stdin) gets `requirepass <password>` on stdin and nothing secret in argv."""
    config = SandboxConfig(name="t", server="standin", port=8443)
    state = State("t", root=tmp_path)
    write_env_files(config, state, images_for(config))
    # `compose config` writes `$` as `$$` (its output is a compose file again); the container gets `$`.
    command = [c.replace("$$", "$") for c in Stack(config, state).config_json()["services"]["redis"]["command"]]
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "redis-server").write_text('#!/bin/sh\necho "argv: $*"\necho "stdin: $(cat)"\n')
    (fake / "redis-server").chmod(0o755)
    proc = subprocess.run(command, env={"PATH": f"{fake}:/usr/bin:/bin", "REDIS_PASSWORD": "pw123"},
                          capture_output=True, text=True, check=True)
    assert proc.stdout == "argv: --dir /data --save 60 1 --protected-mode no -\nstdin: requirepass pw123\n"
    missing = subprocess.run(command, env={"PATH": f"{fake}:/usr/bin:/bin"}, capture_output=True, text=True)
    assert missing.returncode != 0 and "redis.env sets no REDIS_PASSWORD" in missing.stderr
    # The official image: its entrypoint (re-run as user redis by gosu, stdin kept) gets the same line.
    (fake / "docker-entrypoint.sh").write_text('#!/bin/sh\necho "entrypoint: $1"\nexec "$@"\n')
    (fake / "docker-entrypoint.sh").chmod(0o755)
    proc = subprocess.run(command, env={"PATH": f"{fake}:/usr/bin:/bin", "REDIS_PASSWORD": "pw123"},
                          capture_output=True, text=True, check=True)
    assert proc.stdout == ("entrypoint: redis-server\nargv: --dir /data --save 60 1 --protected-mode no -\n"
                           "stdin: requirepass pw123\n")


# --- the SCRAM verifier -------------------------------------------------------------------------------

def test_the_verifier_answers_rfc_7677s_exchange():
    """RFC 7677, section 3: user `user`, password `pencil`, this salt and 4096 iterations. The verifier's
    StoredKey and ServerKey must give the exchange's client proof and server signature."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = backends.scram_verifier("pencil", salt, 4096)
    _, keys = verifier.split("$", 1)[1].split("$")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    auth = ("n=user,r=rOprNGfwEbeRWgbNEkqO,"
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0").encode()
    assert base64.b64encode(hmac.new(server_key, auth, "sha256").digest()).decode() == \
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_key = bytes(a ^ b for a, b in zip(proof, hmac.new(stored_key, auth, "sha256").digest()))
    assert hashlib.sha256(client_key).digest() == stored_key
    assert verifier.startswith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")


def test_a_stored_verifier_is_matched_by_its_password_only():
    made = backends.scram_verifier("right")
    assert backends.verifier_matches(made, "right")
    assert not backends.verifier_matches(made, "wrong")
    assert not backends.verifier_matches("", "right") and not backends.verifier_matches("md5abc", "right")
    assert backends.scram_verifier("right") != made  # a fresh salt each time


# --- the migration ------------------------------------------------------------------------------------

class FakeDb:
    """PostgreSQL as `stores.Postgres` asks it (psql -c ... through stack.exec_in), with a pg_hba and a password."""

    def __init__(self, verifier: str = "", trusting: bool = True):
        self.verifier, self.trusting = verifier, trusting
        self.name = "db"

    def run(self, argv):
        sql = " ".join(argv)
        if "pg_authid" in sql:
            out = f" ?column?\n----------\n password:{self.verifier}\n(1 row)\n"
        elif "pg_hba_file_rules" in sql:
            out = " ?column?\n----------\n" + (" trusting:104:host:all\n(1 row)\n" if self.trusting else "(0 rows)\n")
        else:
            raise AssertionError(argv)
        return subprocess.CompletedProcess(argv, 0, out, "")


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    """The stores' commands reach a FakeDb instead of `docker exec`."""
    monkeypatch.setattr(stores, "exec_in", lambda container, argv, **kw: container.run(argv))


class FakeStack:
    def __init__(self, db: FakeDb):
        self.db, self.execs = db, []

    def containers(self):
        return {"db": self.db}

    def exec(self, service, argv, input=None, timeout=None):
        self.execs.append((service, argv, input))
        if argv[-1] == "-":  # psql script
            found = re.search(r"PASSWORD '([^']+)'", input)
            self.db.verifier = found.group(1)
            return subprocess.CompletedProcess(argv, 0, "", "")
        assert argv == server_commands.pg_hba_method("trust", "scram-sha-256")[1]
        self.db.trusting = False
        return subprocess.CompletedProcess(argv, 0, "reloaded:t\n", "")


def _sandbox(made, db: FakeDb) -> Sandbox:
    config, state = made
    return Sandbox(config, state, FakeStack(db))


def test_an_old_cluster_gets_the_password_then_scram_and_it_is_recorded(made, capsys):
    db = FakeDb(verifier="", trusting=True)
    sb = _sandbox(made, db)
    record = sb.state.dir / "applied.json"
    sb.state.write_json(record, {"registrations": "none"})
    backends.require_db_password(sb, record, Progress())
    password = read_env_file(sb.state.secrets_file)["DB_PASS"]
    (s1, argv1, in1), (s2, argv2, in2) = sb.stack.execs
    assert s1 == "db" and argv1 == server_commands.psql_script()[1] and in1.startswith("ALTER ROLE postgres PASSWORD 'SCRAM")
    assert argv2 == server_commands.pg_hba_method("trust", "scram-sha-256")[1] and in2 is None
    assert backends.verifier_matches(db.verifier, password) and not db.trusting
    # the password itself is nowhere: not in an argv, not on stdin (a verifier), not in what was printed
    assert not any(password in " ".join(argv) or password in (stdin or "") for _, argv, stdin in sb.stack.execs)
    assert password not in capsys.readouterr().out + capsys.readouterr().err
    applied = sb.state.read_json(record)
    assert applied["registrations"] == "none" and applied[backends.RECORD_KEY] == backends.record_mark(password)
    assert password not in record.read_text()
    # recorded: a later `up` asks PostgreSQL nothing
    sb.stack.db = None
    backends.require_db_password(Sandbox(sb.config, sb.state, FakeStack(None)), record, Progress())


def test_a_new_cluster_is_only_checked_and_recorded(made):
    password = read_env_file(made[1].secrets_file)["DB_PASS"]
    db = FakeDb(verifier=backends.scram_verifier(password), trusting=False)
    sb = _sandbox(made, db)
    backends.require_db_password(sb, sb.state.dir / "applied.json", Progress())
    assert sb.stack.execs == []
    assert backends.RECORD_KEY in sb.state.read_json(sb.state.dir / "applied.json")


def test_another_password_in_secrets_env_is_set_again(made):
    config, state = made
    db = FakeDb(verifier=backends.scram_verifier("an older password"), trusting=False)
    sb = _sandbox(made, db)
    record = state.dir / "applied.json"
    state.write_json(record, {backends.RECORD_KEY: backends.record_mark("an older password")})
    backends.require_db_password(sb, record, Progress())
    assert [argv for _, argv, _ in sb.stack.execs] == [server_commands.psql_script()[1]]
    assert backends.verifier_matches(db.verifier, read_env_file(state.secrets_file)["DB_PASS"])
