"""The Mastodon API contract: JSON Schemas of the entities, per server version, and what to check each
response against (issue 13). Docker-free: the suite's live tests and the recorded responses both use it."""
