"""The compose stack of one sandbox: the files it is made of, and up/down/ps/logs/exec on it."""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from .config import SandboxConfig, compose_dir
from .docker_env import docker_client, find_compose
from .environment import missing_env_files
from .errors import SandboxError, command_failed, last_words
from .state import State
from .timeouts import timeouts
from .waiting import Look, wait_for

# One-shot services: done when they exit 0.
ONE_SHOT = {"db-prepare", "s3-init"}
# Compose marks what it makes with these labels; what the harness makes beside it (snapshot volumes, helper
# containers) carries the project's label too, so `destroy` finds everything by it.
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def project_filter(project: str) -> dict[str, str]:
    """The Docker API filter for everything of a compose project (no config needed: a damaged state folder
    can still be destroyed)."""
    return {"label": f"{PROJECT_LABEL}={project}"}


def exec_in(container, argv: list[str], *, timeout: float | None = None, user: str = "", input: str | None = None) -> subprocess.CompletedProcess[str]:
    """argv in a running container (a Docker SDK object: a sandbox's service, or a throwaway one in tests), by the
    docker CLI, a fifth of the Compose CLI's half second a call; never raises on its exit code. `timeout`: seconds
    to wait for it (None: no bound). Not docker-py's exec_run: it reads the answer's stream from the raw socket
    past the HTTP reader's buffer, and under load loses what that buffer held (seen: "116 is not a valid stream",
    an empty answer)."""
    command = ["docker", "exec", *(["--interactive"] if input is not None else []), *(["--user", user] if user else []),
               container.name, *argv]
    try:
        return subprocess.run(command, input=input, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"{shlex.join(argv[:3])} in {container.name} did not finish within {timeout:.0f} s "
                           "(SANDBOX_TIMEOUT_EXEC): see `mastodon-sandbox logs`") from None


@dataclass
class ProjectObjects:
    """Everything Docker holds of a compose project, found by its label."""

    containers: list
    volumes: list
    networks: list

    @classmethod
    def of(cls, project: str) -> "ProjectObjects":
        client, filters = docker_client(), project_filter(project)
        return cls(client.containers.list(all=True, filters=filters), client.volumes.list(filters=filters),
                   client.networks.list(filters=filters))

    def remove(self, what: str, hint: str) -> None:
        """Containers, then volumes and networks; one line naming `what` failed, with `hint`, on an error."""
        for obj in [*self.containers, *self.volumes, *self.networks]:
            try:
                obj.remove(force=True) if obj not in self.networks else obj.remove()
            except docker.errors.NotFound:
                pass  # removed meanwhile (compose, another destroy): what we wanted
            except docker.errors.APIError as e:
                raise SandboxError(f"{what} failed in Docker: {e.explanation or e}; {hint}") from None


@dataclass(frozen=True)
class ServiceState:
    service: str
    state: str  # running, exited, restarting, created, …
    health: str  # healthy, starting, unhealthy, or "" without a healthcheck
    exit_code: int

    @property
    def ready(self) -> bool:
        if self.service in ONE_SHOT:
            return self.state == "exited" and self.exit_code == 0
        return self.state == "running" and self.health in ("healthy", "")

    @property
    def failed(self) -> bool:
        if self.service in ONE_SHOT:
            return self.state == "exited" and self.exit_code != 0
        return self.state in ("exited", "dead") or self.health == "unhealthy"


