"""The debootstrap Debian bases the offline images start FROM (no registry needed)."""

from __future__ import annotations

import subprocess

from ..config import compose_dir
from ..errors import SandboxError
from ..progress import Progress
from ..timeouts import timeouts
from .names import image_exists


def ensure_base(tag: str, progress: Progress) -> None:
    """Build a debootstrap Debian base image when it is missing (offline images start FROM it)."""
    if image_exists(tag):
        return
    progress.step(f"building the base image {tag} with debootstrap (about 40 s)")
    script = compose_dir() / "images" / "build-local-base.sh"
    try:
        proc = subprocess.run(["bash", str(script), tag], capture_output=True, text=True, timeout=timeouts().base_build)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"building {tag} with debootstrap took over {timeouts().base_build:.0f} s (SANDBOX_TIMEOUT_BASE_BUILD): check the Debian mirror") from None
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()
        raise SandboxError(f"could not build {tag}: {last[-1] if last else 'debootstrap failed'}")
