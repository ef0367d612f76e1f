"""Make the stand-in's package (compose/standin/standin) importable for its unit tests."""
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STANDIN = os.path.join(REPO, "compose", "standin")
if STANDIN not in sys.path:
    sys.path.insert(0, STANDIN)
