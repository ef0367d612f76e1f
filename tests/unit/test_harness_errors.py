"""The harness's error paths without a Docker engine: a Compose that fails, hangs or reports nothing, a
service that fails its health check, a first `up` that fails after making its state folder, bad settings
on the command line, and the timeouts' configuration. Each ends in one line naming the cause."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from mastodon_sandbox import cli, lifecycle
from mastodon_sandbox.config import SandboxConfig
from mastodon_sandbox.data.up import up
from mastodon_sandbox.environment import ENV_FILES
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.progress import Progress
from mastodon_sandbox.stack import ServiceState, Stack
from mastodon_sandbox.state import State
from mastodon_sandbox.timeouts import Timeouts


def fake_compose(tmp_path, script: str) -> list[str]:
    path = tmp_path / "compose"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return [str(path)]


@pytest.fixture
def stack(tmp_path):
    state = State("t", root=tmp_path)
    state.dir.mkdir()
    for name in ENV_FILES:  # a made sandbox has them all
        (state.dir / name).write_text("")
    s = Stack(SandboxConfig(name="t", server="standin", s3="seaweedfs"), state)
    return s


def test_a_sandbox_of_an_earlier_version_is_told_to_run_up_before_compose_runs(stack, tmp_path):
    """One made before the back-ends had passwords lacks db.env and redis.env, which compose would name in a
    stat error; `up` writes them (lifecycle.make_or_reuse, before its first compose call)."""
    (stack.state.dir / "db.env").unlink()
    stack._compose = fake_compose(tmp_path, f"echo ran > {tmp_path}/ran.txt\n")
    with pytest.raises(SandboxError, match=r"^sandbox 't' lacks db.env \(made by an earlier version of mastodon-sandbox\): "
                                           r"`mastodon-sandbox up --name t` brings it up to date$"):
        stack.run("ps")
    assert not (tmp_path / "ran.txt").exists()


# --- timeouts --------------------------------------------------------------------------------

def test_timeouts_come_from_one_object_with_environment_overrides():
    t = Timeouts.from_env({"SANDBOX_TIMEOUT_COMPOSE_UP": "120", "SANDBOX_TIMEOUT_POLL": "0.25"})
    assert (t.compose_up, t.poll, t.exec) == (120.0, 0.25, Timeouts().exec)
    for bad in ("soon", "0", "-5"):
        with pytest.raises(SandboxError, match=rf"SANDBOX_TIMEOUT_EXEC='{bad}' is not a number of seconds above 0"):
            Timeouts.from_env({"SANDBOX_TIMEOUT_EXEC": bad})


# --- Compose that fails, hangs or says nothing ----------------------------------------------

def test_a_failing_compose_command_is_one_line_with_its_last_words(stack, tmp_path):
    stack._compose = fake_compose(tmp_path, 'echo "some progress" >&2\necho "no such service: webb" >&2\nexit 1\n')
    with pytest.raises(SandboxError, match=r"^docker compose logs failed: no such service: webb$"):
        stack.run("logs", "webb")


FAKE_DOCKER = """#!/bin/sh
# docker exec [--interactive] [--user U] NAME ARGV...: t-web-1 hangs, t-redis-1 echoes its argv and stdin
shift
if [ "$1" = --interactive ]; then shift; stdin=$(cat); fi
if [ "$1" = --user ]; then shift 2; fi
name=$1; shift
if [ "$name" = t-web-1 ]; then exec sleep 30; fi
echo "$* ${stdin:-}"
"""


def test_a_command_in_a_container_runs_by_the_docker_cli_and_a_hung_one_ends_with_a_message_naming_it(stack, monkeypatch, tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "docker").write_text(FAKE_DOCKER)
    (tmp_path / "bin" / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(stack, "containers", lambda: {"web": SimpleNamespace(name="t-web-1"), "redis": SimpleNamespace(name="t-redis-1")})
    with pytest.raises(SandboxError, match=r"^tootctl version in t-web-1 did not finish within 1 s \(SANDBOX_TIMEOUT_EXEC\)"):
        stack.exec("web", ["tootctl", "version"], timeout=1)
    done = stack.exec("redis", ["redis-cli", "ping"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "redis-cli ping \n", "")
    assert stack.exec("redis", ["bin/rails", "runner", "-"], input="{}").stdout == "bin/rails runner - {}\n"  # stdin too
    with pytest.raises(SandboxError, match=r"^the sidekiq service of 't' is not running: `mastodon-sandbox up` first$"):
        stack.exec("sidekiq", ["true"])


def test_services_raises_when_compose_fails_instead_of_reporting_no_services(stack, tmp_path):
    """An empty list would read as "nothing started yet" and the wait would spin to its timeout."""
    stack._compose = fake_compose(tmp_path, 'echo "Cannot connect to the Docker daemon" >&2\nexit 1\n')
    with pytest.raises(SandboxError, match="docker compose ps failed: Cannot connect to the Docker daemon"):
        stack.services()


def test_services_reads_both_json_forms_of_compose_ps(stack, tmp_path):
    row = '{"Service": "web", "State": "running", "Health": "healthy", "ExitCode": 0}'
    stack._compose = fake_compose(tmp_path, f"echo '{row}'\n")
    assert stack.services() == [ServiceState("web", "running", "healthy", 0)]
    stack._compose = fake_compose(tmp_path, f"echo '[{row}]'\n")
    assert stack.services()[0].ready


# --- waiting for health ----------------------------------------------------------------------

def _feed(stack, monkeypatch, *rounds):
    """stack.services() answers each round in turn, then the last one for ever."""
    answers = list(rounds)
    monkeypatch.setattr(stack, "services", lambda: answers.pop(0) if len(answers) > 1 else answers[0])
    monkeypatch.setattr(stack, "logs", lambda service, tail=50: f"{service} log line\nPG::ConnectionBad: could not connect\n")
    monkeypatch.setattr("mastodon_sandbox.waiting.time.sleep", lambda s: None)


def test_wait_ready_returns_when_every_service_is_ready(stack, monkeypatch):
    starting = [ServiceState("db-prepare", "running", "", 0), ServiceState("web", "running", "starting", 0)]
    ready = [ServiceState("db-prepare", "exited", "", 0), ServiceState("web", "running", "healthy", 0)]
    _feed(stack, monkeypatch, starting, starting, ready)
    seen = []
    assert stack.wait_ready(timeout=60, on_change=seen.append) == ready
    assert len(seen) == 2  # told of each change, not of each poll


def test_wait_ready_for_some_services_waits_for_those_only(stack, monkeypatch):
    """A restore waits for the S3 service it restarted, not for the processes it froze."""
    frozen, starting, healthy = (ServiceState("web", "running", "unhealthy", 0), ServiceState("s3", "running", "starting", 0),
                                 ServiceState("s3", "running", "healthy", 0))
    _feed(stack, monkeypatch, [frozen, starting], [frozen, healthy])
    assert stack.wait_ready(timeout=60, only=("s3",)) == [healthy]


def test_wait_ready_names_a_failed_service_with_its_last_log_line(stack, monkeypatch):
    _feed(stack, monkeypatch, [ServiceState("db-prepare", "exited", "", 1), ServiceState("web", "created", "", 0)])
    with pytest.raises(SandboxError, match=r"service db-prepare failed \(exited, exit 1\): PG::ConnectionBad: could not connect — see `mastodon-sandbox logs db-prepare`"):
        stack.wait_ready(timeout=60)


def test_wait_ready_gives_up_at_its_timeout_naming_what_it_waited_for(stack, monkeypatch):
    _feed(stack, monkeypatch, [ServiceState("web", "running", "starting", 0), ServiceState("redis", "running", "healthy", 0)])
    with pytest.raises(SandboxError, match=r"^the sandbox was not ready within 0 s \(last: still waiting for web\): see `mastodon-sandbox logs`$"):
        stack.wait_ready(timeout=0)


# --- a first `up` that fails leaves nothing behind -------------------------------------------

def test_a_failed_first_up_removes_the_state_folder_it_made(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    engine = SimpleNamespace(volumes=SimpleNamespace(list=lambda filters: []))
    monkeypatch.setattr(lifecycle, "docker_client", lambda: engine)
    monkeypatch.setattr(lifecycle, "port_is_free", lambda port, address="127.0.0.1": True)
    monkeypatch.setattr(Stack, "config_json", lambda self: {"services": {}})

    def no_registry(model, progress):
        raise SandboxError("could not pull ghcr.io/mastodon/mastodon:v4.6.5: no registry is reachable")

    monkeypatch.setattr(lifecycle, "pull_missing_images", no_registry)
    with pytest.raises(SandboxError, match="no registry is reachable"):
        up("t", {"server": "official", "port": 8443}, Progress(quiet=True))
    assert not (tmp_path / "t").exists()


# --- the command line ------------------------------------------------------------------------

@pytest.mark.parametrize("argv,message", [
    (["up", "--port", "https"], "bad value for --port: 'https'"),
    (["up", "--server", "mastodon"], "bad value for --server: 'mastodon' (choose official, source, standin)"),
    (["up", "--registrations", "sometimes"], "bad value for --registrations: 'sometimes' (choose none, approved, open)"),
    (["up", "--pool-size", "-3"], "bad pool size -3"),
    (["up", "--email-domain", "not a domain"], "bad e-mail domain 'not a domain'"),
    (["up", "--accounts", "bad-name"], "bad username 'bad-name'"),
    (["up", "--accounts", "admin:God"], "unknown role 'God'"),
    (["up", "--version", "3.5"], "3.5"),
])
def test_bad_options_exit_non_zero_with_one_line_and_create_nothing(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    for var in ("SANDBOX_SERVER", "SANDBOX_PORT", "SANDBOX_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(lifecycle, "docker_client", lambda: pytest.fail("Docker was asked before the settings were checked"))
    assert cli.main([*argv, "--name", "t"]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_environment_settings_are_checked_as_options_are(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SANDBOX_REGISTRATIONS", "sometimes")
    assert cli.main(["up", "--name", "t"]) == 1
    assert "bad value for SANDBOX_REGISTRATIONS: 'sometimes'" in capsys.readouterr().err



# --- a failed command, one way ----------------------------------------------------------------

def test_a_failed_command_says_its_last_words_on_stderr_else_stdout_else_its_exit_code():
    from mastodon_sandbox.errors import command_failed

    assert str(command_failed("pg_dump of x failed", 1, "", "pg_dump: warning\npg_dump: error: no such database\n\n")) == \
        "pg_dump of x failed: pg_dump: error: no such database"
    assert str(command_failed("psql", 2, "ERROR:  syntax\n", "  \n")) == "psql: ERROR:  syntax"  # blank stderr says nothing
    assert str(command_failed("psql", 3, "", "")) == "psql: exit code 3"  # no IndexError on empty output
    assert str(command_failed("x", 1, None, None)) == "x: exit code 1"
    assert str(command_failed("x", 1, "", "y" * 500)) == "x: " + "y" * 200


def test_a_failed_ruby_program_is_told_by_the_error_ruby_prints_first():
    from mastodon_sandbox.errors import command_failed

    ruby = ("/opt/mastodon/run_due.rb:12:in `block in <main>': undefined method `x' for nil (NoMethodError)\n"
            "\tfrom /opt/mastodon/run_due.rb:3:in `each'\n")
    failed = command_failed("run-due failed", 1, "", ruby, ruby=True, hint="see `mastodon-sandbox logs web`")
    assert str(failed) == "run-due failed: undefined method `x' for nil (NoMethodError) — see `mastodon-sandbox logs web`"


def test_a_runner_scripts_answer_is_its_last_result_line_and_a_damaged_one_is_one_line():
    from mastodon_sandbox.server_commands import runner_result

    assert runner_result("s", "I, log line\nSANDBOX-JSON {\"a\": 1}\nSANDBOX-JSON [2]\n") == [2]
    assert runner_result("s", "OK\n") is None and runner_result("s", None) is None
    with pytest.raises(SandboxError, match=r"^the s script printed a damaged result line \("):
        runner_result("s", "SANDBOX-JSON {nope\n")
