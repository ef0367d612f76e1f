"""up, down and destroy: what each does to a sandbox's containers, volumes and state.

`up` creates a sandbox the first time and reuses it afterwards: it never drops data or rotates
secrets. Only `destroy` removes state.
"""

from __future__ import annotations

import dataclasses
import time

import requests

from . import server_commands
from .config import SandboxConfig, release
from .docker_env import docker_client, port_is_free
from .environment import write_env_files
from .errors import SandboxError
from .images import build_images, images_for, pull_missing_images, remove_replaced_images
from .progress import Progress
from .stack import Stack
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
        # MinIO cannot be had without a registry: the offline servers keep media in SeaweedFS.
        settings.setdefault("s3", "minio" if settings.get("server", "official") == "official" else "seaweedfs")
        return SandboxConfig(name=name, **settings), True
    saved = state.load_config()
    for key in FIXED_SETTINGS:
        if key in requested and requested[key] != getattr(saved, key):
            raise SandboxError(
                f"sandbox {name!r} was created with {key}={getattr(saved, key)} and keeps it; "
                f"use another --name, or `mastodon-sandbox destroy --name {name}` first"
            )
    if requested.get("source_dir") and requested["source_dir"] != saved.source_dir:
        saved = dataclasses.replace(saved, source_dir=requested["source_dir"])  # the folder may move
    if "version" in requested:
        wanted = release(requested["version"], saved.server)
        if wanted.key() < saved.release.key():
            raise SandboxError(
                f"sandbox {name!r} runs Mastodon {saved.release.version}; going back to {wanted.version} is refused "
                "(its database has been migrated forward): destroy it, or use another --name"
            )
        if wanted.key() > saved.release.key():
            return dataclasses.replace(saved, version=wanted.version), False
    return saved, False


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
        pull_missing_images(stack.config_json(), progress)
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
            timeout=300 if config.server == "standin" else 900,
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
