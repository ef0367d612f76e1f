"""The data layer: seed scenarios rendered into plans and applied through the API as the users themselves,
background work settled, due work run now, snapshots and reset, export and import, and `up` as a whole (up.py:
it finishes a snapshot operation cut short, so it sits here, above the orchestration and provisioning it runs)."""