class Stack:
    """Runs `docker compose` for one sandbox (its own project name, files and env file)."""

    def __init__(self, config: SandboxConfig, state: State):
        self.config = config
        self.state = state
        self._compose: list[str] | None = None
        self._model: dict | None = None

    @property
    def files(self) -> list[Path]:
        d = compose_dir()
        member = [d / "federation.yml"] if self.config.group else []  # a federation group's member
        return [d / "base.yml", d / f"server-{self.config.server}.yml", d / f"s3-{self.config.s3}.yml", *member]

    def command(self, *args: str) -> list[str]:
        if self._compose is None:
            self._compose = find_compose()
        argv = [*self._compose, "--project-name", self.config.project, "--project-directory", str(compose_dir())]
        for f in self.files:
            argv += ["--file", str(f)]
        return [*argv, "--env-file", str(self.state.compose_env), *args]

    def run(self, *args: str, input: str | None = None, capture: bool = True, check: bool = True, timeout: float | None = -1) -> subprocess.CompletedProcess:
        """`timeout` in seconds; -1 takes the configured compose timeout, None waits for ever (logs -f only)."""
        if timeout == -1:
            timeout = timeouts().compose
        missing = missing_env_files(self.state)
        if missing:
            raise SandboxError(f"sandbox {self.config.name!r} lacks {', '.join(missing)} (made by an earlier version of "
                               f"mastodon-sandbox): `mastodon-sandbox up --name {self.config.name}` brings it up to date")
        try:
            proc = subprocess.run(self.command(*args), input=input, text=True, capture_output=capture, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SandboxError(f"docker compose {' '.join(args[:3])} did not finish within {timeout:.0f} s (SANDBOX_TIMEOUT_*): see `mastodon-sandbox logs`") from None
        if check and proc.returncode != 0:
            raise command_failed(f"docker compose {args[0]} failed", proc.returncode, proc.stdout, proc.stderr)
        return proc

    def exec(self, service: str, argv: list[str], input: str | None = None, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """argv in the running container of `service`, `input` on its stdin, within `timeout` seconds (default
        SANDBOX_TIMEOUT_EXEC): the one way the harness runs a command in a sandbox's service. Never raises on its
        exit code: callers say what failed with errors.command_failed."""
        return exec_in(self.container(service), argv, timeout=timeout or timeouts().exec, input=input)

    def config_json(self) -> dict:
        """The merged compose model (asked once per Stack: the files do not change under it)."""
        if self._model is None:
            self._model = json.loads(self.run("config", "--format", "json").stdout)
        return self._model

    def services(self) -> list[ServiceState]:
        out = self.run("ps", "--all", "--format", "json", timeout=timeouts().compose_ps).stdout.strip()
        if not out:
            return []
        # Compose prints one JSON object per line (2.21+) or one array (older releases).
        rows = json.loads(out) if out.startswith("[") else [json.loads(line) for line in out.splitlines() if line.strip()]
        return [
            ServiceState(r.get("Service", ""), r.get("State", ""), r.get("Health", "") or "", int(r.get("ExitCode") or 0))
            for r in rows
        ]

    def is_running(self) -> bool:
        return any(s.service == "proxy" and s.state == "running" for s in self.services())

    def containers(self) -> dict[str, object]:
        """The running containers by service, as Docker SDK objects, in one call to the engine (Compose's
        `ps` costs a quarter of a second, which a reset cannot spare)."""
        found = docker_client().containers.list(filters=project_filter(self.config.project))
        return {c.labels.get(SERVICE_LABEL): c for c in found}

    def container(self, service: str):
        """The running container of `service`, or a one-line error."""
        found = self.containers().get(service)
        if found is None:
            raise SandboxError(f"the {service} service of {self.config.name!r} is not running: `mastodon-sandbox up` first")
        return found

    @property
    def labels(self) -> dict[str, str]:
        """The labels of what the harness makes beside Compose (snapshot volumes, helper containers)."""
        return {PROJECT_LABEL: self.config.project}

    def volume_name(self, volume: str) -> str:
        """The Docker name of the project's volume `volume` (Compose's `<project>_<volume>`)."""
        return f"{self.config.project}_{volume}"

    def has_volume(self, volume: str) -> bool:
        try:
            docker_client().volumes.get(self.volume_name(volume))
            return True
        except docker.errors.NotFound:
            return False

    def remove_volume(self, volume: str) -> None:
        """The project's volume `volume` removed, with any helper container still using it: one a killed save or
        restore left copying (it has the project's label and no service's)."""
        name = self.volume_name(volume)
        client = docker_client()
        for c in client.containers.list(all=True, filters={"volume": name, "label": f"{PROJECT_LABEL}={self.config.project}"}):
            if SERVICE_LABEL not in c.labels:
                c.remove(force=True)
        try:
            client.volumes.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            raise SandboxError(f"the volume {name} is still in use ({e.explanation or e}): "
                               f"see `docker ps -a --filter volume={name}`") from None

    def start_database(self):
        """The database's container, started alone first when it is not running (it has no dependencies),
        so that `up` can ask PostgreSQL what it holds before deciding what else to run."""
        running = self.containers().get("db")
        if running is None:
            self.run("up", "--detach", "--wait", "db", timeout=timeouts().compose_up)
            running = self.containers().get("db")
        if running is None:
            raise SandboxError(f"the database of {self.config.name!r} did not start: see `mastodon-sandbox logs db`")
        return running

    def logs(self, service: str | None = None, tail: int = 50) -> str:
        args = ["logs", "--no-color", "--tail", str(tail)]
        if service:
            args.append(service)
        proc = self.run(*args, check=False)
        return proc.stdout + proc.stderr

    def wait_ready(self, timeout: float, on_change=None, only: tuple[str, ...] = ()) -> list[ServiceState]:
        """Wait until every service (or those in `only`) reports ready (healthy, or exited 0 for one-shots).

        It follows the containers' own health checks; a service that fails is reported with the
        last lines of its log instead of waiting out the timeout.
        """
        summaries: list[str] = []

        def look() -> Look[list[ServiceState]]:
            states = [s for s in self.services() if not only or s.service in only]
            summary = ", ".join(f"{s.service} {s.health or s.state}" for s in sorted(states, key=lambda s: s.service))
            if summary not in summaries[-1:] and on_change:
                on_change(states)
            summaries.append(summary)
            failed = [s for s in states if s.failed]
            if failed:
                s = failed[0]
                said = last_words(self.logs(s.service, tail=15)) or "no log output"
                raise SandboxError(f"service {s.service} failed ({s.health or s.state}, exit {s.exit_code}): {said} "
                                   f"— see `mastodon-sandbox logs {s.service}`")
            waiting = ", ".join(s.service for s in states if not s.ready) or "all services"
            return Look(bool(states) and all(s.ready for s in states), states, f"still waiting for {waiting}")

        return wait_for(look, timeout=timeout, interval=timeouts().poll, what="the sandbox was not ready",
                        hint="see `mastodon-sandbox logs`")
