"""The README's example bot suite, run with the project's tests: it uses only the plugin's fixtures, as a
user's suite would; here it is marked as needing a running real Mastodon."""

import pytest


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "example_bot" in item.nodeid:
            item.add_marker(pytest.mark.docker)
            item.add_marker(pytest.mark.needs_mastodon)
