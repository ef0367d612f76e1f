"""pytest hooks and options of the mastodon-sandbox plugin. Loading it costs nothing: fixtures import the
package's heavier parts when a test first asks for them."""

from __future__ import annotations

import os

import pytest

from .settings import KEY, PluginSettings, settings

# The fixtures live in their own module; pytest registers it along with this one (by this package's own name:
# pytest loads the plugin as mastodon_sandbox.testing.plugin, the package's one import name).
pytest_plugins = [f"{__package__}.fixtures"]
# The plugin's own fixtures: a test using one of them uses the sandbox (a user's own mastodon_x fixture does not).
SANDBOX_FIXTURES = frozenset({
    "mastodon_sandbox", "mastodon_target", "mastodon_accounts", "mastodon_account", "mastodon_client",
    "mastodon_session", "mastodon_client_for", "mastodon_client_with_token", "mastodon_session_with_token",
    "mastodon_stream", "mastodon_admin", "mastodon_app", "mastodon_settle", "mastodon_run_due", "mastodon_seed",
    "mastodon_token", "mastodon_rate_limits", "mastodon_faults",
})


def pytest_addoption(parser):
    group = parser.getgroup("mastodon-sandbox", "a local Mastodon to test against")
    group.addoption("--mastodon-sandbox", dest="mastodon_sandbox", default=None,
                    help="the sandbox to test against (default: $SANDBOX_NAME or 'default')")
    group.addoption("--mastodon-sandbox-state-dir", dest="mastodon_sandbox_state_dir", default=None, metavar="DIR",
                    help="the state folder holding the sandboxes' folders (default: $SANDBOX_STATE_DIR, else the "
                         "mastodon_sandbox_state_dir ini key, else .sandbox at the root path)")
    group.addoption("--mastodon-sandbox-mode", dest="mastodon_sandbox_mode", choices=("warm", "cold"), default=None,
                    help="warm: use the running sandbox (default); cold: bring it up first, once for all workers")
    group.addoption("--mastodon-sandbox-restore", dest="mastodon_sandbox_restore", action="store_true", default=False,
                    help="allow tests marked mastodon_snapshot to restore a running sandbox this run did not create "
                         "(it is saved first as before-pytest-<run>; the plugin keeps its last 3 of those). Without "
                         "it such a test fails in one line, in a warm run")
    group.addoption("--mastodon-sandbox-missing", dest="mastodon_sandbox_missing", choices=("fail", "skip"), default=None,
                    help="when the sandbox is not there or not running: fail (default: the tests that need it are "
                         "not run, the run fails with one line) or skip them with that line")
    group.addoption("--mastodon-target", dest="mastodon_target", choices=("sandbox", "remote", "both"), default=None,
                    help="what the client fixtures talk to: the sandbox (default), a remote instance "
                         "(MASTODON_CONTRACT_URL, _TOKEN, _TOKEN_2, _CA, _WRITES), or both (tests run once per target)")
    group.addoption("--mastodon-pool-refill", dest="mastodon_pool_refill", type=int, default=None,
                    help="how many accounts the lease pool grows by when it runs short (default 8)")
    group.addoption("--mastodon-federation", dest="mastodon_federation", default=None, metavar="GROUP:a,b@4.3",
                    help="the sandboxes mastodon_federation gives (default fed:a,b: sandboxes fed-a and fed-b, served as "
                         "a.localhost and b.localhost; @VERSION for one on another Mastodon); brought up on first use")
    parser.addini("mastodon_federation", "the federation group of mastodon_federation, e.g. fed:a,b@4.3", default="")
    parser.addini("mastodon_pool_refill", "how many accounts the lease pool grows by when it runs short", default="")
    parser.addini("mastodon_target", "sandbox, remote or both", default="")
    parser.addini("mastodon_sandbox", "the sandbox to test against", default="")
    parser.addini("mastodon_sandbox_restore", "allow restoring snapshots on a warm sandbox", type="bool", default=False)
    parser.addini("mastodon_sandbox_missing", "fail (default) or skip when the sandbox is not running", default="")
    parser.addini("mastodon_sandbox_mode", "warm (use the running sandbox) or cold (bring it up first)", default="")
    parser.addini("mastodon_sandbox_state_dir", "the state folder holding the sandboxes' folders, relative to the "
                  "ini file (default: .sandbox at the root path)", default="")


