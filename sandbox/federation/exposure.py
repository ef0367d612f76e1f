"""Apps on the developer's machine exposed to a federation group (`mastodon-sandbox expose`): an ActivityPub
server listening on plain HTTP on the host gets a `NAME.localhost` name the group's CA vouches for, and every
member reaches it there over verified HTTPS, as it reaches any remote instance.

Each exposure is a compose project of its own (compose/exposed.yml): a door on the group's network under the
name, and a relay in the host's network namespace (the one place that reaches the host's loopback). Adding
or removing one touches no member: their proxies and Mastodon keep running. The door's address is on the
group's network, which ALLOWED_PRIVATE_ADDRESSES already lets Mastodon reach (group.py); Mastodon trusts its
certificate through SSL_CERT_FILE (compose/federation.yml).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import docker.errors

from ..config import HOSTNAME_RE, compose_dir, group_network
from ..docker_env import docker_client, find_compose
from ..errors import SandboxError, command_failed
from ..stack import ProjectObjects
from ..state import GroupState, State, read_env_file, saved_configs, write_private
from ..timeouts import timeouts
from ..tls import write_leaf
from .group import claiming

RECORD = "exposure.json"


@dataclass(frozen=True)
class Exposure:
    """An app exposed to `group` as https://`name`, forwarded to http://`host`:`port` on this machine."""

    name: str
    group: str
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"https://{self.name}"

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def project(self) -> str:
        return f"mastodon-sandbox-group-{self.group}-exposed-{self.name.split('.')[0]}"

    def __str__(self) -> str:
        return f"{self.url} -> http://{self.target}"


def parse_target(text: str) -> tuple[str, int]:
    """`HOST:PORT` (the app's plain-HTTP address on this machine) as an IPv4 address and a port; one line otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SandboxError(f"bad --to {text!r}: the app's address on this machine as HOST:PORT, e.g. 127.0.0.1:8000")
    try:
        address = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    except (socket.gaierror, IndexError):
        raise SandboxError(f"bad --to {text!r}: {host} does not resolve to an IPv4 address on this machine") from None
    return address, int(port)


def listening(host: str, port: int) -> bool:
    """Whether something accepts connections at host:port now."""
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def exposures(group: str, root: Path | None = None) -> list[Exposure]:
    """The apps exposed to `group`, by name."""
    folder = GroupState(group, root).exposed_dir
    found = []
    for record in sorted(folder.glob(f"*/{RECORD}")) if folder.is_dir() else ():
        try:
            found.append(Exposure(**json.loads(record.read_text())))
        except (ValueError, TypeError):
            continue  # a record damaged by hand: `expose --remove NAME` still takes its door and relay down
    return found


def check(group: str, name: str, root: Path | None = None) -> None:
    """A name the group's CA vouches for, used by no sandbox and no other exposed app: one line otherwise."""
    if not HOSTNAME_RE.fullmatch(name):
        raise SandboxError(f"bad name {name!r}: the group's CA vouches only for names under localhost; use NAME.localhost "
                           "(letters, digits and dashes)")
    state = GroupState(group, root)
    if not state.members():
        raise SandboxError(f"no group {group!r} to expose to: its first member makes it "
                           f"(`mastodon-sandbox up --name NAME --domain NAME.localhost --group {group}`)")
    for config in saved_configs(state.root):
        if config.hostname == name:
            raise SandboxError(f"{name} is the domain of sandbox {config.name!r}: expose the app under another name")
    taken = [e for e in exposures(group, root) if e.name.split(".")[0] == name.split(".")[0]]
    if taken:
        raise SandboxError(f"{taken[0].name} is already exposed to group {group!r} ({taken[0]}): "
                           f"`mastodon-sandbox expose --remove {taken[0].name} --group {group}` first")


