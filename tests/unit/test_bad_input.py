"""Bad input to the CLI (issue #24): one line naming what is wrong, before anything is made or changed, and
`up`/`down`/`destroy` of one sandbox one at a time. No Docker: the engine is never reached."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest

from mastodon_sandbox import cli, images, lifecycle
from mastodon_sandbox.config import SandboxConfig
from mastodon_sandbox.docker_env import port_is_free
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.state import State
from mastodon_sandbox.timeouts import timeouts


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty state root (`empty(root)` after each refusal); any SANDBOX_* of the caller's environment is ignored."""
    root = tmp_path / "state"
    root.mkdir()
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(root))
    for var in ("SANDBOX_NAME", "SANDBOX_PORT", "SANDBOX_SERVER", "SANDBOX_MASTODON_SOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(lifecycle, "docker_client", lambda: pytest.fail("Docker was asked before the input was checked"))
    return root


def empty(folder) -> bool:
    return not any(folder.iterdir())


def one_line(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 1
    out = capsys.readouterr()
    err = out.err.strip()
    assert err.startswith("mastodon-sandbox: ") and "\n" not in err and "Traceback" not in err, out
    return err


# --- sandbox names ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["up", "--name", "x" * 300],
    ["status", "--name", "../.sandbox/standin"],
    ["info", "--name", ".."],
    ["env", "--name", "Default"],
    ["logs", "--name", "a/b"],
    ["doctor", "--name=-x"],
    ["down", "--name", "../standin"],
    ["destroy", "--yes", "--name", "../standin"],
    ["token", "alice", "--name", "../standin"],
    ["accounts", "list", "--name", "../standin"],
])
def test_a_bad_sandbox_name_is_refused_by_every_command_and_never_walks_into_another_folder(root, tmp_path, capsys, argv):
    other = tmp_path / ".sandbox" / "standin"  # a sandbox outside the state root, as ../.sandbox/standin names it
    other.mkdir(parents=True)
    (other / "config.json").write_text(json.dumps(SandboxConfig(name="standin", server="standin", s3="seaweedfs").to_json()))
    err = one_line(capsys, argv)
    assert "bad sandbox name" in err and "1-40 lower-case letters, digits, - and _" in err and len(err) < 200
    assert empty(root) and sorted(p.name for p in other.iterdir()) == ["config.json"]


def test_good_names_are_those_compose_takes_as_a_project():
    for name in ("default", "it-v43", "ci_job_7", "a" * 40):
        assert State(name).name == name
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", SandboxConfig(name=name).project)  # compose's project names
    with pytest.raises(SandboxError, match="bad sandbox name"):
        State("a" * 41)


# --- options ------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["doctor", "--port", "99999"], "bad value for --port: '99999' (a port is 1-65535)"),
    (["doctor", "--port", "https"], "bad value for --port: 'https'"),
    (["up", "--port", "0"], "bad value for --port: '0' (a port is 1-65535)"),
    (["logs", "--tail", "-5"], "bad value for --tail: '-5' (a whole number of 0 or more)"),
    (["logs", "--tail", "many"], "bad value for --tail: 'many' (a whole number of 0 or more)"),
])
def test_bad_numbers_are_one_line(root, capsys, argv, message):
    assert message in one_line(capsys, argv)
    assert empty(root)


def test_a_bad_port_in_the_environment_is_one_line_for_doctor(root, capsys, monkeypatch):
    monkeypatch.setenv("SANDBOX_PORT", "70000")
    assert "bad value for SANDBOX_PORT: '70000' (a port is 1-65535)" in one_line(capsys, ["doctor"])


@pytest.fixture
def fresh_timeouts():
    timeouts.cache_clear()  # read once a process: read this test's environment
    yield
    timeouts.cache_clear()


