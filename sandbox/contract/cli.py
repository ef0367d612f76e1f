"""`mastodon-sandbox contract [--target sandbox|remote] [--name NAME] [pytest args]`: the contract suite
(sandbox/contract/suite) in a pytest of its own, after the target is checked, so that a bad target (no
sandbox, the stand-in, an unreachable or misconfigured server, a token without scopes) is one line and a
non-zero exit before any test starts. Remote settings are the MASTODON_CONTRACT_* variables (target.py)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys

from ..config import state_root
from ..errors import SandboxError
from ..handle import Sandbox
from .target import TARGETS, Settings, check_remote, probe_sandbox

SUITE = f"{__package__}.suite"


class _PassThrough(argparse.ArgumentParser):
    """A parser that hands the options it does not know to pytest, in their order (`-k pagination -x`)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, rest = super().parse_known_args(args, namespace)
        namespace.pytest_args = [*getattr(namespace, "pytest_args", []), *rest]
        return namespace, []


def add_contract_command(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`common` is the CLI's parent parser (--name)."""
    p = subparsers.add_parser(
        "contract", parents=[common],
        help="check a server's API against the documented contract: the sandbox (default) or a remote server",
        description="Runs the contract suite with pytest; options it does not know go to pytest. A remote server "
                    "is named by MASTODON_CONTRACT_URL and MASTODON_CONTRACT_TOKEN (MASTODON_CONTRACT_TOKEN_2, "
                    "MASTODON_CONTRACT_WRITES=1, MASTODON_CONTRACT_ALLOW_HTTP=1, MASTODON_CONTRACT_CA, MASTODON_CONTRACT_STATE, "
                    "MASTODON_CONTRACT_REPORT).")
    p.add_argument("--target", choices=TARGETS, help="sandbox (default: the one --name names) or remote ($MASTODON_CONTRACT_TARGET)")
    p.set_defaults(func=cmd_contract, pytest_args=[])
    p.__class__ = _PassThrough  # argparse makes every subparser of its own class; this one passes options on


def cmd_contract(args: argparse.Namespace) -> int:
    environ = dict(os.environ)
    if args.target:
        environ["MASTODON_CONTRACT_TARGET"] = args.target
    settings = Settings.read(environ)
    missing = [name for module, name in (("pytest", "pytest"), ("websocket", "websocket-client"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise SandboxError(f"the contract suite needs {' and '.join(missing)}: pip install 'mastodon-sandbox[pytest]'")
    if settings.target == "sandbox":
        check_sandbox(args.name)
    else:
        check_remote(settings)
    state = state_root().resolve()
    for key in ("MASTODON_CONTRACT_CA", "MASTODON_CONTRACT_STATE", "MASTODON_CONTRACT_REPORT"):
        if environ.get(key):  # paths the user gave relative to where they are, not to where pytest runs
            environ[key] = os.path.abspath(environ[key])
    environ.update({"MASTODON_CONTRACT_TARGET": settings.target, "SANDBOX_STATE_DIR": str(state)})
    pytest_args = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    command = [sys.executable, "-m", "pytest", "--pyargs", SUITE, "-p", f"{SUITE}.plugin", "-p", "no:cacheprovider",
               f"--mastodon-sandbox={args.name}", *pytest_args]
    # Started in the state folder, not the user's project: `python -m pytest` puts its directory first on
    # sys.path, where a project's own `sandbox` module would hide this package.
    state.mkdir(parents=True, exist_ok=True)
    return subprocess.run(command, env=environ, cwd=state, check=False).returncode


def check_sandbox(name: str) -> None:
    """The sandbox exists, is real Mastodon and answers; one line otherwise."""
    probe_sandbox(Sandbox.open(name))
