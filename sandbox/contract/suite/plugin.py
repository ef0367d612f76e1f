"""The suite's hooks and fixtures: the target and its accounts, the outcomes that are the server's rather
than the suite's (quirks, missing capabilities, pacing), and the report at the end of the run.

The suite's conftest.py loads this module. `mastodon-sandbox contract` also names it with `-p`, because under
xdist the controller collects nothing, so would never load the conftest nor print the workers' report
(`pytest --pyargs mastodon_sandbox.contract.suite -n 4 -p mastodon_sandbox.contract.suite.plugin` does the same by hand)."""

from __future__ import annotations

import inspect
import json
import os
import uuid
from pathlib import Path

import pytest

from ...errors import SandboxError
from ...state import State
from ..cleanup import CleanupList
from ..client import (
    Client,
    Context,
    RateLimitedAnyway,
    ReadOnly,
    ScopeMissing,
    ServerQuirk,
)
from ..pacing import REMOTE_BUDGET, BudgetSpent, Paced, Pacer, WriteBudget
from ..report import Report, called_in, named_in
from ..target import (
    OPTIONS,
    Settings,
    StandIn,
    TargetError,
    check_remote,
    http_session,
    probe_sandbox,
    standin_message,
)
from .support import Actor, ContractRun, Lacks

HERE = Path(__file__).resolve().parent
REPORT = pytest.StashKey[Report]()
_WORKER_OUTPUT = "mastodon_contract_report"


def pytest_addoption(parser):
    for option in OPTIONS:
        if option.ini:
            parser.addini(option.ini, f"contract suite: {option.help} (${option.env})", default="")


def pytest_configure(config):
    config.stash[REPORT] = Report()
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_MergeWorkerReports(config), "mastodon-contract-xdist")


def _ours(item) -> bool:
    return Path(str(item.path)).resolve().is_relative_to(HERE)


def _settings(config) -> Settings:
    return Settings.read(os.environ, lambda name: config.getini(name))


def _sandbox_name(config) -> str:
    # The plugin's settings (sandbox/testing/settings.py), when pytest loaded it, as it does for an installed package.
    from ...testing.settings import KEY

    chosen = config.stash.get(KEY, None)
    return chosen.sandbox if chosen else (os.environ.get("SANDBOX_NAME") or "default")


def pytest_collection_modifyitems(config, items):
    """On the stand-in nothing runs: one skip reason for every test (the CLI refuses it outright)."""
    ours = [item for item in items if _ours(item)]
    if not ours:
        return
    try:
        settings = _settings(config)
    except TargetError as e:
        raise pytest.UsageError(f"contract suite: {e}") from None
    if settings.target != "sandbox":
        return
    state = State(_sandbox_name(config))
    try:
        server = state.load_config().server if state.exists() else None
    except SandboxError:  # a damaged state folder: the sandbox fixture says so
        return
    if server == "standin":
        skip = pytest.mark.skip(reason=standin_message(f"sandbox {state.name!r}"))
        for item in ours:
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """A test begins: the endpoints it reaches are its own (a skip names them in the report)."""
    item.config.stash[REPORT].touched.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Quirks are the server's (reported like an xfail); pacing, the write budget and a remote token's
    missing scope skip with the reason; a 429 the pacing did not prevent stops the run in one line. A skip
    goes in the contract report with the endpoints it names (coverage by area)."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or not _ours(item):
        return
    error = call.excinfo.value
    if isinstance(error, ServerQuirk):
        report.outcome = "skipped"
        report.wasxfail = f"server quirk: {error}"
    elif isinstance(error, (Lacks, Paced, BudgetSpent, ScopeMissing, ReadOnly)):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {error}")
    elif isinstance(error, RateLimitedAnyway):
        report.longrepr = str(error)
        item.session.shouldstop = str(error)
    if report.skipped and not hasattr(report, "wasxfail") and isinstance(report.longrepr, tuple):
        _record_skip(item, str(report.longrepr[2]).removeprefix("Skipped: "))


def _record_skip(item, reason: str) -> None:
    """The skip's reason, with the endpoints the test reached, its reason names, and its code asks for."""
    contract_report = item.config.stash[REPORT]
    endpoints = set(contract_report.touched) | named_in(reason)
    function = getattr(item, "function", None)
    try:
        endpoints |= called_in(inspect.getsource(function)) if function else set()
    except (OSError, TypeError):
        pass
    contract_report.skipped(reason, endpoints)


