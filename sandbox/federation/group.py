"""A federation group: sandboxes with their own `NAME.localhost` domains that trust one CA and reach each other
on one Docker network, under the names their proxies answer to.

What Mastodon needs to federate here (v4.6.5): a port-less host (Account::MENTION_RE, app/models/account.rb);
outbound requests to private addresses only where ALLOWED_PRIVATE_ADDRESSES lists them (app/lib/request.rb):
the group network's subnet, nothing else; and TLS it can verify: web and Sidekiq get SSL_CERT_FILE with the
system CAs and the group's (compose/federation.yml).
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import docker.errors

from ..config import SandboxConfig, group_network
from ..docker_env import docker_client
from ..errors import SandboxError
from ..state import GroupState, State, saved_configs
from ..tls import ensure_tls

if TYPE_CHECKING:
    from ..handle import Sandbox

GROUP_LABEL = "mastodon-sandbox.group"


def ensure_network(group: str) -> str:
    """The group's network, made unless it exists; returns its subnet (what Mastodon may reach)."""
    client = docker_client()
    try:
        network = client.networks.get(group_network(group))
    except docker.errors.NotFound:
        network = client.networks.create(group_network(group), driver="bridge", labels={GROUP_LABEL: group})
        network.reload()
    configs = (network.attrs.get("IPAM") or {}).get("Config") or []
    subnet = next((c.get("Subnet") for c in configs if c.get("Subnet") and ":" not in c["Subnet"]), None)
    if not subnet:
        raise SandboxError(f"the Docker network {network.name} has no IPv4 subnet: remove it (`docker network rm {network.name}`) and run up again")
    return subnet


def remove_network(group: str) -> None:
    try:
        docker_client().networks.get(group_network(group)).remove()
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:  # still used: a member of another state folder's group of that name
        raise SandboxError(f"the network {group_network(group)} of group {group!r} is still in use ({e.explanation or e}): "
                           f"`docker network rm {group_network(group)}` once its containers are gone") from None


def check_new_member(config: SandboxConfig, state: State) -> None:
    """A new sandbox with its own domain: the domain is nobody else's in the state folder. One line otherwise."""
    for other in saved_configs(state.dir.parent):
        if other.name != config.name and config.hostname and other.hostname == config.hostname:
            raise SandboxError(f"the domain {config.hostname} is taken by sandbox {other.name!r}: choose another, e.g. --domain {config.name}.localhost")


def check_joining(requested: dict, saved: SandboxConfig) -> None:
    """A made sandbox keeps its group and domain: one asked to join a group (or another) is refused."""
    group = requested.get("group", saved.group)
    if group != saved.group:
        own = f"group {saved.group!r}" if saved.group else "its own CA"
        raise SandboxError(f"sandbox {saved.name!r} was made with {own} and cannot join group {group!r}: its clients trust that CA; "
                           f"make a new member with `mastodon-sandbox up --name NAME --domain NAME.localhost --group {group}`")
    if requested.get("hostname", saved.hostname) != saved.hostname:
        raise SandboxError(f"sandbox {saved.name!r} was made with the domain {saved.hostname or saved.domain} and keeps it "
                           "(Mastodon cannot change its domain once it holds data): use another --name")


_claimed: set[Path] = set()  # the claims locks this process holds: taking one again inside it is a no-op


@contextmanager
def claiming(root: Path, needed: bool):
    """While held, no other process takes an address, a domain or an exposed app's name, or makes a group's CA
    or network (`needed`: the caller makes a sandbox with its own domain; otherwise nothing is locked). Held
    again inside itself (a failed `up` leaving a group, which removes its exposed apps), it is the same lock:
    flock on a second open file would wait for ever on the first."""
    path = (root / GroupState.FOLDER / "claims.lock").resolve()
    if not needed or path in _claimed:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        _claimed.add(path)
        try:
            yield
        finally:
            _claimed.discard(path)


def next_address(root: Path) -> str:
    """A loopback address no other sandbox in the state folder uses, for a new one with its own domain:
    each serves HTTPS on 443, so each needs its own address (Linux routes all of 127.0.0.0/8 to loopback)."""
    taken = {c.address for c in saved_configs(root)}
    for n in range(2, 255):
        if f"127.0.0.{n}" not in taken:
            return f"127.0.0.{n}"
    raise SandboxError("every address 127.0.0.2-254 is taken by a sandbox: destroy one with its own domain first")


def prepare_member(config: SandboxConfig, state: State) -> str | None:
    """TLS for a sandbox with its own domain, from its group's CA when it has a group; returns the group
    network's subnet (None outside a group)."""
    if not config.hostname:
        return None
    if not config.group:
        ensure_tls(state.tls_dir, config.name, dns_names=(config.hostname,), ips=())
        return None
    group = GroupState(config.group, state.dir.parent)
    ensure_tls(state.tls_dir, f"group {config.group}", dns_names=(config.hostname,), ips=(), authority=group.tls_dir)
    return ensure_network(config.group)


def leave(config: SandboxConfig, root: Path) -> None:
    """After a member is destroyed: the group's CA, network and exposed apps go with its last member."""
    if not config.group:
        return
    group = GroupState(config.group, root)
    if not [c for c in group.members() if c.name != config.name]:
        from .exposure import remove_all  # it claims names under this module's lock

        remove_all(config.group, root)  # their doors are on the network
        remove_network(config.group)
        group.remove()


def members(group: str) -> list[Sandbox]:
    """The sandboxes of `group`, by name; one line when it has none."""
    from ..handle import Sandbox

    found = GroupState(group).members()
    if not found:
        raise SandboxError(f"no group {group!r} in the state folder {GroupState(group).root}: its first member makes it "
                           f"(`mastodon-sandbox up --name NAME --domain NAME.localhost --group {group}`)")
    return [Sandbox.open(c.name) for c in sorted(found, key=lambda c: c.name)]
