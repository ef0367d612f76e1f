"""One sandbox, as the rest of the project holds it: its configuration, its state folder and its compose
stack. `up` (sandbox/data/up.py) returns one, `Sandbox.open` opens an existing one; the CLI, provisioning, the tests
and the pytest plugin all take it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from .config import SandboxConfig
from .stack import Stack
from .state import State
from .timeouts import timeouts


@dataclass(frozen=True)
class Sandbox:
    config: SandboxConfig
    state: State
    stack: Stack

    @classmethod
    def open(cls, name: str) -> "Sandbox":
        """An existing sandbox by name (a one-line error when there is none, or when the compose files this
        copy of the package carries differ from those that made it: composefiles.py); starts nothing."""
        from .composefiles import check

        state = State(name)
        config = state.load_config()
        check(state)
        return cls(config, state, Stack(config, state))

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def url(self) -> str:
        """The HTTPS base URL, e.g. https://localhost or https://localhost:8443."""
        return self.config.base_url

    def get(self, path: str, **kw: Any) -> requests.Response:
        """GET a path of the sandbox, verified by its CA."""
        kw.setdefault("timeout", timeouts().http)
        return requests.get(self.url + path, verify=str(self.state.ca_file), **kw)
