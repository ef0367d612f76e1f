"""The plugin's fixtures. Everything heavy (Mastodon.py, requests sessions, provisioning) is imported when a
fixture is first used, not when pytest loads the plugin."""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest

from ..errors import SandboxError


def _sandbox_for(config) -> Any:
    """The run's sandbox: opened when warm (it must be running), brought up under a host lock when cold
    (once for all xdist workers: the first takes the lock and starts it, the others find it running)."""
    from ..handle import Sandbox
    from ..state import State

    name = config.getoption("mastodon_sandbox") or config.getini("mastodon_sandbox") or os.environ.get("SANDBOX_NAME") or "default"
    mode = config.getoption("mastodon_sandbox_mode") or config.getini("mastodon_sandbox_mode") or "warm"
    if mode == "cold":
        from ..lifecycle import up
        from ..progress import Progress

        with State(name).lock("up"):
            return up(name, {}, Progress(quiet=True))
    try:
        sandbox = Sandbox.open(name)
        sandbox.get("/health", timeout=5).raise_for_status()
    except (SandboxError, OSError):
        pytest.fail(f"mastodon-sandbox: no running sandbox {name!r}: start it with `mastodon-sandbox up`, "
                    "or run with --mastodon-sandbox-mode=cold", pytrace=False)
    except Exception as e:  # requests' errors: the sandbox does not answer
        pytest.fail(f"mastodon-sandbox: sandbox {name!r} does not answer ({type(e).__name__}): "
                    "`mastodon-sandbox up` starts it", pytrace=False)
    return sandbox


@pytest.fixture(scope="session")
def mastodon_sandbox(pytestconfig):
    """The sandbox of this run (a `sandbox.handle.Sandbox`: config, state folder, compose stack, url)."""
    return _sandbox_for(pytestconfig)


def _session(sandbox, token: str | None):
    import requests

    s = requests.Session()
    s.trust_env = False  # the sandbox's CA, whatever REQUESTS_CA_BUNDLE says
    s.verify = str(sandbox.state.ca_file)
    if token:
        s.headers["Authorization"] = f"Bearer {token}"
    return s


def _mastodon_py(sandbox, token: str):
    try:
        from mastodon import Mastodon
    except ImportError:
        pytest.fail("the mastodon_client fixtures need Mastodon.py: pip install 'mastodon-sandbox[pytest]'", pytrace=False)

    return Mastodon(access_token=token, api_base_url=sandbox.url, session=_session(sandbox, None))


@pytest.fixture
def mastodon_accounts(mastodon_sandbox, request) -> Callable[[int], list]:
    """Lease fresh accounts for this test: `mastodon_accounts(2)` gives two `Lease`s (username, id, email,
    token, password) that no other test has had or will have."""
    from .leases import lease

    def take(count: int = 1) -> list:
        return lease(mastodon_sandbox, count, holder=request.node.nodeid)
    return take


@pytest.fixture
def mastodon_account(mastodon_accounts):
    """One fresh account of this test's own."""
    return mastodon_accounts(1)[0]


@pytest.fixture
def mastodon_client(mastodon_sandbox, mastodon_account):
    """A Mastodon.py client of the test's own account, trusting the sandbox's CA."""
    return _mastodon_py(mastodon_sandbox, mastodon_account.token)


@pytest.fixture
def mastodon_session(mastodon_sandbox, mastodon_account):
    """A requests.Session of the test's own account: its token, the sandbox's CA."""
    return _session(mastodon_sandbox, mastodon_account.token)


@pytest.fixture
def mastodon_client_for(mastodon_sandbox):
    """A factory: Mastodon.py client for a Lease, a token, or a named account's default token."""
    from ..provision import env_exports

    def make(who) -> Any:
        if hasattr(who, "token"):
            return _mastodon_py(mastodon_sandbox, who.token)
        exports = env_exports(mastodon_sandbox.state)
        token = exports.get(f"MASTODON_ACCESS_TOKEN_{str(who).upper()}", who)
        return _mastodon_py(mastodon_sandbox, token)
    return make


@pytest.fixture(scope="session")
def mastodon_admin(mastodon_sandbox):
    """A Mastodon.py client of the sandbox's Owner (admin scopes included)."""
    from ..provision import env_exports

    token = env_exports(mastodon_sandbox.state).get("MASTODON_ADMIN_ACCESS_TOKEN")
    if not token:
        raise SandboxError(f"sandbox {mastodon_sandbox.name!r} has no Owner token: `mastodon-sandbox up` provisions one")
    return _mastodon_py(mastodon_sandbox, token)


@pytest.fixture(scope="session")
def mastodon_app(mastodon_sandbox) -> dict:
    """The sandbox's registered app: name, client_id, client_secret, scopes."""
    from ..provision.credentials import Credentials

    return Credentials.load(mastodon_sandbox.state).app("mastodon-sandbox")


@pytest.fixture
def mastodon_settle(mastodon_sandbox) -> Callable[..., Any]:
    """Wait until Sidekiq has done the background work a test set off (fan-out, notifications, media)."""
    from ..data.settle import settle

    return lambda timeout=None: settle(mastodon_sandbox, timeout=timeout, quiet_for=2.0)


@pytest.fixture
def mastodon_run_due(mastodon_sandbox) -> Callable[..., dict]:
    """Publish scheduled statuses and end polls now (real Mastodon)."""
    from ..data.due import run_due

    return lambda within=7 * 24 * 3600: run_due(mastodon_sandbox, within=within)


@pytest.fixture(scope="session")
def mastodon_seed(mastodon_sandbox) -> dict:
    """What `mastodon-sandbox seed` made (seed.json): accounts, statuses, polls, lists by their plan keys."""
    from ..data.seed import load_summary

    summary = load_summary(mastodon_sandbox)
    if summary is None:
        raise SandboxError(f"sandbox {mastodon_sandbox.name!r} is not seeded: `mastodon-sandbox seed` first")
    return summary
