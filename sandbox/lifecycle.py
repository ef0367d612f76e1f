"""up's steps on containers, volumes and state, and down and destroy.

`up` (sandbox/data/up.py) runs the steps here in turn: `make_or_reuse` (settings, TLS, env files, images),
`start` (every service healthy), `wait_app_ready` and `apply_registrations`. It creates a sandbox the first
time and reuses it afterwards: it never drops data or rotates secrets. Only `destroy` removes state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import requests

from . import composefiles, server_commands
from .backends import require_db_password
from .config import SandboxConfig, check_settings, release
from .docker_env import docker_client, port_is_free, port_taken
from .federation import group
from .environment import DB_NAME, missing_env_files, write_env_files
from .handle import Sandbox
from .errors import SandboxError, command_failed
from .images import build_images, images_for, pull_missing_images, remove_replaced_images
from .progress import Progress
from .stack import ONE_SHOT, ProjectObjects, Stack
from .state import State, no_sandbox
from .stores import Postgres
from .timeouts import timeouts
from .tls import ensure_tls
from .waiting import Look, wait_for

# Settings a sandbox keeps for life: Mastodon cannot change its domain once data exists, and the
# server and storage own the volumes' contents.
FIXED_SETTINGS = ("server", "port", "s3", "email_domain")
CHANGEABLE_SETTINGS = ("source_dir", "registrations", "accounts", "pool_size")


def resolve_config(name: str, requested: dict, state: State) -> tuple[SandboxConfig, bool]:
    """The config `up` should run: saved settings, or new ones from `requested`.

    Returns (config, is_new). A request that contradicts a fixed setting is refused; a newer version
    is an upgrade; an older one is refused (Mastodon has no down-migrations to go back).
    """
    if not state.exists():
        settings = dict(requested)
        # MinIO cannot be had without a registry: the offline servers keep media in SeaweedFS.
        settings.setdefault("s3", "minio" if settings.get("server", "official") == "official" else "seaweedfs")
        if settings.get("hostname"):
            settings["address"] = group.next_address(state.dir.parent)
        config = SandboxConfig(name=name, **settings)
        check_settings(config)
        group.check_new_member(config, state)
        return config, True
    saved = state.load_config()
    group.check_joining(requested, saved)
    for key in FIXED_SETTINGS:
        if key in requested and requested[key] != getattr(saved, key):
            raise SandboxError(
                f"sandbox {name!r} was created with {key}={getattr(saved, key)} and keeps it; "
                f"use another --name, or `mastodon-sandbox destroy --name {name}` first"
            )
    # Settings that may change on an existing sandbox are applied, never silently dropped: the source
    # folder may move, and accounts, the pool and the registration mode are provisioned anew by `up`.
    changed = {k: requested[k] for k in CHANGEABLE_SETTINGS if k in requested and requested[k] != getattr(saved, k)}
    if changed:
        saved = dataclasses.replace(saved, **changed)
        check_settings(saved)
    if "version" in requested:
        wanted = release(requested["version"], saved.server)
        if wanted.key() < saved.release.key():
            raise SandboxError(
                f"sandbox {name!r} runs Mastodon {saved.release.version}; going back to {wanted.version} is refused "
                "(its database has been migrated forward): destroy it, or use another --name"
            )
        if wanted.key() > saved.release.key():
            upgraded = dataclasses.replace(saved, version=wanted.version)
            check_settings(upgraded)
            return upgraded, False
    return saved, False


def wait_app_ready(config: SandboxConfig, state: State, timeout: float | None = None) -> dict:
    """Mastodon is ready for clients when /api/v2/instance answers over HTTPS verified by the
    sandbox CA: that proves TLS, the proxy, the Host check, the database and the schema at once."""
    url = f"{config.base_url}/api/v2/instance"

    def look() -> Look[dict | None]:
        try:
            r = requests.get(url, verify=str(state.ca_file), timeout=timeouts().http)
        except requests.RequestException as e:
            return Look(False, None, type(e).__name__)
        return Look(r.status_code == 200, r.json() if r.status_code == 200 else None, f"HTTP {r.status_code}")

    return wait_for(look, timeout=timeout or timeouts().app_ready, interval=0.5, what=f"{url} did not answer 200",
                    hint="see `mastodon-sandbox logs web`")


@dataclasses.dataclass(frozen=True)
class Made:
    """A sandbox `make_or_reuse` readied: its config saved, TLS, env files and images in place."""
    sandbox: Sandbox
    is_new: bool
    replaced: list[str]  # the ids of images a build replaced: removed once the services run on the new ones


def make_or_reuse(name: str, requested: dict, progress: Progress) -> Made:
    """`up`'s first step: the sandbox `name` with the `requested` settings (checked before anything is made),
    ready to start."""
    state = State(name)
    # A new sandbox with its own domain takes an address, a domain and maybe its group's CA and network: one at a
    # time, until its config is saved, so that two `up`s side by side never take the same.
    with group.claiming(state.dir.parent, bool(requested.get("hostname")) and not state.exists()):
        config, is_new, stack, replaced = _ready_to_start(name, requested, state, progress)
    return Made(Sandbox(config, state, stack), is_new, replaced)


def _ready_to_start(name: str, requested: dict, state: State, progress: Progress) -> tuple[SandboxConfig, bool, Stack, list]:
    """Up to its saved config: the settings resolved and checked, TLS, env files and images ready."""
    config, is_new = resolve_config(name, requested, state)
    stack = Stack(config, state)
    docker_client()  # a clear error before anything else when the engine is missing
    if not is_new and missing_env_files(state):
        write_env_files(config, state, images_for(config))  # made by an earlier version: compose reads them all
    running = (not is_new) and stack.is_running()
    if not running and not port_is_free(config.port, config.address):
        # A made sandbox keeps its port (its domain): only a new one can take another.
        raise SandboxError(port_taken(config.port) if is_new and not config.hostname else
                           f"{config.address}:{config.port} is taken: stop what uses it (sandbox {name!r} keeps the address it was made with)")

    if is_new:
        leftovers = ProjectObjects.of(config.project).volumes
        if leftovers:
            # Volumes whose secrets and CA are gone: reusing them would mix old data with new secrets.
            raise SandboxError(
                f"sandbox {name!r} has volumes in Docker but no state folder at {state.dir}: "
                f"restore the folder, or remove them with `mastodon-sandbox destroy --name {name} --yes`"
            )
        progress.step(f"creating sandbox {name!r}: {config.server} server, Mastodon {config.release.version}, {config.base_url}")
    state.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state.dir.chmod(0o700)  # private even when an older run or another tool made it
    try:
        if config.hostname:
            subnet = group.prepare_member(config, state)  # its certificate (from its group's CA) and network
        else:
            ensure_tls(state.tls_dir, name)
            subnet = None
        write_env_files(config, state, images_for(config), subnet)
        pull_missing_images(stack.config_json(), progress)
        replaced = build_images(stack, progress)
    except SandboxError:
        if is_new:
            # Nothing was started yet: leave no half-made sandbox behind, so the user can retry with
            # other settings (e.g. SANDBOX_SERVER=standin after a failed pull).
            state.remove()
            with suppress(SandboxError):  # the error that ended it is the one to say
                group.leave(config, state.dir.parent)
        raise
    state.save_config(config)
    composefiles.record(state)  # the compose files that drive it from now on
    return config, is_new, stack, replaced


def start(made: Made, progress: Progress) -> bool:
    """`up`'s second step: every service started and healthy, the database asking for its password, images a
    build replaced removed. Returns whether this was an upgrade (its Rails cache is then out of date)."""
    sandbox = made.sandbox
    upgraded = start_services(sandbox.config, sandbox.state, sandbox.stack, made.is_new, bool(made.replaced), progress)
    # Every service is healthy: a database made before the back-ends had passwords gets its own now (once).
    require_db_password(sandbox, sandbox.state.applied_file, progress)
    remove_replaced_images(made.replaced)
    return upgraded


def prepared_marker(config: SandboxConfig, stack: Stack, cluster: str | None) -> dict:
    """What db:prepare last ran for: the database cluster, the Mastodon image (by id) and version. Another
    cluster means an empty database; another image or version means new code, whose migrations must run."""
    image = stack.config_json()["services"]["db-prepare"]["image"]
    try:
        image_id = docker_client().images.get(image).id
    except Exception as e:  # docker.errors.ImageNotFound and engine faults alike: say which
        raise SandboxError(f"the image {image} of db-prepare cannot be read: {e}") from None
    # The merged compose model (env files inlined): a change to it means containers to recreate.
    model = hashlib.sha256(json.dumps(stack.config_json(), sort_keys=True).encode()).hexdigest()[:16]
    return {"image": image, "image_id": image_id, "version": config.release.version, "model": model, "cluster": cluster}


NEW_DATABASE = ("a new database", "a new database cluster", "no Mastodon database in PostgreSQL")


def prepare_reason(is_new: bool, last: dict | None, marker: dict, has_database: bool = True) -> str | None:
    """Why db:prepare must run (a new database, another image or version), or None when it is current.
    Which database it is, PostgreSQL says (`cluster`: its system identifier, `has_database`: whether
    Mastodon's database is there), never a timestamp."""
    if is_new or last is None:
        return "a new database" if is_new else "no record of an earlier db:prepare"
    if last.get("cluster") not in (None, marker["cluster"]):
        return "a new database cluster"
    if not has_database:
        return "no Mastodon database in PostgreSQL"
    if last.get("image_id") != marker["image_id"]:
        return f"the Mastodon image changed ({marker['image']}: {str(last.get('image_id'))[7:19]} -> {marker['image_id'][7:19]})"
    if last.get("version") != marker["version"]:
        return f"Mastodon {last.get('version')} -> {marker['version']}"
    return None


def keep_or_set_aside_credentials(state: State, db: Postgres, progress: Progress) -> None:
    """The database is new: the accounts, apps and tokens saved for the old one are made again, and the old
    file is kept aside (nothing is deleted) — but only when none of its accounts exists in the database."""
    creds = state.read_json(state.credentials_file, default=None)
    if not creds:
        return
    usernames = list(creds.get("accounts", {}))
    if db.local_usernames(DB_NAME, usernames):
        return  # the accounts are there: the file still describes this database
    aside = state.dir / f"credentials-before-{time.strftime('%Y%m%d-%H%M%S')}.json"
    state.credentials_file.rename(aside)
    progress.step(f"the database is new: its accounts, apps and tokens are made again (the old ones are kept in {aside.name})")


def start_services(config: SandboxConfig, state: State, stack: Stack, is_new: bool, rebuilt: bool, progress: Progress) -> bool:
    """Start what is not running, and only that. db:prepare (a Rails boot: about 20 s on real Mastodon)
    runs when the database is new or the Mastodon image or version changed since it last ran; otherwise
    healthy services are left alone and dead ones are started again on their own."""
    db = None if is_new else Postgres(stack.start_database())
    marker = prepared_marker(config, stack, db.cluster_id() if db else None)
    last = state.read_json(state.prepared_file, default=None)
    reason = prepare_reason(is_new, last, marker, has_database=db is None or DB_NAME in db.databases())
    if db is not None and reason in NEW_DATABASE:
        keep_or_set_aside_credentials(state, db, progress)
    upgraded = reason is not None and last is not None and last.get("version") != marker["version"]
    if reason:
        if upgraded:
            # An upgrade: stop every process of the old code first, then run every migration, the
            # post-deployment ones included — upstream's upgrade without zero downtime (lib/tasks/db.rake:
            # "upgrade by stopping all services and running migrations without SKIP_POST_DEPLOYMENT_MIGRATIONS").
            # 4.3.23 -> 4.6.5 is 111 migrations and 5 post-deployment ones (db/post_migrate), which drop what
            # the old code still reads (legacy user-settings columns, the old public-statuses index, the legacy
            # 2FA secret columns): safe only once no 4.3 process runs.
            progress.step(f"upgrading Mastodon {last.get('version')} -> {marker['version']}: stopping web, streaming and Sidekiq")
            stack.run("stop", "web", "streaming", "sidekiq")
        progress.step(f"starting containers; db:prepare runs: {reason}")
        # Migrations (a 4.3 -> 4.6 upgrade runs over a hundred) and the first boot take their time.
        stack.run("up", "--detach", "--remove-orphans", timeout=timeouts().compose_up)
    else:
        states = {s.service: s for s in stack.services()}
        wanted = [name for name in stack.config_json()["services"] if name not in ONE_SHOT]
        down = [name for name in wanted if name not in states or not states[name].ready]
        unhealthy = [name for name in down if name in states and states[name].state == "running" and states[name].health == "unhealthy"]
        same_stack = last.get("model") == marker["model"] and not rebuilt
        if not down and same_stack:
            progress.step("every service is running and healthy; nothing to start")
            return False
        what = ", ".join(down) if down else "services whose image or configuration changed"
        progress.step(f"starting {what} (db:prepare is current: not run again)")
        # --no-deps: db-prepare is not run again; compose recreates a service only if its image or
        # configuration changed, and leaves running ones alone.
        stack.run("up", "--detach", "--no-deps", "--remove-orphans", *wanted, timeout=timeouts().compose_up)
        if unhealthy:
            # Running but failing its health check: `up` leaves a running container alone, so restart it.
            stack.run("restart", *unhealthy)
    with progress.waiting("waiting for every service to report healthy") as update:
        stack.wait_ready(
            timeout=timeouts().ready_standin if config.server == "standin" else timeouts().ready_mastodon,
            on_change=lambda states: update(" ".join(f"{s.service}:{'ok' if s.ready else (s.health or s.state)}" for s in states)),
        )
    # What db:prepare ran for, with the database cluster it ran on (made by this `up` when it was new).
    state.write_json(state.prepared_file, {**marker, "cluster": marker["cluster"] or Postgres(stack.start_database()).cluster_id()})
    return upgraded


def apply_registrations(config: SandboxConfig, state: State, stack: Stack, is_new: bool, progress: Progress) -> None:
    """The registration mode asked for, applied once with tootctl and recorded, so that it survives a
    first `up` that failed after saving the configuration, and a changed setting is applied. A new
    Mastodon starts closed (config/settings.yml); a sandbox with no record gets its mode applied again."""
    applied = state.read_json(state.applied_file, default={}) or {}
    if applied.get("registrations") == config.registrations:
        return
    if is_new and "registrations" not in applied and config.registrations == "none":
        state.write_json(state.applied_file, {**applied, "registrations": "none"})
        return
    progress.step(f"setting registrations to {config.registrations} with tootctl")
    set_registrations(stack, config.registrations)
    # The instance bodies are cached 3 minutes (CacheConcern#render_with_cache): clear Rails' cache so that
    # /api/v2/instance tells clients the new mode now (it also resets the rate-limit counters).
    clear_cache(stack)
    state.write_json(state.applied_file, {**applied, "registrations": config.registrations})


def set_registrations(stack: Stack, mode: str) -> None:
    """`--registrations` with tootctl (lib/mastodon/cli/settings.rb)."""
    proc = stack.exec(*server_commands.settings_registrations(mode))
    if proc.returncode != 0:
        raise command_failed(f"could not set registrations to {mode}", proc.returncode, proc.stdout, proc.stderr)


def set_authorized_fetch(stack: Stack, on: bool) -> None:
    """Whether the instance answers only signed fetches of its ActivityPub documents (server_commands says how)."""
    proc = stack.exec(*server_commands.authorized_fetch(), input=json.dumps({"on": on}))
    done = server_commands.runner_result("authorized_fetch", proc.stdout) if proc.returncode == 0 else None
    if done != {"authorized_fetch": on}:
        raise command_failed(f"could not turn authorized fetch {'on' if on else 'off'}", proc.returncode, proc.stdout, proc.stderr, ruby=True)


def clear_cache(stack: Stack) -> None:
    """`tootctl cache clear` (lib/mastodon/cli/cache.rb: Rails.cache.clear)."""
    proc = stack.exec(*server_commands.cache_clear())
    if proc.returncode != 0:
        raise command_failed("tootctl cache clear failed", proc.returncode, proc.stdout, proc.stderr)


@contextmanager
def one_at_a_time(name: str, create: bool = True):
    """up, down and destroy of one sandbox run one at a time (with the pytest plugin's cold start too: the same
    `up` lock): a second waits, then finds the work done. A folder made for the lock alone is removed again,
    so that refused input leaves nothing behind; `create=False` (destroy) locks only a folder that exists."""
    state = State(name)
    while True:
        made = not state.dir.exists()
        if made and not create:
            yield  # no folder (none, or a destroy removed it while this waited): nothing to lock
            return
        with state.lock("up") as held:
            try:
                current = os.path.samestat(os.fstat(held.fileno()), os.stat(held.name))
            except FileNotFoundError:
                current = False
            if not current:
                continue  # a destroy removed the folder while this waited: lock the one there is now
            try:
                yield
            finally:
                if made and state.dir.exists() and set(os.listdir(state.dir)) <= {"up.lock"}:
                    Path(held.name).unlink()
                    state.dir.rmdir()
            return


def down(name: str, progress: Progress) -> None:
    sandbox = Sandbox.open(name)
    progress.step(f"stopping sandbox {name!r} (data and secrets are kept)")
    sandbox.stack.run("down", "--remove-orphans")


def destroy(name: str, progress: Progress) -> None:
    """Remove the sandbox's containers, volumes, network and state folder.

    It goes by the compose project's labels rather than the saved config, so a damaged state
    folder can still be destroyed.
    """
    state = State(name)
    project = SandboxConfig(name=name).project
    try:
        config = state.load_config()
    except SandboxError:
        config = None  # damaged or gone: destroy goes by the labels
    found = ProjectObjects.of(project)
    if not found.containers and not found.volumes and not state.dir.exists():
        raise SandboxError(no_sandbox(name, state.dir.parent))
    progress.step(f"removing sandbox {name!r}: {len(found.containers)} containers, {len(found.volumes)} volumes and the state folder")
    found.remove(f"destroying {name!r}", "the state folder is kept, run destroy again")
    state.remove()
    if config is not None:
        group.leave(config, state.dir.parent)
