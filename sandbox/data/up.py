"""`up` as a whole: the sandbox's services started (lifecycle's steps), a snapshot save or restore a killed
command cut short finished, and accounts and tokens provisioned.

It lives in the data layer, the lowest that sees all three, so that the command line, the pytest plugin and
`snapshot import` (archive.py) bring a sandbox up the same way.
"""

from __future__ import annotations

from .. import lifecycle
from ..errors import SandboxError
from ..faults.layer import FaultLayer
from ..handle import Sandbox
from ..progress import Progress
from ..provision import provision as provision_accounts
from . import snapshots


def up(name: str, requested: dict, progress: Progress, provision: bool = True) -> Sandbox:
    """Create or start the sandbox `name` with the `requested` settings (checked before anything is made),
    wait until it serves clients, then provision accounts and tokens unless told not to."""
    made = lifecycle.make_or_reuse(name, requested, progress)
    sandbox = made.sandbox
    config, state = sandbox.config, sandbox.state
    if not made.is_new:
        # A save or restore cut short leaves Mastodon's processes frozen, which no health check sees.
        thawed = snapshots.thaw_unless_busy(sandbox)
        if thawed:
            progress.step(f"resumed {', '.join(thawed)}: a snapshot save or restore that was cut short left them frozen")
    upgraded = lifecycle.start(made, progress)
    if not made.is_new:
        # Before Mastodon is asked anything: a cut-short save or restore may have left its database closed, and
        # /api/v2/instance needs the database once Rails' 3-minute cache of it has expired (CacheConcern).
        snapshots.recover(sandbox, progress)
        _say_fault_rules(sandbox, progress)
    instance = lifecycle.wait_app_ready(config, state)
    if upgraded:
        # Rails' cache (Redis) still holds what the old version rendered, the instance bodies among them
        # (kept 3 minutes, CacheConcern#render_with_cache): clear it, as upstream's upgrade notes advise.
        progress.step("clearing Rails' cache after the upgrade (tootctl cache clear)")
        lifecycle.clear_cache(sandbox.stack)
        instance = lifecycle.wait_app_ready(config, state)
    progress.step(f"{config.base_url} is ready: {instance.get('title')} {instance.get('version')}")
    if provision:
        provision_accounts(sandbox, progress)
    lifecycle.apply_registrations(config, state, sandbox.stack, made.is_new, progress)
    return sandbox


def _say_fault_rules(sandbox: Sandbox, progress: Progress) -> None:
    """Rules outlive `down` and `up`: one for every request may be what the readiness check below runs into."""
    try:
        rules = FaultLayer(sandbox).rules()
    except SandboxError as e:
        progress.step(f"fault rules: {e}")
        return
    if rules:
        progress.step(f"{len(rules)} fault rule(s) set: `mastodon-sandbox faults list` shows them, "
                      "`faults clear` removes them")
