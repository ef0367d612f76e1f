"""The plugin's fixtures. Everything heavy (Mastodon.py, requests sessions, provisioning) is imported when a
fixture is first used, not when pytest loads the plugin."""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest

from ..errors import SandboxError
from .plugin import SANDBOX_FIXTURES
from .settings import settings
from .targets import Endpoint, remote_target, targets_for


STATE_DIR_HINT = "--mastodon-sandbox-state-dir, $SANDBOX_STATE_DIR or the mastodon_sandbox_state_dir ini key"


def sandbox_problem(config) -> tuple[str | None, Any]:
    """(one line saying why the run's sandbox cannot be used, None) or (None, the opened sandbox): not in the state
    folder (naming the folder, and what it holds), a state folder that does not exist (the folder is then the
    likely mistake), made by other compose files, or not answering."""
    from ..handle import Sandbox
    from ..state import State, no_sandbox

    name = settings(config).sandbox
    try:
        state = State(name)
        if not state.exists():
            message = no_sandbox(name, state.dir.parent, STATE_DIR_HINT, "--mastodon-sandbox")
            cold = " (or run with --mastodon-sandbox-mode=cold)" if state.dir.parent.is_dir() else ""
            return f"mastodon-sandbox: {message}{cold}", None
        sandbox = Sandbox.open(name)
    except SandboxError as e:
        return f"mastodon-sandbox: {e}", None
    try:
        sandbox.get("/health", timeout=5).raise_for_status()
    except Exception as e:  # requests' errors, OSError: the sandbox does not answer
        return (f"mastodon-sandbox: sandbox {name!r} (in the state folder {state.dir.parent}) does not answer at "
                f"{sandbox.url} ({type(e).__name__}): `mastodon-sandbox up --name {name}` starts it"), None
    return None, sandbox


def _sandbox_for(config) -> Any:
    """The run's sandbox: opened when warm (it must be running), brought up under a host lock when cold
    (once for all xdist workers: the first takes the lock and starts it, the others find it running)."""
    name = settings(config).sandbox
    if settings(config).mode == "cold":
        from ..config import settings_from_env
        from ..data.up import up
        from ..lifecycle import one_at_a_time
        from ..progress import Progress

        try:
            # SANDBOX_SERVER, SANDBOX_PORT, … choose what a new sandbox runs, as for `mastodon-sandbox up`.
            requested = settings_from_env()
            with one_at_a_time(name):  # the CLI's up/down/destroy lock
                return up(name, requested, Progress(quiet=True))
        except SandboxError as e:
            pytest.fail(f"mastodon-sandbox: bringing up sandbox {name!r} failed: {e}", pytrace=False)
    problem, sandbox = sandbox_problem(config)
    if problem:
        _missing(config, problem)
    return sandbox


def _missing(config, message: str) -> None:
    """No sandbox to test against: an error, or a skip for those who ask for it (--mastodon-sandbox-missing).
    (A warm run finds this out before any test, in pytest_collection_modifyitems: this is for a sandbox that
    went away during the run.)"""
    if settings(config).missing == "skip":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def mastodon_sandbox(pytestconfig):
    """The sandbox of this run, a `sandbox.handle.Sandbox`: `.url` (https://localhost[:PORT]), `.name`,
    `.config` (server, version, port, …), `.state.ca_file` (the sandbox's CA, PEM: what verifies its
    certificate), `.state.bundle_file` (the system's CAs plus that one), `.state.dir` (its folder in the state
    folder), `.get(path)` (an HTTPS GET verified by the CA) and `.stack.exec(service, argv)` (a command in a
    container: web, sidekiq, db, …)."""
    return _sandbox_for(pytestconfig)


def _endpoint(sandbox) -> Endpoint:
    return Endpoint(sandbox.url, str(sandbox.state.ca_file))


