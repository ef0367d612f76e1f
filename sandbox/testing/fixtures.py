"""The plugin's fixtures. Everything heavy (Mastodon.py, requests sessions, provisioning) is imported when a
fixture is first used, not when pytest loads the plugin."""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest

from ..errors import SandboxError
from .targets import Endpoint, remote_target, targets_for


def _sandbox_for(config) -> Any:
    """The run's sandbox: opened when warm (it must be running), brought up under a host lock when cold
    (once for all xdist workers: the first takes the lock and starts it, the others find it running)."""
    from ..handle import Sandbox

    name = config.getoption("mastodon_sandbox") or config.getini("mastodon_sandbox") or os.environ.get("SANDBOX_NAME") or "default"
    mode = config.getoption("mastodon_sandbox_mode") or config.getini("mastodon_sandbox_mode") or "warm"
    if mode == "cold":
        from ..cli import one_at_a_time
        from ..config import settings_from_env
        from ..lifecycle import up
        from ..progress import Progress

        try:
            # SANDBOX_SERVER, SANDBOX_PORT, … choose what a new sandbox runs, as for `mastodon-sandbox up`.
            requested = settings_from_env()
            with one_at_a_time(name):  # the CLI's up/down/destroy lock
                return up(name, requested, Progress(quiet=True))
        except SandboxError as e:
            pytest.fail(f"mastodon-sandbox: bringing up sandbox {name!r} failed: {e}", pytrace=False)
    try:
        sandbox = Sandbox.open(name)
        sandbox.get("/health", timeout=5).raise_for_status()
    except (SandboxError, OSError):
        _missing(config, f"mastodon-sandbox: no running sandbox {name!r}: start it with `mastodon-sandbox up`, "
                         "or run with --mastodon-sandbox-mode=cold")
    except Exception as e:  # requests' errors: the sandbox does not answer
        _missing(config, f"mastodon-sandbox: sandbox {name!r} does not answer ({type(e).__name__}): "
                         "`mastodon-sandbox up` starts it")
    return sandbox


def _missing(config, message: str) -> None:
    """No sandbox to test against: an error, or a skip for those who ask for it (--mastodon-sandbox-missing)."""
    if (config.getoption("mastodon_sandbox_missing") or config.getini("mastodon_sandbox_missing")) == "skip":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def mastodon_sandbox(pytestconfig):
    """The sandbox of this run (a `sandbox.handle.Sandbox`: config, state folder, compose stack, url)."""
    return _sandbox_for(pytestconfig)


def _endpoint(sandbox) -> Endpoint:
    return Endpoint(sandbox.url, str(sandbox.state.ca_file))


def _session(endpoint: Endpoint, token: str | None):
    import requests

    s = requests.Session()
    s.trust_env = False  # the target's CA, whatever REQUESTS_CA_BUNDLE says
    s.verify = endpoint.verify
    if token:
        s.headers["Authorization"] = f"Bearer {token}"
    return s


_VERSIONS: dict[str, str] = {}  # the server's version per base URL, asked once a run


def _mastodon_py(endpoint: Endpoint, token: str):
    try:
        from mastodon import Mastodon
    except ImportError:
        pytest.fail("the mastodon_client fixtures need Mastodon.py: pip install 'mastodon-sandbox[pytest]'", pytrace=False)

    # Mastodon.py asks the instance for its version whenever a client is made unless told: ask once.
    version = _VERSIONS.get(endpoint.url)
    api = Mastodon(access_token=token, api_base_url=endpoint.url, session=_session(endpoint, None), mastodon_version=version)
    if version is None:
        _VERSIONS[endpoint.url] = api.retrieve_mastodon_version()
    return api


def _may_restore(config) -> bool:
    """Warm mode never restores a sandbox the run did not create unless asked (--mastodon-sandbox-restore);
    cold mode made it for the run."""
    mode = config.getoption("mastodon_sandbox_mode") or config.getini("mastodon_sandbox_mode") or "warm"
    return mode == "cold" or bool(config.getoption("mastodon_sandbox_restore") or config.getini("mastodon_sandbox_restore"))


def _restore_for(config, sandbox, snapshot: str) -> None:
    from ..data import snapshots

    if not _may_restore(config):
        pytest.fail(f"mastodon-sandbox: the test asks for snapshot {snapshot!r}, which would change sandbox "
                    f"{sandbox.name!r} (not made by this run): pass --mastodon-sandbox-restore to allow it",
                    pytrace=False)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or config._mastodon_run_id
    safety = f"before-pytest-{run[:8]}"
    # The sandbox as the run found it, saved once (whichever worker comes first) before anything is restored.
    with sandbox.state.lock("safety-snapshot"):
        if safety not in {m["name"] for m in snapshots.list_snapshots(sandbox)}:
            snapshots.save(sandbox, safety)
    snapshots.restore(sandbox, snapshot)


@pytest.fixture(autouse=True)
def _mastodon_sandbox_in_use(request):
    """A test that uses the sandbox holds the shared side of its in-use lock for its whole run, so a restore
    or reset (the exclusive side, any process) never changes the state under it; a `mastodon_snapshot`
    marker restores that snapshot first. A `mastodon_exclusive` test holds the exclusive side: it waits for
    the tests running in other workers, and they wait for it; what it starts (the CLI, an inner pytest run)
    may restore or reset under it (State.rwlock)."""
    if not any(name.startswith("mastodon_") for name in request.fixturenames) or (
            "mastodon_target" in request.fixturenames and request.getfixturevalue("mastodon_target") == "remote"):
        yield
        return
    from ..data.snapshots import IN_USE

    sandbox = request.getfixturevalue("mastodon_sandbox")
    marker = request.node.get_closest_marker("mastodon_snapshot")
    if marker:
        _restore_for(request.config, sandbox, marker.args[0])
    with sandbox.state.rwlock(IN_USE, shared=request.node.get_closest_marker("mastodon_exclusive") is None):
        yield