def expose(group: str, name: str, to: str, root: Path | None = None) -> Exposure:
    """Expose the app at `to` (HOST:PORT) to `group` as https://`name`; everything is checked before anything is made."""
    host, port = parse_target(to)
    state = GroupState(group, root)
    with claiming(state.root, True):
        check(group, name, root)
        _image_tag(state)  # a member brought up once: the door and the relay run its proxy image
        exposure = Exposure(name, group, host, port)
        folder = state.exposed_dir / name
        _write_files(state, exposure, folder)
        try:
            _compose(exposure, folder, state, "up", "--detach", "--wait", "--wait-timeout", str(int(timeouts().compose)))
        except SandboxError:
            with suppress(SandboxError):  # the error that ended it is the one to say
                _take_down(exposure, folder)
            raise
    return exposure


def remove(group: str, name: str, root: Path | None = None) -> Exposure:
    """Stop exposing `name` to `group`: its door and relay go, the app is untouched."""
    state = GroupState(group, root)
    with claiming(state.root, True):
        folder = state.exposed_dir / name
        found = [e for e in exposures(group, root) if e.name == name]
        if not found and not folder.is_dir():
            listed = ", ".join(e.name for e in exposures(group, root)) or "none"
            raise SandboxError(f"{name} is not exposed to group {group!r} (exposed: {listed})")
        # A folder without a readable record (damaged by hand) goes too: its project is named by the name alone.
        exposure = found[0] if found else Exposure(name, group, "", 0)
        _take_down(exposure, folder)
    return exposure


def remove_all(group: str, root: Path | None = None) -> None:
    """Every app exposed to `group` (its last member is being destroyed)."""
    for exposure in exposures(group, root):
        remove(group, exposure.name, root)


def door(exposure: Exposure):
    """The running door container of `exposure` (Docker SDK), or None."""
    try:
        found = docker_client().containers.list(filters={"label": [f"com.docker.compose.project={exposure.project}",
                                                                   "com.docker.compose.service=door"]})
    except docker.errors.DockerException as e:  # said: a door left out would let settle call a group settled
        raise SandboxError(f"could not ask Docker for the door of {exposure.name}: {str(e).splitlines()[0][:200]}") from None
    return found[0] if found else None


def _write_files(state: GroupState, exposure: Exposure, folder: Path) -> None:
    """The door's certificate (from the group's CA: its key never leaves the group's folder) and the relay's target."""
    write_leaf(state.tls_dir, folder / "cert.pem", folder / "key.pem", (exposure.name,))
    write_private(folder / "app.conf", f'set $app "{exposure.target}";\n')
    (folder / "app.conf").chmod(0o644)  # read by nginx as root; no secret in it
    write_private(folder / RECORD, json.dumps(asdict(exposure), indent=2) + "\n")  # last: the exposure exists from here


def _take_down(exposure: Exposure, folder: Path) -> None:
    """Its containers and socket volume (by the project's label: no compose file or member needed), then its folder."""
    ProjectObjects.of(exposure.project).remove(f"removing {exposure.name}", "run `expose --remove` again")
    shutil.rmtree(folder, ignore_errors=True)


def _image_tag(state: GroupState) -> str:
    """The tag of the proxy image the group's members run (the door and the relay are the same nginx)."""
    for config in state.members():
        tag = read_env_file(State(config.name, state.root).compose_env).get("BUILD_BASE_TAG")
        if tag:
            return tag
    raise SandboxError(f"no member of group {state.name!r} has been brought up: `mastodon-sandbox up` one first")


def _compose(exposure: Exposure, folder: Path, state: GroupState, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EXPOSED_PROJECT": exposure.project, "EXPOSED_NAME": exposure.name, "EXPOSED_STATE": str(folder),
           "SANDBOX_GROUP": exposure.group, "SANDBOX_GROUP_NETWORK": group_network(exposure.group),
           "BUILD_BASE_TAG": _image_tag(state)}
    argv = [*find_compose(), "--project-directory", str(compose_dir()), "--file", str(compose_dir() / "exposed.yml"), *args]
    try:
        proc = subprocess.run(argv, env=env, text=True, capture_output=True, timeout=timeouts().compose)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"docker compose {args[0]} of {exposure.name} did not finish within {timeouts().compose:.0f} s") from None
    if proc.returncode != 0:
        raise command_failed(f"exposing {exposure.name} failed (docker compose {args[0]})", proc.returncode, proc.stdout, proc.stderr)
    return proc
