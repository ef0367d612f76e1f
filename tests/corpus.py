"""Real Mastodon v4.6.5 exchanges (../shared/corpus/mastodon-4.6.5-live), for tests that compare with them.

The folder sits beside the project, not in it: tests that need it skip, with the reason, where it is absent.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

LIVE = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "mastodon-4.6.5-live"
ABSENT = f"the shared corpus is absent ({LIVE})"
requires_live = pytest.mark.skipif(not LIVE.is_dir(), reason=ABSENT)


@functools.cache
def exchanges(flow: str) -> tuple[dict, ...]:
    """Every exchange of one recording, e.g. 'f2-tootctl.jsonl', in order."""
    path = LIVE / flow
    if not path.exists():
        pytest.skip(ABSENT)
    with path.open(encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f if line.strip())


def exchange(flow: str, label: str) -> dict:
    """The exchange with this label; a label the recording lacks is a bug in the test."""
    for rec in exchanges(flow):
        if rec.get("label") == label:
            return rec
    raise LookupError(f"{label!r} is not in {flow}")
