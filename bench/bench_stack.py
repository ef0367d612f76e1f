"""Stack timings and memory, measured side by side in one run and printed as ratios.

- cold `up` to app-ready (images present, empty volumes): through the harness
  (`mastodon-sandbox up --no-provision`) and through raw `docker compose up --wait` on the same files —
  the ratio is the harness's own overhead;
- each service's start-to-healthy time (the stand-in's web, streaming and Sidekiq included);
- `down`;
- memory of the idle stack, per service.
Runs on a throwaway sandbox (`bench-stack`, port 39443) with the server of $SANDBOX_SERVER (else the default
sandbox's, else official) and removes it afterwards. Usage: python bench/bench_stack.py
"""

from __future__ import annotations

import datetime as dt
import sys
import time

import docker

from common import cli, describe, memory_mb, server_settings
from mastodon_sandbox.lifecycle import destroy, wait_app_ready
from mastodon_sandbox.progress import Progress
from mastodon_sandbox.stack import Stack
from mastodon_sandbox.state import State

NAME, PORT = "bench-stack", 39443
SERVER_ARGS = server_settings()


def wipe_volumes(stack: Stack) -> None:
    stack.run("down", "--volumes", "--remove-orphans")


def raw_compose_up(stack: Stack) -> float:
    t = time.monotonic()
    stack.run("up", "--detach", "--wait")
    wait_app_ready(stack.config, stack.state)
    return time.monotonic() - t


def started_to_healthy(client: docker.DockerClient, project: str) -> dict[str, float]:
    out = {}
    for c in client.containers.list(filters={"label": f"com.docker.compose.project={project}"}):
        st = c.attrs["State"]
        logs = (st.get("Health") or {}).get("Log") or []
        ok = [entry for entry in logs if entry.get("ExitCode") == 0]
        if ok:
            started = dt.datetime.fromisoformat(st["StartedAt"][:26].rstrip("Z"))
            healthy = dt.datetime.fromisoformat(ok[0]["End"][:26].rstrip("Z"))
            out[c.labels["com.docker.compose.service"]] = (healthy - started).total_seconds()
    return out


def main() -> int:
    client = docker.from_env()
    print(describe(SERVER_ARGS))
    # First run creates state and builds or pulls images: not measured.
    cli("up", "--name", NAME, "--port", str(PORT), *SERVER_ARGS, "--no-provision", "--quiet")
    state = State(NAME)
    stack = Stack(state.load_config(), state)
    try:
        wipe_volumes(stack)
        harness = cli("up", "--name", NAME, "--no-provision", "--quiet")
        health = started_to_healthy(client, stack.config.project)
        time.sleep(10)  # let the idle stack settle before reading memory
        mem = memory_mb(client, stack.config.project)
        t = time.monotonic()
        cli("down", "--name", NAME)
        down = time.monotonic() - t
        wipe_volumes(stack)
        raw = raw_compose_up(stack)
    finally:
        destroy(NAME, Progress(quiet=True))

    print(f"cold up to app-ready, harness:      {harness:6.1f} s")
    print(f"cold up to app-ready, raw compose:  {raw:6.1f} s")
    print(f"harness / raw compose:              {harness / raw:6.2f}x  (goal: under 1.10x)")
    print(f"down:                               {down:6.1f} s")
    print("start to healthy per service:       " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(health.items())))
    print("idle memory per service (MiB):      " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(mem.items())))
    print(f"idle memory, whole stack:           {sum(mem.values()):6.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
