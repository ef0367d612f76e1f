"""Which compose files drive a sandbox. A checkout (compose/) and an installed package (sandbox/_compose) each
carry their own copy, maybe of another version: `up` records in the sandbox's folder which copy made it and a
digest of its content (compose.json), and every other command checks that the copy it would use has the same
content. The same content from another place works (a wheel built from the checkout that made the sandbox);
other content is refused in one line naming both, until `up` with the new copy takes the sandbox over (it
recreates the containers whose definition changed, keeping the data, as after updating a checkout)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from . import __version__
from .config import compose_dir
from .errors import SandboxError
from .state import State

# Not part of the compose files' content: what the package does not ship (pyproject.toml: the SeaweedFS binary
# put there at run time, caches, dotfiles other than .dockerignore), so a checkout and its wheel agree.
NOT_CONTENT = ("images/seaweedfs/weed",)


def _counts(path: Path, root: Path) -> bool:
    rel = path.relative_to(root)
    if rel.as_posix() in NOT_CONTENT or "__pycache__" in rel.parts or path.suffix == ".pyc":
        return False
    return not any(part.startswith(".") and part != ".dockerignore" for part in rel.parts)


@lru_cache(maxsize=8)
def digest(folder: Path) -> str:
    """A digest of the compose files and image recipes in `folder`: their relative paths and contents."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and _counts(p, folder)):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def current() -> dict:
    folder = compose_dir().resolve()
    return {"compose_dir": str(folder), "digest": digest(folder), "package": __version__}


def recorded(state: State) -> dict | None:
    """What made the sandbox (None for one made before this was recorded)."""
    return state.read_json(state.compose_record_file, default=None)


def record(state: State) -> dict:
    """`up` writes which copy of the compose files it used: from now on the sandbox is driven with its content."""
    now = current()
    if recorded(state) != now:
        state.write_json(state.compose_record_file, now)
    return now


def check(state: State) -> None:
    """Refuses, in one line, to drive a sandbox with compose files whose content differs from those that made it."""
    made = recorded(state)
    if not made:
        return  # made before compose.json existed: its next `up` records it
    now = current()
    if made.get("digest") == now["digest"]:
        return
    raise SandboxError(
        f"sandbox {state.name!r} was made with other compose files ({made.get('compose_dir')}, mastodon-sandbox "
        f"{made.get('package', '?')}, digest {made.get('digest')}) than these ({now['compose_dir']}, mastodon-sandbox "
        f"{now['package']}, digest {now['digest']}): use the mastodon-sandbox that made it, or run `mastodon-sandbox up "
        f"--name {state.name}` with this one to take it over (containers are recreated, data kept)")
