"""Shared fixtures: the running sandbox the Docker tier tests (`make up` starts it).

Without a running sandbox the Docker tier skips with a reason — and fails instead when
SANDBOX_REQUIRE_DOCKER=1, as `make test` and CI set it: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from sandbox.config import SandboxConfig
from sandbox.describe import describe
from sandbox.stack import Stack
from sandbox.state import State

REPO = Path(__file__).resolve().parents[1]


def pytest_report_header(config):
    name = os.environ.get("SANDBOX_NAME") or "default"
    return f"sandbox {name!r}: {describe(name)}"


def require_docker_tier(reason: str):
    """Skip, or fail under SANDBOX_REQUIRE_DOCKER=1."""
    if os.environ.get("SANDBOX_REQUIRE_DOCKER") == "1":
        pytest.fail(f"the Docker tier cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class Sandbox:
    config: SandboxConfig
    state: State
    stack: Stack

    def __iter__(self):
        """Unpacks as (config, state, stack), the arguments provisioning functions take."""
        return iter((self.config, self.state, self.stack))

    @property
    def url(self) -> str:
        return self.config.base_url

    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 15)
        return requests.get(self.url + path, verify=str(self.state.ca_file), **kw)


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    name = os.environ.get("SANDBOX_NAME") or "default"
    state = State(name)
    if not state.exists():
        require_docker_tier(f"no sandbox {name!r} at {state.dir}: run `make up` first")
    config = state.load_config()
    try:
        requests.get(f"{config.base_url}/health", verify=str(state.ca_file), timeout=5).raise_for_status()
    except requests.RequestException as e:
        require_docker_tier(f"sandbox {name!r} does not answer at {config.base_url} ({type(e).__name__}): run `make up`")
    return Sandbox(config, state, Stack(config, state))


def cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the mastodon-sandbox CLI as a user would, in this test's environment."""
    return subprocess.run([sys.executable, "-m", "sandbox.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture
def make_sandbox(sandbox):
    """Makes extra named sandboxes with the shared one's server and version (`extra` options win:
    argparse keeps the last), and destroys them afterwards."""
    made = []

    def make(name: str, port: int, *extra: str, provision: bool = False) -> subprocess.CompletedProcess:
        made.append(name)
        args = ["up", "--name", name, "--port", str(port), "--server", sandbox.config.server,
                "--version", sandbox.config.version, "--quiet", *extra]
        return cli(*args, *([] if provision else ["--no-provision"]))

    yield make
    for name in made:
        cli("destroy", "--name", name, "--yes")
