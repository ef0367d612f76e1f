"""pytest hooks and options of the mastodon-sandbox plugin. Loading it costs nothing: fixtures import the
package's heavier parts when a test first asks for them."""

from __future__ import annotations

# The fixtures live in their own module; pytest registers it along with this one.
pytest_plugins = ["sandbox.testing.fixtures"]


def pytest_addoption(parser):
    group = parser.getgroup("mastodon-sandbox", "a local Mastodon to test against")
    group.addoption("--mastodon-sandbox", dest="mastodon_sandbox", default=None,
                    help="the sandbox to test against (default: $SANDBOX_NAME or 'default')")
    group.addoption("--mastodon-sandbox-mode", dest="mastodon_sandbox_mode", choices=("warm", "cold"), default=None,
                    help="warm: use the running sandbox (default); cold: bring it up first, once for all workers")
    parser.addini("mastodon_sandbox", "the sandbox to test against", default="")
    parser.addini("mastodon_sandbox_mode", "warm (use the running sandbox) or cold (bring it up first)", default="")


def pytest_configure(config):
    config.addinivalue_line("markers", "mastodon_writes: the test writes to the sandbox (posts, follows, ...)")
