"""How long the harness waits for each kind of work, in one place, each overridable by an environment
variable (SANDBOX_TIMEOUT_<FIELD>, in seconds), as testcontainers keeps its waits in one config object.

Nothing the harness runs waits without a bound: a hung command ends with a message naming it."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from functools import lru_cache

from .errors import SandboxError


@dataclass(frozen=True)
class Timeouts:
    compose: float = 600  # any `docker compose` command not named below
    compose_up: float = 1800  # `compose up` and `build`: migrations (4.3 -> 4.6 runs over a hundred), first boots
    compose_ps: float = 60
    exec: float = 600  # a command in a container: tootctl, a Rails runner
    ready_standin: float = 300  # every service healthy, the stand-in
    ready_mastodon: float = 900  # every service healthy, real Mastodon (the first boot precompiles nothing, but db:prepare migrates)
    app_ready: float = 60  # /api/v2/instance answers over HTTPS once the services are healthy
    http: float = 30  # one HTTP request of provisioning
    docker_api: float = 10  # one call to the Docker engine's API
    docker_cli: float = 20  # `docker version`, `docker compose version`
    pull: float = 1800  # one `docker pull`
    base_build: float = 900  # debootstrap of a local base image
    source_build: float = 5400  # Mastodon from source, both images (8 min on 2 cores; slow disks take longer)
    npm: float = 600  # `npm pack` of Node or Yarn for the source build
    settle: float = 300  # Sidekiq idle after seeding or a test's writes
    poll: float = 1.0  # between two looks at the services' health (their checks run every 2 s)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Timeouts":
        env = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            var = f"SANDBOX_TIMEOUT_{field.name.upper()}"
            if var not in env:
                continue
            try:
                value = float(env[var])
            except ValueError:
                value = -1.0
            if value <= 0:
                raise SandboxError(f"{var}={env[var]!r} is not a number of seconds above 0")
            values[field.name] = value
        return cls(**values)


@lru_cache(maxsize=1)
def timeouts() -> Timeouts:
    """The process's timeouts (defaults, overridden by SANDBOX_TIMEOUT_* variables), read once."""
    return Timeouts.from_env()