def pytest_configure(config):
    config.stash[KEY] = chosen = PluginSettings.resolve(config)
    # Set in the environment so that xdist workers and the CLI run by fixtures agree.
    os.environ["SANDBOX_STATE_DIR"] = str(chosen.state_dir)
    from ..federation import names

    names.install()  # sandboxes with their own domain (NAME.localhost) resolve in the tests, /etc/hosts or not
    config.addinivalue_line("markers", "mastodon_writes: the test writes to the sandbox (posts, follows, ...)")
    config.addinivalue_line("markers", "mastodon_snapshot(name): restore this snapshot ('seeded': what `seed` made) "
                                       "before the test, which then has the sandbox to itself (cold mode, or warm with "
                                       "--mastodon-sandbox-restore; otherwise it fails in one line)")
    config.addinivalue_line("markers", "mastodon_scopes(*scopes): scopes the test's leased accounts' tokens must carry "
                                       "(a check, not a narrowing: they carry read write follow push; "
                                       "mastodon_token(account, scopes) makes a narrower one)")
    config.addinivalue_line("markers", "mastodon_targets(*targets): the targets the test supports (sandbox, remote); "
                                       "it is deselected under the others")
    config.addinivalue_line("markers", "mastodon_exclusive: the test changes the sandbox for everyone (restarts "
                                       "services, changes settings, restores snapshots): no other test uses it meanwhile")


def pytest_report_header(config):
    """Which sandbox the run uses, and where it looked for it."""
    chosen = settings(config)
    line = f"mastodon-sandbox: sandbox {chosen.sandbox!r} in {chosen.state_dir}"
    try:
        from ..state import State

        made = State(chosen.sandbox).load_config()
        line += f" ({made.server} server, Mastodon {made.release.version}, {made.base_url})"
    except Exception:  # not made yet, or damaged: the run says so in one line when a test needs it
        line += " (not there yet)"
    return f"{line}; mode {chosen.mode}, target {chosen.target}"


@pytest.hookimpl(trylast=True)  # after -m, -k and other plugins have deselected what they would
def pytest_collection_modifyitems(config, items):
    """A test whose `mastodon_targets` marker excludes every chosen target is deselected, not skipped. When the
    sandbox the tests need is not there or does not answer, they are not run: the run fails with one line
    saying why (once, however many tests and workers), unless --mastodon-sandbox-missing=skip."""
    from .targets import targets_for

    left_out = [item for item in items if item.get_closest_marker("mastodon_targets") and not targets_for(config, item)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
    _leave_out_without_sandbox(config, items)


# Fixtures that talk to the chosen target (the remote one too); every other mastodon_* fixture is the sandbox's.
TARGETED = {"mastodon_target", "mastodon_accounts", "mastodon_account", "mastodon_client", "mastodon_session",
            "mastodon_client_for", "mastodon_client_with_token", "mastodon_session_with_token", "mastodon_stream"}


def needs_sandbox(config, item) -> bool:
    from .targets import targets_for

    names = [n for n in getattr(item, "fixturenames", ()) if n in SANDBOX_FIXTURES]
    if not names:
        return False
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get("mastodon_target") if callspec else None
    target = target or (targets_for(config, item) or ["sandbox"])[0]
    return target != "remote" or any(n not in TARGETED for n in names)


def _leave_out_without_sandbox(config, items) -> None:
    from .fixtures import sandbox_problem

    chosen = settings(config)
    if config.option.collectonly or chosen.mode == "cold" or chosen.missing == "skip":
        return  # cold mode makes the sandbox; skip mode skips each test with the line (folded into one by -rs)
    needing = [item for item in items if needs_sandbox(config, item)]
    problem = sandbox_problem(config)[0] if needing else None
    if problem is None:
        return
    config.hook.pytest_deselected(items=needing)
    items[:] = [item for item in items if item not in needing]
    config._mastodon_missing = [problem, len(needing)]
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller says it, once
        config.workeroutput["mastodon_missing"] = config._mastodon_missing


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist's controller: what its workers found missing (each finds the same)."""
    missing = getattr(node, "workeroutput", {}).get("mastodon_missing")
    if missing:
        node.config._mastodon_missing = missing


def pytest_sessionfinish(session, exitstatus):
    if getattr(session.config, "_mastodon_missing", None):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    missing = getattr(config, "_mastodon_missing", None)
    if missing:
        problem, count = missing
        terminalreporter.write_line(f"{problem} ({count} test(s) that need it were not run)", red=True, bold=True)
