"""Faults on demand: rules that make chosen requests fail on purpose in front of a real Mastodon.

rules.py checks a rule and says what is wrong with it in one line; layer.py keeps a sandbox's rules in its state
folder (faults/), routes the named accounts' requests through the fault layer (compose/proxy/faultd.py) and reads
its log; cli.py is `mastodon-sandbox faults`. The pytest fixture is `mastodon_faults` (testing/fixtures.py).
"""
