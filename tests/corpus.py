"""Real Mastodon v4.6.5 exchanges (tests/recordings/mastodon-4.6.5-live), for tests that compare with them.

The recordings live in the project (tests/recordings/README.md), so every test runs on a fresh clone.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

RECORDINGS = Path(__file__).resolve().parent / "recordings"
LIVE = RECORDINGS / "mastodon-4.6.5-live"
PRE_4_4 = RECORDINGS / "mastodon-pre-4.4"


@functools.cache
def exchanges(flow: str) -> tuple[dict, ...]:
    """Every exchange of one recording, e.g. 'f2-tootctl.jsonl', in order."""
    with (LIVE / flow).open(encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f if line.strip())


def exchange(flow: str, label: str) -> dict:
    """The exchange with this label; a label the recording lacks is a bug in the test."""
    for rec in exchanges(flow):
        if rec.get("label") == label:
            return rec
    raise LookupError(f"{label!r} is not in {flow}")
