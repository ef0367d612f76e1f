"""mastodon-sandbox: the command line. Thin: each command calls one function of the library."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path

from . import __version__, server_commands
from .config import SETTINGS_BY_FIELD, add_setting_options, convert_setting, requested_settings, settings_from_env
from .contract.cli import add_contract_command
from .data.cli import add_commands as add_data_commands
from .data.up import up
from .federation import names
from .federation.exposure import door, exposures
from .faults.cli import add_commands as add_faults_commands
from .faults.layer import FaultLayer
from .federation.cli import add_commands as add_federation_commands
from .docker_env import doctor
from .errors import SandboxError
from .handle import Sandbox
from .lifecycle import destroy, down, one_at_a_time
from .progress import Progress
from .provision import env_exports as token_exports
from .provision.cli import add_commands
from .provision.credentials import Credentials
from .stack import Stack
from .state import State


def cmd_up(args) -> int:
    progress = Progress(quiet=args.quiet)
    requested = requested_settings(args)
    with one_at_a_time(args.name):
        config = up(args.name, requested, progress, provision=not args.no_provision).config
    progress.step(f"sandbox {config.name!r} is up at {config.base_url} ({config.server} server): `mastodon-sandbox info` for logins, `eval \"$(mastodon-sandbox env)\"` for a shell")
    return 0


def cmd_build(args) -> int:
    """Build Mastodon from source ahead of time (reused while its inputs are unchanged); starts nothing."""
    from .config import SandboxConfig
    from .images import LOCAL_BASE, ensure_base, ensure_source_images, remove_replaced_images, source_folder

    settings = requested_settings(args, "version", "source_dir")
    config = SandboxConfig(name="build", server="source", **settings)
    source_folder(config)  # built from this folder or not at all: never "done" with images built earlier
    progress = Progress(quiet=args.quiet)
    ensure_base(LOCAL_BASE, progress)
    remove_replaced_images(ensure_source_images(config, progress))
    progress.step(f"Mastodon {config.release.version} from source is built: "
                  f"`up --server source --source {config.source_dir} --version {config.release.series}` uses it")
    return 0


def cmd_down(args) -> int:
    with one_at_a_time(args.name):
        down(args.name, Progress())
    return 0


def cmd_destroy(args) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise SandboxError(f"destroy removes sandbox {args.name!r} with its data and secrets: confirm with --yes")
        answer = input(f"Remove sandbox {args.name!r}: containers, volumes, accounts, tokens and its CA? Type its name to confirm: ")
        if answer.strip() != args.name:
            raise SandboxError("not confirmed; nothing was removed")
    with one_at_a_time(args.name, create=False):
        destroy(args.name, Progress())
    return 0


def cmd_status(args) -> int:
    sandbox = Sandbox.open(args.name)
    config, stack = sandbox.config, sandbox.stack
    print(f"sandbox {config.name}: {config.server} server, {config.description}, {config.base_url}, media: {config.s3}")
    if config.hostname:
        group = f", in federation group {config.group!r}" if config.group else ""
        print(f"  served on {config.address}:443{group}")
        hint = names.unresolved_hint(config.hostname, config.address)
        if hint:
            print(f"  note: {hint}")
        for exposed in exposures(config.group) if config.group else ():
            mark = "ok" if door(exposed) is not None else "--"
            print(f"  {mark} exposed to the group: {exposed}")
    services = stack.services()
    if not services:
        print("  not running (mastodon-sandbox up)")
        return 1
    for s in sorted(services, key=lambda s: s.service):
        mark = "ok" if s.ready else "--"
        print(f"  {mark} {s.service:<11} {s.state}{' ' + s.health if s.health else ''}{' exit ' + str(s.exit_code) if s.state == 'exited' else ''}")
    try:
        rules = FaultLayer(sandbox).rules()
    except SandboxError as e:
        print(f"  fault rules: {e}")
    else:
        if rules:  # a forgotten rule makes a healthy sandbox look broken: say so here
            print(f"  fault rules set: {len(rules)}, spent or not (`mastodon-sandbox faults list`; `faults clear` removes them)")
    down = [s.service for s in services if not s.ready]
    if down:
        # restart: unless-stopped does not bring back a killed container (Docker counts a kill as a stop).
        print(f"  down: {', '.join(sorted(down))}: `mastodon-sandbox up --name {config.name}` starts them again, and only them")
    problems = _state_problems(sandbox)
    for line in problems:
        print(f"  {line}")
    return 0 if not down and not problems else 1


def _state_problems(sandbox: Sandbox) -> list[str]:
    """What `status` must say beyond the containers' own view: a save or restore cut short, processes left
    frozen (resumed here: Docker calls them running and their health checks pass for minutes), a damaged
    credentials file."""
    from .data import journal, snapshots

    out = []
    with sandbox.state.lock("snapshots", blocking=False) as free:
        record = journal.read(sandbox.state)
        if record:
            out.append(f"cut short: a {journal.describe(record)}: `mastodon-sandbox up --name {sandbox.name}` finishes it"
                       if free else f"under way: a {journal.describe(record)}")
        thawed = snapshots.thaw(sandbox) if free else []  # a busy lock: a save or restore freezing them on purpose
    if thawed:
        out.append(f"frozen: {', '.join(thawed)} (left stopped by a snapshot save or restore that was cut short): resumed now")
    try:
        sandbox.state.read_json(sandbox.state.credentials_file)
    except SandboxError as e:
        out.append(f"damaged: {e}")
    return out


def whole_number(raw: str, option: str) -> int:
    """An option's whole number of 0 or more, or one line (compose reads a negative --tail as "all")."""
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise SandboxError(f"bad value for {option}: {raw!r} (a whole number of 0 or more)")
    return value