def pytest_generate_tests(metafunc):
    """--mastodon-target=both: a test using the client fixtures runs once per target its marker allows."""
    from .targets import chosen

    if "mastodon_target" in metafunc.fixturenames and chosen(metafunc.config) == "both":
        metafunc.parametrize("mastodon_target", targets_for(metafunc.config, metafunc.definition), indirect=True)


@pytest.fixture
def mastodon_target(request) -> str:
    """`sandbox` or `remote`: what this test's client fixtures talk to (--mastodon-target)."""
    return getattr(request, "param", None) or targets_for(request.config, request.node)[0]


def _endpoint_of(request, target: str) -> Endpoint:
    return remote_target().endpoint if target == "remote" else _endpoint(request.getfixturevalue("mastodon_sandbox"))


@pytest.fixture
def mastodon_accounts(mastodon_target, request) -> Callable[[int], list]:
    """Lease fresh accounts for this test: `mastodon_accounts(2)` gives two `Lease`s (username, id, email,
    token, password) that no other test has had or will have. On the remote target: the one or two accounts
    the tokens belong to, and a test marked `mastodon_writes` is skipped unless writes were allowed."""
    if mastodon_target == "remote":
        remote = remote_target()
        if request.node.get_closest_marker("mastodon_writes") and not remote.writes:
            pytest.skip("the remote target is read-only: MASTODON_CONTRACT_WRITES=1 allows writes on your bot accounts")

        def mine(count: int = 1) -> list:
            if count > len(remote.leases):
                pytest.fail(f"mastodon-sandbox: the remote target has {len(remote.leases)} account(s) "
                            "(MASTODON_CONTRACT_TOKEN, MASTODON_CONTRACT_TOKEN_2)", pytrace=False)
            return list(remote.leases[:count])
        return mine
    from .leases import BULK_SCOPES, REFILL, lease

    mastodon_sandbox = request.getfixturevalue("mastodon_sandbox")

    needed = request.node.get_closest_marker("mastodon_scopes")
    missing = set(needed.args if needed else ()) - set(BULK_SCOPES.split())
    if missing:
        pytest.fail(f"mastodon-sandbox: leased accounts' tokens carry {BULK_SCOPES!r}, not {' '.join(sorted(missing))}: "
                    "use mastodon_admin for admin scopes", pytrace=False)

    config = request.config
    refill = int(config.getoption("mastodon_pool_refill") or config.getini("mastodon_pool_refill") or REFILL)

    def take(count: int = 1) -> list:
        return lease(mastodon_sandbox, count, holder=request.node.nodeid, refill=refill)
    return take


@pytest.fixture
def mastodon_account(mastodon_accounts):
    """One fresh account of this test's own."""
    return mastodon_accounts(1)[0]


@pytest.fixture
def mastodon_client(mastodon_target, mastodon_account, request):
    """A Mastodon.py client of the test's own account, trusting the target's CA."""
    return _mastodon_py(_endpoint_of(request, mastodon_target), mastodon_account.token)


@pytest.fixture
def mastodon_session(mastodon_target, mastodon_account, request):
    """A requests.Session of the test's own account: its token, the target's CA."""
    return _session(_endpoint_of(request, mastodon_target), mastodon_account.token)


@pytest.fixture
def mastodon_client_for(mastodon_target, request):
    """A factory: Mastodon.py client for a Lease, a token, or (on the sandbox) a named account's default token."""
    endpoint = _endpoint_of(request, mastodon_target)

    def make(who) -> Any:
        if hasattr(who, "token"):
            return _mastodon_py(endpoint, who.token)
        token = who
        if mastodon_target == "sandbox":
            from ..provision import env_exports

            exports = env_exports(request.getfixturevalue("mastodon_sandbox").state)
            token = exports.get(f"MASTODON_ACCESS_TOKEN_{str(who).upper()}", who)
        return _mastodon_py(endpoint, token)
    return make


@pytest.fixture(scope="session")
def mastodon_admin(mastodon_sandbox):
    """A Mastodon.py client of the sandbox's Owner (admin scopes included)."""
    from ..provision import env_exports

    token = env_exports(mastodon_sandbox.state).get("MASTODON_ADMIN_ACCESS_TOKEN")
    if not token:
        raise SandboxError(f"sandbox {mastodon_sandbox.name!r} has no Owner token: `mastodon-sandbox up` provisions one")
    return _mastodon_py(_endpoint(mastodon_sandbox), token)


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


@pytest.fixture
def mastodon_stream(mastodon_target, request):
    """Open a stream before acting, wait for its events after: `stream = mastodon_stream(account)` (user
    stream; `stream="public"`, `stream="hashtag", tag="x"`, …), then `stream.wait("notification", match=…,
    timeout=30)`. Closed after the test."""
    from .streaming import Stream

    endpoint = _endpoint_of(request, mastodon_target)
    opened: list[Stream] = []

    def open_stream(who=None, stream: str = "user", **kwargs) -> Stream:
        token = who.token if hasattr(who, "token") else who
        opened.append(Stream(endpoint, token, stream, **kwargs))
        return opened[-1]
    yield open_stream
    for s in opened:
        s.close()


@pytest.fixture(scope="session")
def mastodon_seed(mastodon_sandbox) -> dict:
    """What `mastodon-sandbox seed` made (seed.json): accounts, statuses, polls, lists by their plan keys."""
    from ..data.seed import load_summary

    summary = load_summary(mastodon_sandbox)
    if summary is None:
        raise SandboxError(f"sandbox {mastodon_sandbox.name!r} is not seeded: `mastodon-sandbox seed` first")
    return summary
