"""Running now what Mastodon's clock would run later: scheduled statuses must lie more than 5 minutes
ahead and polls last at least 5 minutes, so a test publishes and ends them on demand instead of waiting."""

from __future__ import annotations

import json

from .. import server_commands
from ..errors import SandboxError
from ..handle import Sandbox

OUTPUT_PREFIX = "SANDBOX-JSON "


def run_due(sandbox: Sandbox, within: float = 7 * 24 * 3600) -> dict[str, list[str]]:
    """Publish the scheduled statuses due within `within` seconds and end the polls closing within it.
    Returns {"published": [scheduled status ids], "polls_ended": [poll ids]}."""
    if sandbox.config.server == "standin":
        raise SandboxError("the stand-in does not offer scheduled statuses or polls: run-due needs real Mastodon (SANDBOX_SERVER=source or official)")
    proc = sandbox.stack.exec(*server_commands.run_due(), input=json.dumps({"within": int(within)}))
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(OUTPUT_PREFIX):
            return json.loads(line[len(OUTPUT_PREFIX):])
    lines = [x for x in (proc.stderr or proc.stdout).splitlines() if x.strip()]
    raise SandboxError(f"run-due failed: {lines[0][:200] if lines else f'exit code {proc.returncode}'}")
