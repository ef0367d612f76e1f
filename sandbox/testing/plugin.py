"""pytest hooks and options of the mastodon-sandbox plugin. Loading it costs nothing: fixtures import the
package's heavier parts when a test first asks for them."""

from __future__ import annotations

# The fixtures live in their own module; pytest registers it along with this one (by this package's own name:
# pytest loads the plugin as mastodon_sandbox.testing.plugin, see mastodon_sandbox/__init__.py).
pytest_plugins = [f"{__package__}.fixtures"]


def pytest_addoption(parser):
    group = parser.getgroup("mastodon-sandbox", "a local Mastodon to test against")
    group.addoption("--mastodon-sandbox", dest="mastodon_sandbox", default=None,
                    help="the sandbox to test against (default: $SANDBOX_NAME or 'default')")
    group.addoption("--mastodon-sandbox-mode", dest="mastodon_sandbox_mode", choices=("warm", "cold"), default=None,
                    help="warm: use the running sandbox (default); cold: bring it up first, once for all workers")
    group.addoption("--mastodon-sandbox-restore", dest="mastodon_sandbox_restore", action="store_true", default=False,
                    help="allow tests marked mastodon_snapshot to restore a running sandbox this run did not create "
                         "(a snapshot of it is saved first)")
    group.addoption("--mastodon-sandbox-missing", dest="mastodon_sandbox_missing", choices=("fail", "skip"), default=None,
                    help="when the sandbox is not running: fail (default) or skip the tests that need it")
    group.addoption("--mastodon-target", dest="mastodon_target", choices=("sandbox", "remote", "both"), default=None,
                    help="what the client fixtures talk to: the sandbox (default), a remote instance "
                         "(MASTODON_CONTRACT_URL, _TOKEN, _TOKEN_2, _CA, _WRITES), or both (tests run once per target)")
    group.addoption("--mastodon-pool-refill", dest="mastodon_pool_refill", type=int, default=None,
                    help="how many accounts the lease pool grows by when it runs short (default 8)")
    parser.addini("mastodon_pool_refill", "how many accounts the lease pool grows by when it runs short", default="")
    parser.addini("mastodon_target", "sandbox, remote or both", default="")
    parser.addini("mastodon_sandbox", "the sandbox to test against", default="")
    parser.addini("mastodon_sandbox_restore", "allow restoring snapshots on a warm sandbox", type="bool", default=False)
    parser.addini("mastodon_sandbox_missing", "fail (default) or skip when the sandbox is not running", default="")
    parser.addini("mastodon_sandbox_mode", "warm (use the running sandbox) or cold (bring it up first)", default="")
    parser.addini("mastodon_sandbox_state_dir", "where sandboxes keep their state (default: .sandbox at the root path)",
                  default="")


def pytest_configure(config):
    import os
    import uuid

    # The project's sandboxes, wherever in it pytest starts: $SANDBOX_STATE_DIR, the ini key, else
    # <rootpath>/.sandbox, which is where `mastodon-sandbox up` run at the project's top put them.
    # Set in the environment so that xdist workers and the CLI run by fixtures agree.
    state = os.environ.get("SANDBOX_STATE_DIR") or config.getini("mastodon_sandbox_state_dir")
    os.environ["SANDBOX_STATE_DIR"] = str(config.rootpath / (state or ".sandbox"))
    config.addinivalue_line("markers", "mastodon_writes: the test writes to the sandbox (posts, follows, ...)")
    config.addinivalue_line("markers", "mastodon_snapshot(name): restore this snapshot before the test (cold mode, "
                                       "or warm with --mastodon-sandbox-restore)")
    config.addinivalue_line("markers", "mastodon_scopes(*scopes): the OAuth scopes the test's leased accounts need")
    config.addinivalue_line("markers", "mastodon_targets(*targets): the targets the test supports (sandbox, remote); "
                                       "it is deselected under the others")
    config.addinivalue_line("markers", "mastodon_exclusive: the test changes the sandbox for everyone (restarts "
                                       "services, changes settings, restores snapshots): no other test uses it meanwhile")
    config._mastodon_run_id = uuid.uuid4().hex  # names this run's safety snapshot when xdist gives no run id


def pytest_collection_modifyitems(config, items):
    """A test whose `mastodon_targets` marker excludes every chosen target is deselected, not skipped."""
    from .targets import targets_for

    left_out = [item for item in items if item.get_closest_marker("mastodon_targets") and not targets_for(config, item)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
