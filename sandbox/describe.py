"""`python -m mastodon_sandbox.describe`: one line saying which server a sandbox runs (for `make test`)."""

import os

from .errors import SandboxError
from .state import State


def describe(name: str) -> str:
    try:
        config = State(name).load_config()
    except SandboxError:
        return "no such sandbox: run `make up` first"
    return f"{config.server} server: {config.description}, {config.base_url}"


if __name__ == "__main__":
    print(describe(os.environ.get("SANDBOX_NAME") or "default"))