@pytest.fixture(scope="session")
def contract(request) -> ContractRun:
    """The run: the server under test (its version read once), its accounts, the report and cleanup."""
    report = request.config.stash[REPORT]
    try:
        settings = _settings(request.config)
        run = _sandbox_run(request, report) if settings.target == "sandbox" else _remote_run(settings, report, request.config)
    except StandIn as e:
        pytest.skip(str(e))
    except TargetError as e:
        pytest.exit(f"contract suite: {e}", returncode=2)
    report.server = {"url": run.server.base_url, "target": run.target, "version": str(run.server.version),
                     "api_version": run.server.api_version,
                     "writes": "on" if run.writes else f"off ({run.why_no_writes})"}
    yield run
    if run.remote and run.writes:
        run.report_cleanup(run.finish(), earlier=run.earlier)
    elif not run.remote:
        run.finish_admin()


def _context(server, report: Report, remote: bool, budget: WriteBudget, session, read_only: bool = False) -> Context:
    return Context(server=server, report=report, pacer=Pacer(), budget=budget, session=session, remote=remote,
                   read_only=read_only)


def _sandbox_run(request, report: Report) -> ContractRun:
    from ...testing.leases import lease

    sandbox = request.getfixturevalue("mastodon_sandbox")
    session, server = probe_sandbox(sandbox)
    run = ContractRun(_context(server, report, False, WriteBudget(None), session), f"sandbox {sandbox.name!r}",
                      writes=True, cleanup=CleanupList(None, sandbox.url))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    mine, other = lease(sandbox, 2, holder=f"contract suite ({worker})")
    for role, leased in (("me", mine), ("peer", other)):
        client = run.client(leased.token, role)
        setattr(run, role, Actor(client, client.get("/api/v1/accounts/verify_credentials").body))
    return run


def _run_and_worker(config) -> tuple[str, str]:
    """Which run and which of its processes this is: xdist's workers share the run's testrunuid."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput:
        return workerinput["testrunuid"], workerinput["workerid"]
    return uuid.uuid4().hex, "main"


def _remote_run(settings: Settings, report: Report, config) -> ContractRun:
    remote = check_remote(settings)
    server = remote.server
    share = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    budget = WriteBudget(REMOTE_BUDGET, share=share)
    context = _context(server, report, True, budget, http_session(server.base_url), read_only=not settings.writes)
    run = ContractRun(context, "remote",
                      writes=settings.writes, cleanup=CleanupList.for_server(settings.state, server.base_url, *_run_and_worker(config)),
                      why_no_writes="" if settings.writes else "read-only: MASTODON_CONTRACT_WRITES=1 allows writes on bot accounts")
    run.me = Actor(run.client(settings.token, "me"), remote.me)
    if remote.peer:
        run.peer = Actor(run.client(settings.token_2, "peer"), remote.peer)
    else:
        run.why_no_peer = "needs a second account: set MASTODON_CONTRACT_TOKEN_2"
    if settings.writes:
        run.earlier = run.finish(earlier=True).undone  # first what earlier runs left
    else:
        left = run.cleanup.counted_here(run.cleanup.pending(), run.owners)
        if left:
            report.cleanup = {"left": len(left), "file": str(run.cleanup.path),
                              "stopped": "a read-only run deletes nothing: MASTODON_CONTRACT_WRITES=1 deletes them"}
    return run


# --- the accounts and the things the tests share --------------------------------------------------------

@pytest.fixture(scope="session")
def anon(contract) -> Client:
    """No token: what anyone may read."""
    return contract.client(None, "anonymous")


@pytest.fixture(scope="session")
def me(contract) -> Actor:
    return contract.me


@pytest.fixture(scope="session")
def peer(contract) -> Actor:
    """A second account of the run's own (follows, mentions, votes and direct messages go only to it)."""
    if contract.peer is None:
        pytest.skip(contract.why_no_peer)
    return contract.peer


@pytest.fixture(scope="session")
def admin(contract, request) -> Actor:
    """An account the admin API answers (admin:read admin:write, and a role that may use it): on the sandbox
    its Owner (or Admin) with its saved admin-scoped token; on a remote whichever configured token the admin
    API answers, else a skip with the reason. Its writes are the run's: none on a read-only remote."""
    if contract.admin is None and not contract.why_no_admin:
        if contract.remote:
            _remote_admin(contract)
        else:
            _sandbox_admin(contract, request.getfixturevalue("mastodon_sandbox"))
    if contract.admin is None:
        pytest.skip(contract.why_no_admin)
    return contract.admin


