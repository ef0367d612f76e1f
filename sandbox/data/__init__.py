"""The data layer: seed scenarios rendered into plans and applied through the API as the users themselves,
background work settled, due work run now (and, later, reset and snapshots)."""