def cmd_logs(args) -> int:
    tail = whole_number(args.tail, "--tail")
    stack = Sandbox.open(args.name).stack
    argv = ["logs", "--no-color", "--tail", str(tail)]
    if args.follow:
        argv.append("--follow")
    argv += args.services
    return stack.run(*argv, capture=False, check=False, timeout=None).returncode


def env_exports(state: State) -> dict[str, str]:
    config = state.load_config()
    return {
        "SANDBOX_NAME": config.name,
        "SANDBOX_BASE_URL": config.base_url,
        "MASTODON_API_BASE_URL": config.base_url,
        "SANDBOX_CA_FILE": str(state.ca_file),
        # A bundle of the system's CAs plus the sandbox's, so other HTTPS calls keep working.
        "REQUESTS_CA_BUNDLE": str(state.bundle_file),
        "CURL_CA_BUNDLE": str(state.bundle_file),
        "SSL_CERT_FILE": str(state.bundle_file),
        "NODE_EXTRA_CA_CERTS": str(state.ca_file),
        **token_exports(state),
    }


def cmd_env(args) -> int:
    state = State(args.name)
    for key, value in env_exports(state).items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_info(args) -> int:
    sandbox = Sandbox.open(args.name)
    config, state = sandbox.config, sandbox.state
    accounts = Credentials.load(state).accounts
    print(f"Sandbox {config.name!r}: {config.base_url}  ({config.server} server)")
    print(f"  Server: {config.description}")
    print(f"  CA certificate: {state.ca_file}")
    print(f"  Shell setup:    eval \"$(mastodon-sandbox env --name {config.name})\"")
    if accounts:
        print("  Logins (e-mail / password):")
        for username, acct in sorted(accounts.items()):
            if acct.pool:
                continue
            role = f" [{acct.role}]" if acct.role else ""
            print(f"    {username:<10} {acct.email} / {acct.password}{role}")
    print("  To use the web UI in a browser, trust the CA for websites:")
    print(f"    Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import {state.ca_file}")
    print(f"    Chromium/Chrome: Settings > Privacy and security > Security > Manage certificates > Authorities > Import {state.ca_file}")
    print("  The CA is name-constrained to localhost and loopback addresses: it cannot vouch for any other site.")
    return 0


def cmd_mail(args) -> int:
    """Mail Mastodon sent: ActionMailer's file delivery writes one file per recipient in Sidekiq's tmp/mails."""
    stack = Sandbox.open(args.name).stack
    if args.address:
        proc = stack.exec(*server_commands.mail_show(args.address))
        if proc.returncode != 0:
            raise SandboxError(f"no mail for {args.address} (mastodon-sandbox mail lists the recipients)")
        sys.stdout.write(proc.stdout)
        return 0
    proc = stack.exec(*server_commands.mail_list())
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        print("no mail yet")
    for line in lines:
        address, _, count = line.partition("\t")
        print(f"{address}\t{count} message(s)")
    return 0


