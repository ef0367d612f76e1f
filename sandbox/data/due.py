"""Running now what Mastodon's clock would run later: scheduled statuses must lie more than 5 minutes
ahead and polls last at least 5 minutes, so a test publishes and ends them on demand instead of waiting."""

from __future__ import annotations

import json

from .. import server_commands
from ..errors import SandboxError, command_failed
from ..handle import Sandbox

def run_due(sandbox: Sandbox, within: float = 7 * 24 * 3600, poll_ids=None, scheduled_ids=None) -> dict[str, list[str]]:
    """Publish the scheduled statuses due within `within` seconds and end the polls closing within it, the whole
    sandbox's (every account's, other tests' too). With `poll_ids` or `scheduled_ids` (ids, as the API gives
    them), only those polls are ended and those scheduled statuses published, whenever they fall due; naming
    one kind leaves the other alone. Returns {"published": [scheduled status ids], "polls_ended": [poll ids]}."""
    if sandbox.config.server == "standin":
        raise SandboxError("the stand-in does not offer scheduled statuses or polls: run-due needs real Mastodon (SANDBOX_SERVER=source or official)")
    spec: dict = {"within": int(within)}
    if poll_ids is not None or scheduled_ids is not None:
        for key, ids in (("poll_ids", poll_ids), ("scheduled_ids", scheduled_ids)):
            ids = [str(i) for i in (ids or [])]
            bad = [i for i in ids if not i.isdigit()]
            if bad:
                raise SandboxError(f"run-due: {key} are numbers, as the API gives them: not {bad[0]!r}")
            spec[key] = ids
    proc = sandbox.stack.exec(*server_commands.run_due(), input=json.dumps(spec))
    done = server_commands.runner_result("run_due", proc.stdout)
    if done is None:
        raise command_failed("run-due failed", proc.returncode, proc.stdout, proc.stderr, ruby=True)
    return done
