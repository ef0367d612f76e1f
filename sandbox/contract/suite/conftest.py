"""The suite's hooks and fixtures live in plugin.py (see there why it is a plugin of its own).
`mastodon-sandbox contract` loads it with -p as mastodon_sandbox.contract.suite.plugin; a bare
`pytest --pyargs mastodon_sandbox.contract.suite` gets it from here. In a checkout pytest names this folder by
its path (sandbox.contract.suite), so this file and the test modules import the package by its one name,
mastodon_sandbox, never relatively: one copy of every module and class."""

import sys

PLUGIN = "mastodon_sandbox.contract.suite.plugin"
pytest_plugins = [] if PLUGIN in sys.modules else [PLUGIN]
