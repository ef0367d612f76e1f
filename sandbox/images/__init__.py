"""Images: which ones a sandbox runs (names), the debootstrap bases (bases), Mastodon built from source
(source), pulls from a registry (pulls) and the project's own local builds (local). The rest of the package
calls the names below."""

from .bases import ensure_base
from .local import build_images, context_digest, dockerignore_patterns, stale_builds
from .names import LOCAL_BASE, PUBLIC_BASE, SOURCE_BASE, image_exists, images_for, remove_replaced_images, source_images
from .pulls import pull_missing_images, registry_images
from .source import SOURCE_RECIPES, built_inputs, ensure_source_images, inputs_digest, source_folder, verify_source_folder

__all__ = ["LOCAL_BASE", "PUBLIC_BASE", "SOURCE_BASE", "SOURCE_RECIPES", "build_images", "built_inputs", "context_digest",
           "dockerignore_patterns", "ensure_base", "ensure_source_images", "image_exists", "images_for", "inputs_digest",
           "pull_missing_images", "registry_images", "remove_replaced_images", "source_folder", "source_images",
           "stale_builds", "verify_source_folder"]
