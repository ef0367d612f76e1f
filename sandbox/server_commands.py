"""Every command the harness runs inside the sandbox's containers, in one place.

Code that runs a server-side command builds it here (never inline), and the offline stand-in implements
exactly this list: `COMMANDS` names each command, its service, its argv shape and what it prints.
Shipped Ruby scripts live in `sandbox/provision/scripts/`; each starts with `# sandbox-script: NAME`,
the line the stand-in recognises them by.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import SandboxError

SCRIPTS_DIR = Path(__file__).resolve().parent / "provision" / "scripts"
SCRIPT_MARKER = "# sandbox-script: "


@dataclass(frozen=True)
class ServerCommand:
    """One server-side command: `argv` is its shape, `{NAME}` a value, `[...]` an optional part."""

    name: str
    service: str
    argv: tuple[str, ...]
    stdin: str | None  # what it reads on stdin, if anything
    output: str  # what it prints on success (and how it fails)


COMMANDS: tuple[ServerCommand, ...] = (
    ServerCommand(
        "db:prepare", "web", ("bundle", "exec", "rails", "db:prepare"), None,
        "creates, loads and migrates the database (run by compose before web starts)",
    ),
    # lib/mastodon/cli/accounts.rb `create`
    ServerCommand(
        "accounts create", "web",
        ("tootctl", "accounts", "create", "{USERNAME}", "--email", "{EMAIL}", "--confirmed", "--approve",
         "[--role", "{ROLE}]"),
        None,
        "stdout: `OK` then `New password: <32 hex>` (a Sidekiq log line may come first); rc 1 with stderr "
        "`Failure/Error: <attribute>` / `    <error>` lines, or `Cannot find user role with that name`",
    ),
    # lib/mastodon/cli/accounts.rb `modify`: change_password! also revokes every token (app/models/user.rb)
    ServerCommand(
        "accounts modify --reset-password", "web",
        ("tootctl", "accounts", "modify", "{USERNAME}", "--reset-password"), None,
        "stdout: `OK` then `New password: <32 hex>`; rc 1 with stderr `No user with such username`",
    ),
    # lib/mastodon/cli/settings.rb
    ServerCommand(
        "settings registrations", "web",
        ("tootctl", "settings", "registrations", "{open|approved|close}"), None, "stdout: `OK`",
    ),
    # lib/mastodon/cli/cache.rb: also resets Rack::Attack's counters (they live in Rails.cache)
    ServerCommand("cache clear", "web", ("tootctl", "cache", "clear"), None, "stdout: `OK`"),
    ServerCommand("version", "web", ("tootctl", "version"), None, "stdout: the version, e.g. `4.6.5`"),
    ServerCommand(
        "runner bulk_accounts", "web", ("bin/rails", "runner", "{SCRIPT bulk_accounts}"),
        "JSON spec (sandbox/provision/bulk.py)",
        "stdout: one line `SANDBOX-JSON {...}` (log lines may precede it); rc 1 and a Ruby error otherwise",
    ),
    ServerCommand(
        "runner tootctl_batch", "web", ("bin/rails", "runner", "{SCRIPT tootctl_batch}"),
        "JSON list of tootctl argv lists (without `tootctl`)",
        "stdout: one line `SANDBOX-JSON [{\"status\", \"stdout\", \"stderr\"}, ...]`, each as that tootctl call "
        "prints it alone",
    ),
)

COMMANDS_BY_NAME = {c.name: c for c in COMMANDS}


def db_prepare() -> tuple[str, list[str]]:
    return "web", ["bundle", "exec", "rails", "db:prepare"]


def accounts_create(username: str, email: str, role: str | None = None) -> tuple[str, list[str]]:
    # Always --confirmed --approve: with registrations closed an account is otherwise pending (user.rb set_approved).
    argv = ["tootctl", "accounts", "create", username, "--email", email, "--confirmed", "--approve"]
    if role:
        argv += ["--role", role]
    return "web", argv


def accounts_reset_password(username: str) -> tuple[str, list[str]]:
    return "web", ["tootctl", "accounts", "modify", username, "--reset-password"]


def settings_registrations(mode: str) -> tuple[str, list[str]]:
    if mode not in ("open", "approved", "close"):
        raise SandboxError(f"unknown registrations mode {mode!r}: use open, approved or close")
    return "web", ["tootctl", "settings", "registrations", mode]


def cache_clear() -> tuple[str, list[str]]:
    return "web", ["tootctl", "cache", "clear"]


def version() -> tuple[str, list[str]]:
    return "web", ["tootctl", "version"]


def tootctl_batch() -> tuple[str, list[str]]:
    """Several tootctl commands in one Rails boot; the JSON list of argv lists goes on stdin."""
    return rails_runner("tootctl_batch")


def script_text(name: str) -> str:
    """The text of a shipped script; its first line names it (the stand-in's cue)."""
    path = SCRIPTS_DIR / f"{name}.rb"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SandboxError(f"the script {name} is missing from {SCRIPTS_DIR}: reinstall mastodon-sandbox") from None
    if text.splitlines()[0] != f"{SCRIPT_MARKER}{name}":
        raise SandboxError(f"{path} does not start with `{SCRIPT_MARKER}{name}`: reinstall mastodon-sandbox")
    return text


def rails_runner(name: str) -> tuple[str, list[str]]:
    """`bin/rails runner <script>`: one Rails boot for a whole batch of work."""
    if f"runner {name}" not in COMMANDS_BY_NAME:
        raise SandboxError(f"no shipped script named {name!r}")
    return "web", ["bin/rails", "runner", script_text(name)]
