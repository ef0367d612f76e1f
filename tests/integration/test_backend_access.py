"""The back-ends from the host, through the containers' own addresses (the host reaches every compose
network): PostgreSQL and Redis refuse a client without the password, SeaweedFS lets out nothing but S3,
and S3 refuses an unsigned write. The passwords never show on a command line in the engine or in `ps`,
and the harness's own commands, run inside the containers, keep working.
"""

from __future__ import annotations

import socket
import struct

import pytest
import requests

from mastodon_sandbox.stores import Postgres
from mastodon_sandbox.state import read_env_file

pytestmark = pytest.mark.docker


def _address(sandbox, service: str) -> str:
    container = sandbox.stack.containers()[service]
    container.reload()
    addresses = [n["IPAddress"] for n in container.attrs["NetworkSettings"]["Networks"].values() if n["IPAddress"]]
    assert addresses, f"{service} has no address on a compose network"
    return addresses[0]


def _postgres_startup(address: str) -> tuple[bytes, int]:
    """A StartupMessage (protocol 3.0) as user postgres: the server's first answer, as (kind, code) — `R`
    with 0 lets the client in (trust), `R` with 10 asks for SASL (scram-sha-256), `E` is an error."""
    body = struct.pack("!i", 196608) + b"user\0postgres\0database\0postgres\0\0"
    with socket.create_connection((address, 5432), timeout=10) as sock:
        sock.sendall(struct.pack("!i", len(body) + 4) + body)
        head = b""
        while len(head) < 9:
            chunk = sock.recv(9 - len(head))
            if not chunk:
                break
            head += chunk
    assert len(head) >= 5, f"PostgreSQL closed the connection after {head!r}"
    return head[:1], struct.unpack("!i", head[5:9])[0] if head[:1] == b"R" else -1


def test_postgresql_asks_a_network_client_for_the_password(mastodon_sandbox):
    kind, code = _postgres_startup(_address(mastodon_sandbox, "db"))
    assert (kind, code) == (b"R", 10), f"PostgreSQL answered {kind!r} {code} to a client without a password, not SASL"


def test_redis_answers_noauth_to_a_client_without_the_password(mastodon_sandbox):
    with socket.create_connection((_address(mastodon_sandbox, "redis"), 6379), timeout=10) as sock:
        sock.sendall(b"PING\r\n")
        answer = sock.recv(200)
    assert answer.startswith(b"-NOAUTH"), answer


def test_seaweedfs_lets_out_nothing_but_s3(mastodon_sandbox):
    if mastodon_sandbox.config.s3 != "seaweedfs":
        pytest.skip(f"media in {mastodon_sandbox.config.s3}, not SeaweedFS")
    address = _address(mastodon_sandbox, "s3")
    # filer, master, volume, admin, and the gRPC ports of filer and master
    for port in (8888, 9333, 9340, 23646, 18888, 19333):
        with socket.socket() as sock:
            sock.settimeout(5)
            assert sock.connect_ex((address, port)) != 0, f"SeaweedFS answers on {address}:{port}"
    # S3 itself is there, and reads the bucket anonymously (media URLs are public).
    assert requests.get(f"http://{address}:9000/media/none.png", timeout=10).status_code == 404


def test_s3_refuses_an_unsigned_write_list_and_delete(mastodon_sandbox):
    if mastodon_sandbox.config.s3 == "local":
        pytest.skip("media on local disk: no S3 service")
    base = f"http://{_address(mastodon_sandbox, 's3')}:9000/media"
    assert requests.put(f"{base}/from-the-host.txt", data=b"not yours", timeout=10).status_code == 403
    assert requests.get(f"{base}/from-the-host.txt", timeout=10).status_code == 404  # nothing was written
    assert requests.get(f"{base}/", timeout=10).status_code == 403  # no listing
    assert requests.delete(f"{base}/media_attachments/x.png", timeout=10).status_code == 403


def test_the_passwords_are_on_no_command_line(mastodon_sandbox):
    secrets = read_env_file(mastodon_sandbox.state.dir / "secrets.env")
    values = [secrets["DB_PASS"], secrets["REDIS_PASSWORD"]]
    for service in ("db", "redis"):
        container = mastodon_sandbox.stack.container(service)
        container.reload()
        shown = " ".join([*(container.attrs["Config"].get("Cmd") or []), *(container.attrs["Config"].get("Entrypoint") or []),
                          *container.attrs.get("Args", []), container.attrs.get("Path", "")])
        assert not any(v in shown for v in values), f"a password is on {service}'s command line"
        # what `ps` in the container reads: every process's argv
        argvs = mastodon_sandbox.stack.exec(service, ["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"])
        assert argvs.returncode == 0 and not any(v in argvs.stdout for v in values), f"a password is in a process's argv in {service}"
    assert not any(v in mastodon_sandbox.state.compose_env.read_text() for v in values)


def test_the_harness_still_runs_its_commands_in_the_containers(mastodon_sandbox):
    """psql over the database container's socket, redis-cli with REDISCLI_AUTH from redis.env."""
    assert "mastodon_production" in Postgres(mastodon_sandbox.stack.containers()["db"]).databases()
    proc = mastodon_sandbox.stack.exec("redis", ["redis-cli", "ping"])
    assert proc.returncode == 0 and proc.stdout.strip() == "PONG", proc.stdout + proc.stderr