def cmd_doctor(args) -> int:
    state = State(args.name)
    config = state.load_config() if state.exists() else None
    if args.port:
        port = convert_setting(SETTINGS_BY_FIELD["port"], args.port, "--port")
    else:
        port = config.port if config else settings_from_env().get("port", 443)
    held = args.name if config and port == config.port and Stack(config, state).is_running() else None
    checks = doctor(port, state.dir, port_held_by=held)
    for c in checks:
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.name:<12} {c.detail}")
    return 0 if all(c.ok for c in checks) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mastodon-sandbox", description="A local Mastodon sandbox for developing and testing API clients.")
    parser.add_argument("--version", action="version", version=f"mastodon-sandbox {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name", default=os.environ.get("SANDBOX_NAME") or "default", help="which sandbox (default: $SANDBOX_NAME or 'default')")
    common.add_argument("--state-dir", metavar="DIR", help="the state folder, holding one folder per sandbox "
                                                          "(default: $SANDBOX_STATE_DIR, else ./.sandbox)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("up", parents=[common], help="create or start the sandbox, wait until it is ready, provision accounts and tokens")
    add_setting_options(p, *SETTINGS_BY_FIELD)
    p.add_argument("--no-provision", action="store_true", help="start the server only")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("build", help="build Mastodon from source ahead of time (the source server's images); starts nothing")
    add_setting_options(p, "version", "source_dir")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_build)

    sub.add_parser("down", parents=[common], help="stop the sandbox, keeping its data").set_defaults(func=cmd_down)
    p = sub.add_parser("destroy", parents=[common], help="remove the sandbox: containers, volumes and state")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_destroy)
    sub.add_parser("status", parents=[common], help="show the services and their health").set_defaults(func=cmd_status)
    p = sub.add_parser("logs", parents=[common], help="show the services' logs")
    p.add_argument("services", nargs="*")
    p.add_argument("--tail", default="100", help="lines of each service's log to show (default 100)")
    p.add_argument("-f", "--follow", action="store_true")
    p.set_defaults(func=cmd_logs)
    sub.add_parser("env", parents=[common], help="print shell exports: URL, CA bundle, default tokens").set_defaults(func=cmd_env)
    sub.add_parser("info", parents=[common], help="URL, logins and how to trust the CA in a browser").set_defaults(func=cmd_info)
    p = sub.add_parser("mail", parents=[common], help="list the mail Mastodon sent, or print one recipient's")
    p.add_argument("address", nargs="?")
    p.set_defaults(func=cmd_mail)
    p = sub.add_parser("doctor", parents=[common], help="check Docker, Compose, the port and disk")
    p.add_argument("--port", help="the HTTPS port to check (default: the sandbox's, or $SANDBOX_PORT, or 443)")
    p.set_defaults(func=cmd_doctor)

    add_data_commands(sub, common)
    add_federation_commands(sub, common)
    add_faults_commands(sub, common)
    add_commands(sub, common)
    add_contract_command(sub, common)
    return parser


# Commands that work on a sandbox's data: a save or restore cut short is finished before them (`up` does it
# itself once the services run; `status` reports it).
FINISH_FIRST = {"token", "accounts", "seed", "settle", "run-due", "mail", "snapshot", "reset", "contract"}


def _finish_cut_short(args: argparse.Namespace) -> None:
    if args.command in FINISH_FIRST and State(args.name).operation_file.exists():
        from .data.snapshots import recover

        recover(Sandbox.open(args.name), Progress())


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a command as Ctrl-C does: its clean-up runs


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "state_dir", None):
        # In the environment, so that everything this command runs or starts (pytest, the contract suite) agrees.
        os.environ["SANDBOX_STATE_DIR"] = str(Path(args.state_dir).expanduser().resolve())
    signal.signal(signal.SIGTERM, _terminate)
    names.install()  # the sandboxes' own domains (NAME.localhost) resolve in this process, /etc/hosts or not
    try:
        _finish_cut_short(args)
        return args.func(args)
    except SandboxError as e:
        print(f"mastodon-sandbox: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`mastodon-sandbox status | head -1`): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
