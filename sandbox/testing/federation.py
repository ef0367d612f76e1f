"""`mastodon_federation`: several sandboxes of one federation group for a test, with accounts leased on each,
clients, the remote account as one instance sees another's, `settle()` and `deliveries()`.

The group is the plugin's `federation` setting, `GROUP:a,b@4.3`: sandboxes GROUP-a and GROUP-b, served as
a.localhost and b.localhost, b on Mastodon 4.3 and a on the run's sandbox's version (default `fed:a,b`). Members
that are not running are brought up on first use, once for all xdist workers (the CLI's up lock), on the server
the run's sandbox uses (official images, or built from its source folder)."""

from __future__ import annotations

import itertools
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest

from ..config import HOSTNAME_RE, check_group_name
from ..errors import SandboxError

SPEC_RE = re.compile(r"(?:(?P<group>[^:]+):)?(?P<members>.+)")
DEFAULT_SPEC = "fed:a,b"
_APP_NUMBERS = itertools.count(1)  # apps a test exposes: a name per worker and app (exposure names are the group's)


@dataclass(frozen=True)
class Member:
    short: str  # a, b: the domain's first label
    version: str | None  # None: the run's sandbox's

    def sandbox_name(self, group: str) -> str:
        return f"{group}-{self.short}"

    @property
    def domain(self) -> str:
        return f"{self.short}.localhost"


@dataclass(frozen=True)
class FederationSpec:
    group: str
    members: tuple[Member, ...]


def parse_spec(spec: str) -> FederationSpec:
    """`fed:a,b@4.3` → group fed, members a (the run's version) and b (4.3). One line when it is not that."""
    match = SPEC_RE.fullmatch(spec.strip())
    group = (match.group("group") if match else None) or "fed"
    members = []
    for item in filter(None, (m.strip() for m in (match.group("members") if match else "").split(","))):
        short, _, version = item.partition("@")
        if not HOSTNAME_RE.fullmatch(f"{short}.localhost"):
            raise pytest.UsageError(f"mastodon-sandbox: bad federation member {item!r} in {spec!r}: a DNS label, e.g. a or b@4.3")
        members.append(Member(short, version or None))
    try:
        check_group_name(group)
    except SandboxError as e:
        raise pytest.UsageError(f"mastodon-sandbox: {e}") from None
    if len(members) < 2 or len({m.short for m in members}) != len(members):
        raise pytest.UsageError(f"mastodon-sandbox: a federation is two or more distinct members, e.g. fed:a,b@4.3, not {spec!r}")
    return FederationSpec(group, tuple(members))


def bring_up(spec: FederationSpec, base: dict) -> list:
    """The members, each brought up unless it runs (its saved settings kept when it exists)."""
    from ..federation import names
    from ..handle import Sandbox
    from ..data.up import up
    from ..lifecycle import one_at_a_time
    from ..progress import Progress
    from ..state import State

    names.install()
    out = []
    for member in spec.members:
        name = member.sandbox_name(spec.group)
        state = State(name)
        if state.exists():
            sandbox = Sandbox.open(name)
            if sandbox.config.group != spec.group:
                raise SandboxError(f"sandbox {name!r} exists outside federation group {spec.group!r}: destroy it, or choose "
                                   "another group in the federation setting")
            if sandbox.stack.is_running():
                out.append(sandbox)
                continue
        requested = {**base, "hostname": member.domain, "group": spec.group}
        if member.version:
            requested["version"] = member.version
        with one_at_a_time(name):
            out.append(up(name, requested, Progress(quiet=True)))
    return out


@dataclass
class Instance:
    """One member as a test sees it: its sandbox, domain and URL, leased accounts and clients."""

    short: str
    sandbox: Any  # sandbox.handle.Sandbox
    _request: Any = field(repr=False)

    @property
    def domain(self) -> str:
        return self.sandbox.config.domain

    @property
    def url(self) -> str:
        return self.sandbox.url

    def accounts(self, count: int = 1) -> list:
        """Fresh accounts on this instance, for this test only (`Lease`s, as mastodon_accounts gives)."""
        from .leases import lease
        from .settings import settings

        return lease(self.sandbox, count, holder=self._request.node.nodeid, refill=settings(self._request.config).pool_refill)

    def acct(self, who) -> str:
        """The account's address as other instances write it: user@domain."""
        return f"{getattr(who, 'username', who)}@{self.domain}"

    def client(self, who):
        """A Mastodon.py client on this instance of a `Lease` or a named account (alice, bob)."""
        from ..provision.credentials import Credentials
        from .fixtures import _mastodon_py
        from .targets import Endpoint

        token = getattr(who, "token", None)
        if token is None:
            saved = Credentials.load(self.sandbox.state).default_token(str(who))
            if saved is None:
                pytest.fail(f"mastodon-sandbox: {self.domain} has no token of an account {who!r}", pytrace=False)
            token = saved.access_token
        return _mastodon_py(Endpoint(self.url, str(self.sandbox.state.ca_file)), token)


    @contextmanager
    def authorized_fetch(self) -> Iterator[None]:
        """Authorized fetch ("secure mode") on for the block: the instance answers only signed fetches of its
        ActivityPub documents. It is the instance's setting: keep the block short where tests share it. It is
        kept in the database, so a test killed inside the block leaves it on until `reset --group` (or a
        restore) puts back a state where it was off."""
        from ..lifecycle import set_authorized_fetch

        set_authorized_fetch(self.sandbox.stack, True)
        try:
            yield
        finally:
            set_authorized_fetch(self.sandbox.stack, False)