def _session(endpoint: Endpoint, token: str | None):
    from ..provision.http import VerifiedSession

    s = VerifiedSession(endpoint.verify)  # the target's CA, whatever REQUESTS_CA_BUNDLE says
    if token:
        s.headers["Authorization"] = f"Bearer {token}"
    return s


_VERSIONS: dict[str, str] = {}  # the server's version per base URL, asked once a run


def _mastodon_py(endpoint: Endpoint, token: str | None):
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
    return settings(config).mode == "cold" or settings(config).restore


SAFETY_PREFIX = "before-pytest-"
SAFETY_KEEP = 3  # the plugin's own safety snapshots kept (the newest), so that runs never fill the 13 a sandbox has
SAFETY_RE = re.compile(rf"{SAFETY_PREFIX}[0-9a-f]{{8}}")


def safety_snapshots_to_prune(manifests: list[dict], keep: int) -> list[str]:
    """The plugin's own safety snapshots (before-pytest-<8 hex>) beyond the newest `keep`, oldest first; every
    other snapshot is the user's and never touched."""
    ours = sorted((m for m in manifests if SAFETY_RE.fullmatch(m.get("name", ""))), key=lambda m: (m.get("created", ""), m["name"]))
    return [m["name"] for m in ours[:max(len(ours) - keep, 0)]]


def _restore_for(config, sandbox, snapshot: str) -> None:
    """Under the exclusive side of the in-use lock: the sandbox saved once a run (before-pytest-<run>, older
    ones pruned to the newest SAFETY_KEEP), then `snapshot` restored."""
    from ..data import snapshots

    run = settings(config).run_id
    safety = f"{SAFETY_PREFIX}{run[:8]}"
    # The sandbox as the run found it, saved once (whichever worker comes first) before anything is restored.
    with sandbox.state.lock("safety-snapshot"):
        manifests = snapshots.list_snapshots(sandbox)
        if safety not in {m["name"] for m in manifests}:
            for old in safety_snapshots_to_prune(manifests, SAFETY_KEEP - 1):
                snapshots.delete(sandbox, old)
            snapshots.save(sandbox, safety)
    snapshots.restore(sandbox, snapshot)


@pytest.fixture(autouse=True)
def _mastodon_sandbox_in_use(request):
    """A test that uses the sandbox holds the shared side of its in-use lock for its whole run, so a restore
    or reset (the exclusive side, any process) never changes the state under it. A `mastodon_snapshot` test
    holds the exclusive side for its whole run: its snapshot is restored first, then the test runs alone (its
    leases are taken after the restore), so it sees the snapshot and its own changes only. A
    `mastodon_exclusive` test holds the exclusive side too: it waits for the tests running in other workers,
    and they wait for it; what it starts (the CLI, an inner pytest run) may restore or reset under it
    (State.rwlock)."""
    if not SANDBOX_FIXTURES.intersection(request.fixturenames) or (
            "mastodon_target" in request.fixturenames and request.getfixturevalue("mastodon_target") == "remote"):
        yield
        return
    from ..data.snapshots import IN_USE

    sandbox = request.getfixturevalue("mastodon_sandbox")
    marker = request.node.get_closest_marker("mastodon_snapshot")
    if marker and not _may_restore(request.config):
        pytest.fail(f"mastodon-sandbox: the test asks for snapshot {marker.args[0]!r}, which would change sandbox "
                    f"{sandbox.name!r} (not made by this run): pass --mastodon-sandbox-restore to allow it", pytrace=False)
    exclusive = marker is not None or request.node.get_closest_marker("mastodon_exclusive") is not None
    with sandbox.state.rwlock(IN_USE, shared=not exclusive):
        if marker:
            _restore_for(request.config, sandbox, marker.args[0])
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
    """Lease fresh accounts for this test: `mastodon_accounts(2)` gives a list of two `Lease`s (frozen
    dataclasses: username, id, email, token, password; sandbox/testing/leases.py) that no other test has had.
    Their tokens carry `read write follow push` (bulk flow). Each call leases new ones: they are not
    `mastodon_account`'s. A lease lasts until a snapshot is restored: the ledger goes back with the restore.
    On the remote target: the one or two accounts the tokens belong to, and a test marked `mastodon_writes`
    is skipped unless writes were allowed."""
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
    from .leases import BULK_SCOPES, lease

    mastodon_sandbox = request.getfixturevalue("mastodon_sandbox")

    needed = request.node.get_closest_marker("mastodon_scopes")
    missing = set(needed.args if needed else ()) - set(BULK_SCOPES.split())
    if missing:
        pytest.fail(f"mastodon-sandbox: leased accounts' tokens carry {BULK_SCOPES!r}, not {' '.join(sorted(missing))}: "
                    "use mastodon_admin for admin scopes", pytrace=False)

    config = request.config
    refill = settings(config).pool_refill

    def take(count: int = 1) -> list:
        return lease(mastodon_sandbox, count, holder=request.node.nodeid, refill=refill)
    return take


