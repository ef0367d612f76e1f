"""A federation group's snapshots: its members saved, or put back, together. Restoring one alone would leave the
others' view of it wrong (their follows of its accounts, their copies of its statuses), so each command checks
every member first, and changes none when one of them cannot take part."""

from __future__ import annotations

from ..data import snapshots
from ..data.snapshots import Restored
from ..errors import SandboxError
from ..handle import Sandbox
from ..progress import Progress
from .traffic import settle_group


def save_group(members: list[Sandbox], name: str, progress: Progress, replace: bool = False) -> list[dict]:
    """Snapshot `name` of every member, taken once nothing is under way between them."""
    snapshots.check_name(name)
    taken = [sb.name for sb in members if snapshots.manifest_path(sb, name).is_file()]
    if taken and not replace:
        raise SandboxError(f"snapshot {name!r} exists on {', '.join(taken)}: delete it there first, or save under another name")
    progress.step(f"waiting until nothing is under way between {', '.join(sb.config.domain for sb in members)}")
    settle_group(members)
    return [snapshots.save(sb, name, progress, replace=replace) for sb in members]


def restore_group(members: list[Sandbox], name: str, progress: Progress) -> list[Restored]:
    """Snapshot `name` put back on every member; none is touched unless all have it and can take it back."""
    for sb in members:
        try:
            snapshots.restorable(sb, name)
        except SandboxError as e:
            raise SandboxError(f"{sb.name}: {e} (no member was restored)") from None
    return [snapshots.restore(sb, name, progress) for sb in members]
