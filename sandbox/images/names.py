"""Which images a sandbox runs, by server and version, and looking them up in the engine."""

from __future__ import annotations

from ..config import SandboxConfig
from ..docker_env import docker_client
from ..errors import SandboxError


LOCAL_BASE = "local/debian:bookworm"
SOURCE_BASE = "local/debian:trixie"  # upstream's Dockerfile builds on trixie since 4.4
PUBLIC_BASE = "debian:bookworm-slim"
INPUTS_LABEL = "org.mastodon-sandbox.inputs"


def source_images(version: str) -> dict[str, str]:
    """Local names, never the official ones: nobody mistakes a source build for a pulled image."""
    return {
        "MASTODON_IMAGE": f"mastodon-sandbox/mastodon:{version}-source",
        "STREAMING_IMAGE": f"mastodon-sandbox/mastodon-streaming:{version}-source",
    }


def images_for(config: SandboxConfig) -> dict[str, str]:
    """The image variables of compose.env for this sandbox's server and version."""
    rel = config.release
    if config.server == "official":
        return {
            "MASTODON_IMAGE": f"ghcr.io/mastodon/mastodon:{rel.tag}",
            "STREAMING_IMAGE": f"ghcr.io/mastodon/mastodon-streaming:{rel.tag}",
            "BUILD_BASE": PUBLIC_BASE,
            "BUILD_BASE_TAG": "bookworm-slim",
        }
    if config.server == "source":
        return {**source_images(rel.version), "BUILD_BASE": LOCAL_BASE, "BUILD_BASE_TAG": "local"}
    return {"BUILD_BASE": LOCAL_BASE, "BUILD_BASE_TAG": "local"}


def image_exists(name: str) -> bool:
    import docker.errors

    try:
        docker_client().images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError as e:
        raise SandboxError(f"the Docker engine failed to look up image {name}: {e.explanation or e}") from None


def image_id(image: str) -> str | None:
    import docker.errors

    try:
        return docker_client().images.get(image).id
    except docker.errors.ImageNotFound:
        return None


def remove_replaced_images(image_ids: list[str]) -> None:
    """Drop images a rebuild left untagged, once no container uses them (others' still may: kept)."""
    import docker.errors

    client = docker_client()
    for image_id in image_ids:
        try:
            if not client.images.get(image_id).tags:
                client.images.remove(image_id)
        except docker.errors.ImageNotFound:
            pass  # already gone
        except docker.errors.APIError as e:
            if e.status_code != 409:  # 409: still used by a container, which is fine
                raise SandboxError(f"could not remove a replaced image {image_id[:19]}: {e.explanation or e}") from None