@pytest.fixture
def mastodon_account(mastodon_accounts):
    """One fresh account of this test's own (a `Lease`): the account of `mastodon_client` and
    `mastodon_session`, leased apart from any `mastodon_accounts(n)` gives the same test."""
    return mastodon_accounts(1)[0]


@pytest.fixture
def mastodon_client(mastodon_target, mastodon_account, request):
    """A Mastodon.py client (`mastodon.Mastodon`) of `mastodon_account`, trusting the target's CA."""
    return _mastodon_py(_endpoint_of(request, mastodon_target), mastodon_account.token)


@pytest.fixture
def mastodon_session(mastodon_target, mastodon_account, request):
    """A `requests.Session` of `mastodon_account`: its token as a Bearer header, the target's CA (and
    REQUESTS_CA_BUNDLE ignored: provision.http.VerifiedSession). Give it full URLs: `mastodon_sandbox.url + "/api/v1/…"`."""
    return _session(_endpoint_of(request, mastodon_target), mastodon_account.token)


def _token_of(request, target: str, who, fixture: str) -> str:
    """The token of a Lease, or of an account named by its username: on the sandbox a named account's default
    token (alice, bob, the Owner) or any account's saved user token (seed accounts); on the remote target one of
    the accounts its tokens belong to. Anything else fails in one line."""
    if hasattr(who, "token"):
        return who.token
    if not isinstance(who, str):
        pytest.fail(f"mastodon-sandbox: {fixture}() takes a Lease or a username, not {type(who).__name__}", pytrace=False)
    raw = f"; a token of your own: {fixture.replace('_for', '')}_with_token(token)" if fixture.endswith("_for") else \
        "; a token of your own: token=…"
    if target == "remote":
        known = {lease.username: lease.token for lease in remote_target().leases}
        if who not in known:
            pytest.fail(f"mastodon-sandbox: {fixture}({who!r}): the remote target's accounts are {', '.join(known)}{raw}",
                        pytrace=False)
        return known[who]
    from ..provision.credentials import Credentials

    sandbox = request.getfixturevalue("mastodon_sandbox")
    creds = Credentials.load(sandbox.state)
    saved = creds.default_token(who) or next((t for t in creds.tokens_of(who) if t.flow != "client"), None)
    if not saved:
        named = sorted(n for n, acct in creds.accounts.items() if not acct.pool and creds.tokens_of(n))
        pytest.fail(f"mastodon-sandbox: {fixture}({who!r}): sandbox {sandbox.name!r} has no token of an account {who!r} "
                    f"(it has: {', '.join(named[:12]) or 'none'}{' …' if len(named) > 12 else ''}){raw}", pytrace=False)
    return saved.access_token


@pytest.fixture
def mastodon_client_for(mastodon_target, request):
    """A factory of Mastodon.py clients by account: `mastodon_client_for(lease)` for a `Lease` from
    `mastodon_account(s)`, `mastodon_client_for("alice")` for an account named by its username (the sandbox's
    named accounts — alice, bob, admin (owner on 4.3) — and seed accounts: their saved token). A raw token is
    `mastodon_client_with_token(token)`'s."""
    endpoint = _endpoint_of(request, mastodon_target)
    return lambda who: _mastodon_py(endpoint, _token_of(request, mastodon_target, who, "mastodon_client_for"))


