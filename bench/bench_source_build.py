"""What building the web front end costs (#31): Mastodon 4.6.5 built from source with no build cache, once with
the placeholder front end and once with the real one (FRONTEND=placeholder / vite, the recipe's substitutions),
side by side, into throwaway tags that are removed afterwards. Needs SANDBOX_MASTODON_SOURCE (the source folder);
about 40 minutes on two cores. The sandbox's own images are not touched.
Usage: python bench/bench_source_build.py [VERSION]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mastodon_sandbox.config import SandboxConfig
from mastodon_sandbox.images.bases import ensure_base
from mastodon_sandbox.images.names import SOURCE_BASE
from mastodon_sandbox.images.source import SOURCE_RECIPES, npm_registry, stage_context, verify_source_folder
from mastodon_sandbox.progress import Progress


def build(context: Path, frontend: str, recipe, tag: str) -> float:
    args = {"BASE": SOURCE_BASE, "BUNDLER_VERSION": recipe.bundler, "WEBPUSH_URL": recipe.webpush_url,
            "NPM_REGISTRY": npm_registry(), "FRONTEND": frontend,
            "FRONTEND_RESOLUTIONS": json.dumps(recipe.resolutions if frontend == "vite" else {})}
    argv = ["docker", "build", "--no-cache", "--target", "runtime", "--tag", tag, "--rm", "--force-rm"]
    for k, v in args.items():
        argv += ["--build-arg", f"{k}={v}"]
    started = time.monotonic()
    proc = subprocess.run([*argv, str(context)], capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    if proc.returncode != 0:
        sys.exit(f"bench: building with FRONTEND={frontend} failed: {(proc.stdout + proc.stderr).strip().splitlines()[-1]}")
    return time.monotonic() - started


def main() -> int:
    version = sys.argv[1] if len(sys.argv) > 1 else "4.6.5"
    source = os.environ.get("SANDBOX_MASTODON_SOURCE")
    if not source:
        print("bench: not run: it builds from the Mastodon source folder, which SANDBOX_MASTODON_SOURCE names")
        return 0
    config = SandboxConfig(name="bench", server="source", version=version, source_dir=source)
    recipe = SOURCE_RECIPES[config.release.version]
    if recipe.frontend is None:
        sys.exit(f"bench: the recipe of {recipe.version} builds no front end")
    folder = Path(source).expanduser()
    verified = verify_source_folder(folder, recipe)
    ensure_base(SOURCE_BASE, Progress(quiet=True))
    times = {}
    with tempfile.TemporaryDirectory(prefix="bench-source-build-") as tmp:
        stage_context(folder, recipe, verified, Path(tmp))
        for frontend in ("placeholder", "vite"):
            tag = f"mastodon-sandbox-bench/mastodon:{recipe.version}-{frontend}"
            try:
                times[frontend] = build(Path(tmp), frontend, recipe, tag)
            finally:
                subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
            print(f"Mastodon {recipe.version} from source, no cache, front end {frontend:<11}: {times[frontend]:7.1f} s", flush=True)
    extra = times["vite"] - times["placeholder"]
    print(f"the web front end adds {extra:.0f} s ({times['vite'] / times['placeholder']:.2f}x the build without it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