@pytest.fixture(scope="session")
def admin_writes(contract, admin) -> Actor:
    """The admin account, when the run may write; a skip with the reason otherwise."""
    if not contract.writes:
        pytest.skip(contract.why_no_writes)
    return admin


def _sandbox_admin(run: ContractRun, sandbox) -> None:
    """The sandbox's Owner, else an Admin (config accounts, as `env` exports MASTODON_ADMIN_ACCESS_TOKEN), with a
    saved user token carrying both admin scopes (provision/provisioner.py gives them to staff by default)."""
    from ...provision.credentials import Credentials
    from ...provision.provisioner import ADMIN_SCOPES, STAFF_ROLES

    creds, wanted = Credentials.load(sandbox.state), set(ADMIN_SCOPES.split())
    staff = [a.username for role in STAFF_ROLES for a in sandbox.config.accounts if a.role == role]
    if not staff:
        run.why_no_admin = f"sandbox {sandbox.name!r} has no Owner or Admin account (SANDBOX_ACCOUNTS, e.g. admin:Owner)"
        return
    for username in staff:
        default = creds.default_token(username)
        tokens = ([default] if default else []) + [t for t in creds.tokens_of(username) if t.flow != "client"]
        token = next((t for t in tokens if wanted <= set(t.scopes)), None)
        if token is None:
            continue
        client = run.client(token.access_token, "admin")
        answer = client.get("/api/v1/accounts/verify_credentials", expect=(200, 401))
        if answer.status == 200:
            run.admin = Actor(client, answer.body)
            return
    run.why_no_admin = (f"sandbox {sandbox.name!r} has no working token with {ADMIN_SCOPES} for "
                        f"{' or '.join(staff)}: `mastodon-sandbox token {staff[0]} --name {sandbox.name} --new` mints one")


def _remote_admin(run: ContractRun) -> None:
    """The first configured account whose token the admin API answers (a GET of one account: 403 for a token
    without admin:read, or whose role may not manage users)."""
    for actor in (run.me, run.peer):
        if actor is None:
            continue
        answer = actor.api.get("/api/v1/admin/accounts", params={"limit": 1}, expect=(200, 403), entity=None)
        if answer.status == 200:
            run.admin = actor
            return
    run.why_no_admin = ("no configured token may use the admin API (403 on GET /api/v1/admin/accounts): it needs the "
                        "admin:read and admin:write scopes and a role that may manage users (Admin or Owner)")


@pytest.fixture(scope="session")
def writes(contract) -> ContractRun:
    """The run, when it may write; a skip with the reason otherwise."""
    if not contract.writes:
        pytest.skip(contract.why_no_writes)
    return contract


@pytest.fixture(scope="session")
def my_status(writes, me) -> dict:
    """One status of the run's own, with the run's word and hashtag."""
    return writes.post(me, f"Contract suite run {writes.tag}: checking the API. #{writes.tag}")


@pytest.fixture(scope="session")
def my_reply(writes, me, my_status) -> dict:
    """A reply to my_status, so that it has a thread (and the account two statuses to page through)."""
    return writes.post(me, f"and a reply in the thread of {writes.tag}", in_reply_to_id=my_status["id"])


@pytest.fixture(scope="session")
def some_status(contract, me, request) -> dict:
    """A status to read: the run's own when it writes, else the newest of the account's or the home feed."""
    if contract.writes:
        return request.getfixturevalue("my_status")
    for path in (f"/api/v1/accounts/{me.id}/statuses", "/api/v1/timelines/home"):
        statuses = me.api.get(path, params={"limit": 1}).body
        if statuses:
            return statuses[0]
    pytest.skip("no status to read: the account has none and its home feed is empty (a read-only run posts none)")


# --- the report ---------------------------------------------------------------------------------------

def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints
        workeroutput[_WORKER_OUTPUT] = json.dumps(session.config.stash[REPORT].to_json())


class _MergeWorkerReports:
    def __init__(self, config):
        self.config = config

    def pytest_testnodedown(self, node, error):
        data = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
        if data:
            self.config.stash[REPORT].merge(json.loads(data))


def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, "workerinput"):
        return
    report = config.stash.get(REPORT, None)
    if report is None or not (report.server or report.breaks):
        return
    terminalreporter.section("Mastodon contract")
    for line in report.lines():
        terminalreporter.write_line(line)
    try:
        path = _settings(config).report
    except TargetError:
        path = None
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_json(with_coverage=True), indent=2, sort_keys=True) + "\n")
        terminalreporter.write_line(f"report: {path}")