@pytest.mark.parametrize("value", ["-1", "abc"])
def test_a_bad_timeout_is_named_as_such_not_as_an_unreachable_engine(root, capsys, monkeypatch, fresh_timeouts, value):
    from mastodon_sandbox import docker_env

    monkeypatch.setenv("SANDBOX_TIMEOUT_READY_MASTODON", value)
    monkeypatch.setattr(lifecycle, "docker_client", docker_env.docker_client)  # the real one, up to the engine
    monkeypatch.setattr(docker_env.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr("docker.from_env", lambda **kw: pytest.fail("the engine was asked"))
    message = f"SANDBOX_TIMEOUT_READY_MASTODON='{value}' is not a number of seconds above 0"
    assert one_line(capsys, ["up", "--name", "t", "--server", "standin"]) == f"mastodon-sandbox: {message}"
    assert empty(root)
    assert cli.main(["doctor", "--name", "t"]) == 1
    assert capsys.readouterr().out.strip() == f"FAIL timeouts     {message}"


def _two_taken_ports() -> tuple[socket.socket, socket.socket]:
    """Listeners on two neighbouring ports P and P+1, so that a right answer must look past P+1."""
    for _ in range(50):
        first = socket.socket()
        first.bind(("127.0.0.1", 0))
        second = socket.socket()
        try:
            second.bind(("127.0.0.1", first.getsockname()[1] + 1))
        except OSError:
            first.close()
            second.close()
            continue
        first.listen()
        second.listen()
        return first, second
    pytest.skip("no two neighbouring free ports")


def test_a_taken_port_is_answered_with_one_that_is_free(root, capsys, monkeypatch):
    monkeypatch.setattr(lifecycle, "docker_client", lambda: None)
    first, second = _two_taken_ports()
    with first, second:
        port = first.getsockname()[1]
        err = one_line(capsys, ["up", "--name", "t", "--server", "standin", "--port", str(port)])
        suggested = int(re.search(r"--port (\d+) \(free now\)", err).group(1))
        assert err.startswith(f"mastodon-sandbox: 127.0.0.1:{port} is taken: stop what uses it, or choose another, e.g. --port")
        assert suggested > port + 1 and port_is_free(suggested)
    assert empty(root)


@pytest.mark.parametrize("make, message", [
    (lambda folder: None, "the Mastodon source folder {folder} does not exist"),
    (lambda folder: folder.mkdir(), "{folder} is not a Mastodon source folder: it has no SHA256SUMS"),
])
def test_build_refuses_a_source_folder_that_is_not_one(root, tmp_path, capsys, monkeypatch, make, message):
    monkeypatch.setattr(images, "ensure_base", lambda *a: pytest.fail("a build began"))
    monkeypatch.setattr(images.source, "built_inputs", lambda image: "built earlier")  # images of an earlier build exist
    folder = tmp_path / "mastodon-source"
    make(folder)
    assert message.format(folder=folder) in one_line(capsys, ["build", "--source", str(folder)])


# --- one up, down or destroy at a time ------------------------------------------------------------

def _hold(spans: dict, key: str, create: bool = True, holding: threading.Event | None = None, destroy: bool = False):
    """A thread that does "work" on sandbox t under the lock, recording when it held it."""
    def work() -> None:
        with lifecycle.one_at_a_time("t", create=create):
            start = time.monotonic()
            if holding:
                holding.set()
            time.sleep(0.2)
            if destroy:
                State("t").remove()  # as lifecycle.destroy ends: the lock file goes with the folder
            spans[key] = (start, time.monotonic())
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_two_ups_of_one_sandbox_take_turns(root):
    spans: dict = {}
    threads = [_hold(spans, f"up{i}") for i in range(3)]
    for t in threads:
        t.join()
    first, second, third = sorted(spans.values())
    assert first[1] <= second[0] and second[1] <= third[0], spans


def test_a_waiter_of_a_destroyed_sandbox_locks_the_new_folder_so_newcomers_still_wait(root):
    State("t").save_config(SandboxConfig(name="t"))
    spans: dict = {}
    destroying, waiting_up = threading.Event(), threading.Event()
    threads = [_hold(spans, "destroy", create=False, holding=destroying, destroy=True)]
    assert destroying.wait(5)
    threads.append(_hold(spans, "waiter", holding=waiting_up))  # waits on the lock file the destroy removes
    assert waiting_up.wait(5)
    threads.append(_hold(spans, "newcomer"))  # opens the folder the waiter made: must wait for the waiter
    for t in threads:
        t.join()
    assert spans["destroy"][1] <= spans["waiter"][0] and spans["waiter"][1] <= spans["newcomer"][0], spans


def test_a_second_destroy_waits_then_finds_no_folder_and_makes_none(root):
    State("t").save_config(SandboxConfig(name="t"))
    spans: dict = {}
    destroying = threading.Event()
    threads = [_hold(spans, "first", create=False, holding=destroying, destroy=True)]
    assert destroying.wait(5)
    threads.append(_hold(spans, "second", create=False))
    for t in threads:
        t.join()
    assert spans["first"][1] <= spans["second"][0] and empty(root)  # destroy then says "no sandbox named 't'"


def test_a_refused_up_leaves_no_folder_and_one_that_made_something_keeps_it(root):
    with pytest.raises(SandboxError):
        with lifecycle.one_at_a_time("t"):
            raise SandboxError("refused")
    assert not root.joinpath("t").exists()
    with lifecycle.one_at_a_time("t"):
        State("t").save_config(SandboxConfig(name="t"))
    assert State("t").exists()
    with lifecycle.one_at_a_time("gone", create=False):  # destroy of a sandbox with no folder: nothing to lock
        assert not root.joinpath("gone").exists()
