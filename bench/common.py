"""What every bench script shares: which server it measures (labelled in its output) and running the CLI
as a user would, with a one-line error and a non-zero exit when the sandbox cannot be made."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from mastodon_sandbox.config import SandboxConfig, settings_from_env
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.state import State


def server_settings() -> list[str]:
    """`up` options for the measured server: SANDBOX_SERVER (and SANDBOX_MASTODON_SOURCE), else the
    server of the default sandbox, else the official images."""
    env = settings_from_env()
    server = env.get("server")
    source = env.get("source_dir", "")
    if server is None and State("default").exists():
        saved = State("default").load_config()
        server, source = saved.server, source or saved.source_dir
    server = server or "official"
    args = ["--server", server]
    if server == "source":
        if not source:
            sys.exit("bench: the source server needs SANDBOX_MASTODON_SOURCE (the folder Mastodon is built from)")
        args += ["--source", source]
    return args


def describe(args: list[str]) -> str:
    server = args[args.index("--server") + 1]
    source = args[args.index("--source") + 1] if "--source" in args else ""
    try:
        return f"server: {server} ({SandboxConfig(name='bench', server=server, source_dir=source).description})"
    except SandboxError as e:
        sys.exit(f"bench: {e}")


def memory_mb(client, project: str) -> dict[str, float]:
    """Each running service's memory (MiB), page cache left out."""
    out = {}
    for c in client.containers.list(filters={"label": f"com.docker.compose.project={project}"}):
        s = c.stats(stream=False)["memory_stats"]
        cache = s.get("stats", {}).get("cache", 0) or s.get("stats", {}).get("inactive_file", 0)
        out[c.labels["com.docker.compose.service"]] = (s.get("usage", 0) - cache) / 2**20
    return out


def cli(*args: str) -> float:
    """Seconds one CLI call took; its one-line error and a non-zero exit when it fails."""
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mastodon_sandbox.cli", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        sys.exit(f"bench: mastodon-sandbox {args[0]} failed: {lines[-1] if lines else 'exit code ' + str(proc.returncode)}")
    return time.monotonic() - t


if os.environ.get("SANDBOX_NAME"):
    # A bench makes and removes its own sandboxes; it never touches the one named for tests.
    os.environ.pop("SANDBOX_NAME")


def federation(args: list[str]):
    """The group of SANDBOX_FEDERATION (default fed:a,b) on the measured server, brought up where not running:
    (its spec, its member sandboxes)."""
    from mastodon_sandbox.testing.federation import bring_up, parse_spec

    server = dict(zip(args[::2], args[1::2]))
    base = {"server": server["--server"], **({"source_dir": server["--source"]} if "--source" in server else {})}
    spec = parse_spec(os.environ.get("SANDBOX_FEDERATION") or "fed:a,b")
    try:
        return spec, bring_up(spec, base)
    except SandboxError as e:
        sys.exit(f"bench: {e}")