@pytest.fixture
def mastodon_client_with_token(mastodon_target, request):
    """A factory of Mastodon.py clients for any token: `mastodon_client_with_token(token)` — a narrowed one
    (`mastodon_token`), an app token, a revoked or made-up one (for 401s) — or `None` for no token at all.
    TLS is right whatever REQUESTS_CA_BUNDLE says."""
    endpoint = _endpoint_of(request, mastodon_target)
    return lambda token=None: _mastodon_py(endpoint, token)


@pytest.fixture
def mastodon_session_with_token(mastodon_target, request):
    """A factory of `requests.Session`s for any token (or `None`: no Authorization header), trusting the
    target's CA whatever REQUESTS_CA_BUNDLE says. A session you build yourself needs `trust_env = False` (or
    `verify=` on every request): requests lets REQUESTS_CA_BUNDLE override `Session.verify`."""
    endpoint = _endpoint_of(request, mastodon_target)
    return lambda token=None: _session(endpoint, token)


@pytest.fixture
def mastodon_token(mastodon_sandbox) -> Callable[..., str]:
    """A factory of new tokens with exactly the scopes asked for (sandbox only), for tests of 403s:
    `mastodon_token(lease_or_username, "read")` is a user token of that account (OAuth code flow through the
    sign-in page: Mastodon allows 25 sign-ins per 5 minutes per IP; `flow="bulk"` avoids them at ~20 s a Rails
    run); `mastodon_token(None, "read")` is an app token (client credentials: no user). Scopes are a string
    ("read write:statuses") or a list."""
    from ..provision.credentials import scope_key
    from ..provision.provisioner import Provisioner

    def mint(who=None, scopes="read", flow: str | None = None) -> str:
        wanted = scope_key(scopes if isinstance(scopes, str) else " ".join(scopes))
        prov = Provisioner(mastodon_sandbox)
        try:
            if who is None:
                return prov._client_token(wanted, reuse=True).access_token
            username = who.username if hasattr(who, "username") else str(who)
            return prov.token(username, flow or "code", wanted).access_token
        except SandboxError as e:
            pytest.fail(f"mastodon-sandbox: mastodon_token: {e}", pytrace=False)
    return mint


@pytest.fixture(scope="session")
def mastodon_admin(mastodon_sandbox):
    """A Mastodon.py client of the sandbox's Owner (admin, or owner on 4.3; admin scopes included). Shared by
    every test: not an isolated account."""
    from ..provision import env_exports

    token = env_exports(mastodon_sandbox.state).get("MASTODON_ADMIN_ACCESS_TOKEN")
    if not token:
        raise SandboxError(f"sandbox {mastodon_sandbox.name!r} has no Owner token: `mastodon-sandbox up` provisions one")
    return _mastodon_py(_endpoint(mastodon_sandbox), token)


@pytest.fixture(scope="session")
def mastodon_app(mastodon_sandbox) -> dict:
    """The sandbox's registered app, `mastodon-sandbox`, as a dict: name, id, client_id, client_secret, scopes
    (a list: every scope the server supports) and redirect_uris (a list; urn:ietf:wg:oauth:2.0:oob first)."""
    from ..provision.credentials import Credentials

    app = Credentials.load(mastodon_sandbox.state).app("mastodon-sandbox")
    return app.to_json() if app else None


@pytest.fixture
def mastodon_settle(mastodon_sandbox) -> Callable[..., Any]:
    """`mastodon_settle(timeout=None)`: wait until Sidekiq has done the background work a test set off
    (fan-out to home timelines, notifications, media) — every queue of the sandbox, other tests' work too."""
    from ..data.settle import settle

    return lambda timeout=None: settle(mastodon_sandbox, timeout=timeout)


