"""The pytest plugin (registered through the `pytest11` entry point as `mastodon_sandbox`): fixtures that
hand tests a running sandbox, isolated accounts leased from its pool, ready clients and the data layer's
helpers. `plugin.py` holds the hooks and options, `fixtures.py` the fixtures, `leases.py` the pool."""
