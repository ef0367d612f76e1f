"""The contract suite: the same tests against a sandbox (the default) or any Mastodon server, every response
body checked against the contract (sandbox/contract), a report of what was verified at the end.

Run it with `mastodon-sandbox contract [--target sandbox|remote] [--name NAME] [pytest args]`, or
`pytest --pyargs mastodon_sandbox.contract.suite` with the MASTODON_CONTRACT_* variables (target.py lists them).
"""