class RateLimits:
    """Mastodon's own rate limits reached at once for this test's accounts (sandbox/data/limits.py)."""

    def __init__(self, sandbox):
        self.sandbox, self.keys = sandbox, []

    def reach(self, who, name: str) -> None:
        """Bring `who` (a lease: `.id` and `.token`) to Mastodon's limit `name` (e.g. "throttle_api_media",
        "statuses"): its next request that counts is refused by Mastodon with a 429 and X-RateLimit-* headers."""
        from ..data.limits import reach

        self.keys += reach(self.sandbox, name, str(who.id), getattr(who, "token", "") or "")

    def release(self) -> None:
        from ..data.limits import release

        keys, self.keys = self.keys, []
        release(self.sandbox, keys)


@pytest.fixture
def mastodon_rate_limits(mastodon_sandbox):
    """`mastodon_rate_limits.reach(lease, "throttle_api_media")`: the lease's next media upload gets Mastodon's own
    429 (its body, X-RateLimit-Limit/Remaining/Reset), without the 30 uploads before it. Limits kept per account,
    user or token only (sandbox/data/limits.py lists them), so other tests never see them; released when the test
    ends, even when it fails."""
    limits = RateLimits(mastodon_sandbox)
    yield limits
    limits.release()


class LeaseFaults:
    """The fault rules of one test, on its own leased accounts only (sandbox/faults/layer.py)."""

    def __init__(self, sandbox, holder: str):
        from ..faults.layer import FaultLayer

        self.sandbox, self.holder, self.layer, self.ids = sandbox, holder, FaultLayer(sandbox), []

    def add(self, who, **rule):
        """A rule on `who`'s requests (a Lease of this test's), in force when this returns: one of `status=503`,
        `delay=20`, `close=True`, `cut_after_events=N` / `cut_after=SECONDS`; matched by `method`, `path` (a
        glob) and `stream`; limited by `count`, `probability` (with `seed`) and `duration`. Returns the Rule."""
        from .leases import holder_of

        name = getattr(who, "username", None)
        if not hasattr(who, "token") or holder_of(self.sandbox, name) != self.holder:
            what = f"account {name!r}" if name else f"a {type(who).__name__}"  # never its repr: a token is a str
            raise SandboxError(f"mastodon_faults takes this test's own leased accounts (mastodon_account, "
                               f"mastodon_accounts), not {what}: another test's requests must never see its faults")
        made = self.layer.add(account=name, **rule)
        self.ids.append(made.id)
        return made

    def log(self) -> list[dict]:
        """The faults this test's rules made, oldest first: time, rule, action, status, method, path, account."""
        return [entry for entry in self.layer.log() if entry["rule"] in self.ids]

    def clear(self) -> None:
        ids, self.ids = self.ids, []
        if ids:
            self.layer.clear(ids, missing_ok=True)


@pytest.fixture
def mastodon_faults(mastodon_sandbox, request):
    """Faults on demand for this test's own leased accounts: `mastodon_faults.add(mastodon_account, status=503,
    path="/api/v1/statuses", method="POST", count=1)` makes that request fail with Mastodon's own 503, in front
    of the real server. Rules apply to the leases' tokens only, so tests under xdist never see each other's
    faults; they are removed when the test ends, even when it fails. `.log()` lists what they did."""
    faults = LeaseFaults(mastodon_sandbox, request.node.nodeid)
    yield faults
    faults.clear()


@pytest.fixture
def mastodon_run_due(mastodon_sandbox) -> Callable[..., dict]:
    """Publish scheduled statuses and end polls now, as the clock would later (real Mastodon):
    `mastodon_run_due(poll_ids=[poll["id"]])` ends this test's own polls, `scheduled_ids=[…]` publishes its own
    scheduled statuses; `mastodon_run_due()` does it for everything of the whole sandbox falling due within a
    week (`within=` seconds), other tests' polls included. Returns {"published": [ids], "polls_ended": [ids]}."""
    from ..data.due import run_due

    def run(within: float = 7 * 24 * 3600, poll_ids=None, scheduled_ids=None) -> dict:
        return run_due(mastodon_sandbox, within=within, poll_ids=poll_ids, scheduled_ids=scheduled_ids)
    return run


