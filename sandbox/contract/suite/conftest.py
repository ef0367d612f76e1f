"""The suite's hooks and fixtures live in plugin.py (see there why it is a plugin of its own).
`mastodon-sandbox contract` loads it with -p as mastodon_sandbox.contract.suite.plugin while pytest names
this folder by its path (sandbox.contract.suite): the same module under two names must not register twice."""

import sys

_PLUGIN = "contract.suite.plugin"
pytest_plugins = [] if any(name.endswith(_PLUGIN) for name in sys.modules) else [f"{__package__}.plugin"]
