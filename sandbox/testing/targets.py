"""Where the plugin's client fixtures point: the sandbox, a remote instance, or both (each test that uses
them then runs once per target). The remote is the one the contract suite uses, given by the same variables
(MASTODON_CONTRACT_URL, _TOKEN, _TOKEN_2, _CA, _WRITES; sandbox/contract/target.py): its accounts are the
one or two the tokens belong to, it is read-only unless _WRITES=1, and it is checked once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

CHOICES = ("sandbox", "remote", "both")
KINDS = ("sandbox", "remote")


@dataclass(frozen=True)
class Endpoint:
    """A server the fixtures talk to: its base URL and what verifies its certificate (a CA file, or True)."""

    url: str
    verify: str | bool
    streaming: str = ""  # the streaming API's base (wss://…); the web's host when the instance names none

    @property
    def streaming_base(self) -> str:
        return self.streaming or self.url.replace("https://", "wss://", 1)


def chosen(config) -> str:
    from .settings import settings

    return settings(config).target


def targets_for(config, node) -> list[str]:
    """The targets a test runs against: the chosen ones its `mastodon_targets` marker allows."""
    wanted = list(KINDS) if chosen(config) == "both" else [chosen(config)]
    marker = node.get_closest_marker("mastodon_targets")
    return [t for t in wanted if marker is None or t in marker.args]


@dataclass(frozen=True)
class RemoteTarget:
    endpoint: Endpoint
    leases: tuple  # the accounts the tokens belong to, as Leases (not isolated: they are the user's own)
    writes: bool


_REMOTE: list[RemoteTarget] = []


def remote_target() -> RemoteTarget:
    """The remote, checked once per process (one line and a failed test when it is not usable)."""
    if _REMOTE:
        return _REMOTE[0]
    from ..contract.target import Settings, TargetError, check_remote
    from .leases import Lease

    try:
        settings = Settings.read(os.environ)
        remote = check_remote(settings)
    except TargetError as e:
        pytest.fail(f"mastodon-sandbox: the remote target: {e}", pytrace=False)
    accounts = [(remote.me, settings.token)] + ([(remote.peer, settings.token_2)] if remote.peer else [])
    leases = tuple(Lease(a["username"], str(a["id"]), "", token, None) for a, token in accounts)
    endpoint = Endpoint(remote.server.base_url, settings.ca or True, remote.server.streaming_url or "")
    _REMOTE.append(RemoteTarget(endpoint, leases, settings.writes))
    return _REMOTE[0]