@pytest.fixture
def mastodon_stream(mastodon_target, request):
    """Open a stream before acting, wait for its events after: `stream = mastodon_stream(account)` opens the
    user stream of a `Lease` or a username (`token=` for a token of your own; none: public streams only).
    `stream=` is any of the streaming API's: user, user:notification, public, public:local, public:remote,
    public:media, public:local:media, public:remote:media, direct, hashtag and hashtag:local (with `tag=`),
    list (with `list_id=`). Over WebSocket, trusting the target's CA. `stream.wait("notification", match=…,
    timeout=30)` returns the next matching event's payload as plain JSON — a dict (Status, Notification,
    Conversation, …), the id string for `delete` — and fails naming what arrived instead. Closed after the test."""
    from .streaming import Stream

    endpoint = _endpoint_of(request, mastodon_target)
    opened: list[Stream] = []

    def open_stream(who=None, stream: str = "user", *, token: str | None = None, **kwargs) -> Stream:
        if who is not None:
            token = _token_of(request, mastodon_target, who, "mastodon_stream")
        opened.append(Stream(endpoint, token, stream, **kwargs))
        return opened[-1]
    yield open_stream
    for s in opened:
        s.close()


@pytest.fixture(scope="session")
def mastodon_seed(mastodon_sandbox) -> dict:
    """What `mastodon-sandbox seed` made (seed.json), a dict: accounts, statuses, polls, lists, … by their plan
    keys, with usernames and ids. On a sandbox never seeded, the tests using it are skipped with one line."""
    from ..data.seed import load_summary

    summary = load_summary(mastodon_sandbox)
    if summary is None:
        pytest.skip(f"sandbox {mastodon_sandbox.name!r} is not seeded: `mastodon-sandbox seed --name {mastodon_sandbox.name}` "
                    "fills it (real Mastodon)")
    return summary


@pytest.fixture(scope="session")
def _mastodon_federation_sandboxes(pytestconfig) -> list:
    """The federation group's sandboxes, brought up once a run where they are not running; a new member runs on
    the server of the run's sandbox (its source folder too) when there is one, else as SANDBOX_* ask."""
    from ..config import settings_from_env
    from ..state import State
    from .federation import bring_up, parse_spec

    spec = parse_spec(settings(pytestconfig).federation)
    base = {k: v for k, v in settings_from_env().items() if k not in ("port", "hostname", "group")}
    main = State(settings(pytestconfig).sandbox)
    if main.exists():
        made = main.load_config()
        base.update(server=made.server, source_dir=made.source_dir, version=made.version)
    try:
        return bring_up(spec, base)
    except SandboxError as e:
        pytest.fail(f"mastodon-sandbox: the federation {settings(pytestconfig).federation!r} could not be brought up: {e}", pytrace=False)


@pytest.fixture
def mastodon_federation(_mastodon_federation_sandboxes, request):
    """Several sandboxes that federate (the plugin's federation setting, default `fed:a,b`): a `Federation` whose
    instances are `federation["a"]`, `federation["b"]` (each: `.domain`, `.url`, `.accounts(n)` leased for this
    test, `.client(lease_or_username)` a Mastodon.py client, `.acct(lease)` = user@domain), with
    `federation.resolve(client, acct)` (the remote account as that client's instance sees it),
    `federation.settle()` (until no delivery, fetch or retry is under way between them) and
    `federation.deliveries()` (the ActivityPub requests between them since the test began, from their proxies)."""
    from .federation import Federation, parse_spec

    return Federation(parse_spec(settings(request.config).federation), _mastodon_federation_sandboxes, request)
