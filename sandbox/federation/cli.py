"""`mastodon-sandbox hosts|deliveries|expose`: names on the host, the traffic between a group's sandboxes, and
apps on this machine exposed to a group; they register themselves on the CLI's parser (sandbox/cli.py).
`settle --group` is the data commands'."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import SandboxError
from ..state import State
from . import names


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("hosts", parents=[common], help="the /etc/hosts lines other programs need for the sandboxes' own domains",
                       description="mastodon-sandbox resolves NAME.localhost itself; other programs (curl, a browser) "
                                   "need these lines. --write adds the missing ones to /etc/hosts, after asking.")
    p.add_argument("--write", action="store_true", help="add the missing lines to /etc/hosts")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(func=cmd_hosts)
    p = sub.add_parser("deliveries", parents=[common], help="the ActivityPub traffic between a group's sandboxes, as their proxies saw it")
    p.add_argument("--group", help="the group (default: that of the sandbox --name names)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_deliveries)
    p = sub.add_parser("expose", parents=[common], help="give an app on this machine a domain a group's instances federate with",
                       description="The app (plain HTTP at --to) is served to every member of the group as https://DOMAIN "
                                   "with a certificate from the group's CA; it sees the original Host and X-Forwarded-Proto. "
                                   "Without DOMAIN, lists what is exposed.")
    p.add_argument("exposed", nargs="?", metavar="DOMAIN", help="the app's domain, e.g. myapp.localhost")
    p.add_argument("--to", help="the app's address on this machine, HOST:PORT, e.g. 127.0.0.1:8000")
    p.add_argument("--remove", action="store_true", help="stop exposing DOMAIN")
    p.add_argument("--group", help="the group (default: that of the sandbox --name names)")
    p.set_defaults(func=cmd_expose)


def group_of(args) -> str:
    if getattr(args, "group", None):
        return args.group
    config = State(args.name).load_config()
    if not config.group:
        raise SandboxError(f"sandbox {args.name!r} is in no federation group: name one with --group")
    return config.group


def cmd_hosts(args) -> int:
    missing = names.missing_hosts_lines()
    if not names.hosts_lines():
        raise SandboxError(f"no sandbox in {State(args.name).dir.parent} has its own domain (`up --domain NAME.localhost`)")
    if not args.write:
        for line in names.hosts_lines():
            print(line)
        return 0
    if not missing:
        print(f"{names.HOSTS_FILE} already resolves every sandbox domain")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise SandboxError(f"--write changes {names.HOSTS_FILE}: confirm with --yes")
        answer = input(f"Add these lines to {names.HOSTS_FILE}?\n  " + "\n  ".join(missing) + "\n[y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise SandboxError(f"not confirmed; {names.HOSTS_FILE} is unchanged")
    try:
        names.add_hosts_lines(missing)
    except PermissionError:
        raise SandboxError(f"{names.HOSTS_FILE} is not writable by this user: `mastodon-sandbox hosts | sudo tee -a {names.HOSTS_FILE}` "
                           "adds the lines (sudo would not see this state folder)") from None
    print(f"added {len(missing)} line(s) to {names.HOSTS_FILE}")
    return 0


def cmd_deliveries(args) -> int:
    from .group import members
    from .traffic import deliveries

    found = deliveries(members(group_of(args)))
    for d in found:
        print(json.dumps(d.__dict__) if args.json else d)
    if not found and not args.json:
        print("no traffic between the group's sandboxes yet")
    return 0


def cmd_expose(args) -> int:
    from . import exposure

    group = group_of(args)
    if args.exposed is None:
        if args.to or args.remove:
            raise SandboxError("name what to expose or remove: `mastodon-sandbox expose DOMAIN --to HOST:PORT` or `expose --remove DOMAIN`")
        found = exposure.exposures(group)
        for e in found:
            print(e)
        if not found:
            print(f"nothing is exposed to group {group!r}")
        return 0
    if args.remove:
        print(f"no longer exposed: {exposure.remove(group, args.exposed)}")
        return 0
    if not args.to:
        raise SandboxError(f"say where the app listens: `mastodon-sandbox expose {args.exposed} --to HOST:PORT` (e.g. 127.0.0.1:8000)")
    made = exposure.expose(group, args.exposed, args.to)
    print(f"exposed to group {group!r}: {made}")
    if not exposure.listening(made.host, made.port):
        print(f"mastodon-sandbox: nothing listens on {made.target} yet: Mastodon's requests to {made.name} are answered 502 until "
              "something does (`mastodon-sandbox deliveries` shows them)", file=sys.stderr)
    return 0
