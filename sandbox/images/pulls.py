"""Images from a registry (the official Mastodon images, build bases): pulled when missing, and a failure
named with the way out where no registry is reachable."""

from __future__ import annotations

import subprocess

from ..errors import SandboxError
from ..progress import Progress
from ..timeouts import timeouts
from .names import image_exists


def registry_images(model: dict) -> list[str]:
    """Images the stack takes from a registry: those of services without a build, and build bases."""
    services = model.get("services", {})
    images = {svc["image"] for svc in services.values() if "image" in svc and "build" not in svc and svc.get("pull_policy") != "never"}
    images |= {svc["build"].get("args", {}).get("BASE") for svc in services.values() if "build" in svc}
    return sorted(i for i in images if i and not i.startswith("local/"))


def pull_missing_images(model: dict, progress: Progress) -> None:
    """Pull what the stack needs from a registry and lacks; a failure names the image and the way out."""
    for image in registry_images(model):
        if image_exists(image):
            continue
        progress.step(f"pulling {image}")
        try:
            proc = subprocess.run(["docker", "pull", image], capture_output=True, text=True, timeout=timeouts().pull)
        except subprocess.TimeoutExpired:
            raise SandboxError(f"pulling {image} took over 30 minutes; check the network") from None
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["pull failed"])[-1]
            raise SandboxError(
                f"cannot pull {image} ({reason[:160]}); where no registry is reachable use SANDBOX_SERVER=source "
                "(real Mastodon built from source) or SANDBOX_SERVER=standin"
            )
