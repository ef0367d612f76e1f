"""mastodon-sandbox: a local Mastodon sandbox and integration-test harness."""

__version__ = "0.1.0"