class Federation:
    """The group's instances by their short name (`federation["a"]`), and what happens between them."""

    def __init__(self, spec: FederationSpec, sandboxes: list, request):
        self.group = spec.group
        self.instances = {m.short: Instance(m.short, sb, request) for m, sb in zip(spec.members, sandboxes)}
        self.started = time.time()

    def __getitem__(self, short: str) -> Instance:
        return self.instances[short]

    def settle(self, timeout: float | None = None) -> dict:
        """Wait until no federation work is under way between the instances (`mastodon-sandbox settle --group`)."""
        from ..federation.traffic import settle_group

        return settle_group([i.sandbox for i in self.instances.values()], timeout=timeout)

    def seeded(self) -> dict:
        """What `mastodon-sandbox seed --group G` made between the instances (the group's seed.json: follows,
        mentions, replies, favourites and reblogs, each with the accts and the ids on both sides); fails the
        test in one line when the group is not seeded, or was seeded without one of these instances."""
        from ..federation.seed import load_group_summary

        found = load_group_summary(self.group)
        if found is None:
            pytest.fail(f"mastodon-sandbox: group {self.group!r} is not seeded: `mastodon-sandbox seed --group {self.group}` "
                        "seeds its members and the traffic between them (real Mastodon)", pytrace=False)
        missing = sorted(set(i.domain for i in self.instances.values()) - set(found["members"]))
        if missing:
            pytest.fail(f"mastodon-sandbox: group {self.group!r} was seeded without {', '.join(missing)}: make a new group "
                        "for these instances and `mastodon-sandbox seed --group` it", pytrace=False)
        return found

    def deliveries(self, since: float | None = None) -> list:
        """The traffic between the instances since this test began (or `since`, epoch seconds), oldest first."""
        from ..federation.traffic import deliveries

        start = self.started if since is None else since
        return [d for d in deliveries([i.sandbox for i in self.instances.values()]) if d.time >= start]

    @contextmanager
    def expose(self, port: int, host: str = "127.0.0.1", domain: str | None = None) -> Iterator[Any]:
        """An app this test serves at http://host:port, exposed to the instances as https://DOMAIN (default: a
        name of this xdist worker's own, app-gw0-1.localhost) until the block ends; yields the `Exposure`
        (`.name`, `.url`). `mastodon-sandbox expose` from Python."""
        from ..federation import exposure

        domain = domain or self._app_domain()
        if any(e.name == domain for e in exposure.exposures(self.group)):
            exposure.remove(self.group, domain)  # left by a run of this worker that was killed
        made = exposure.expose(self.group, domain, f"{host}:{port}")
        try:
            yield made
        finally:
            exposure.remove(self.group, domain)

    @contextmanager
    def actor(self, username: str = "bot") -> Iterator[Any]:
        """A minimal ActivityPub actor (sandbox/testing/actor.py) served by this test on this machine and exposed
        to the instances: `actor.handle` (@bot@app-gw0-1.localhost) is followable from every instance, its
        inbox records what they send, and it signs what it sends them."""
        from ..state import GroupState
        from .actor import Actor

        domain = self._app_domain()
        with Actor(domain, username, ca_bundle=str(GroupState(self.group).ca_file)) as actor, self.expose(actor.port, domain=domain):
            yield actor

    def _app_domain(self) -> str:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        return f"app-{worker}-{next(_APP_NUMBERS)}.localhost"

    def resolve(self, client, acct: str) -> dict:
        """The account `acct` (user@domain) as the instance of `client` sees it, fetched if need be
        (`search` with resolve=true); fails in one line when it cannot be found."""
        found = client.search_v2(acct, resolve=True, result_type="accounts")["accounts"]
        match = [a for a in found if a["acct"].lower() == acct.lower()]
        if not match:
            pytest.fail(f"mastodon-sandbox: {client.api_base_url} could not resolve {acct}", pytrace=False)
        return match[0]
