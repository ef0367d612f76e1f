"""`mastodon-sandbox hosts|deliveries|expose`: names on the host, the traffic between a group's sandboxes, and
apps on this machine exposed to a group; they register themselves on the CLI's parser (sandbox/cli.py).
`settle --group` is the data commands'."""

from __future__ import annotations

import argparse
import html
import json
import sys

import requests

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
    p = sub.add_parser("actor", parents=[common], help="serve a minimal ActivityPub actor of your own, exposed to a group, and show what it receives",
                       description="The reference actor (mastodon_sandbox.testing.actor) served on this machine and exposed to the "
                                   "group as https://DOMAIN: follow @USERNAME@DOMAIN from any member; each delivery is printed "
                                   "with its signature check, follows are accepted, and every line typed is posted to the "
                                   "followers as a public note. Ctrl-C (or the end of input) stops it and removes the exposure.")
    p.add_argument("domain", nargs="?", default="actor.localhost", metavar="DOMAIN", help="its domain (default actor.localhost)")
    p.add_argument("--username", default="bot", help="its username (default bot)")
    p.add_argument("--group", help="the group (default: that of the sandbox --name names)")
    p.set_defaults(func=cmd_actor)


def group_of(args) -> str:
    if getattr(args, "group", None):
        return args.group
    config = State(args.name).load_config()
    if not config.group:
        raise SandboxError(f"sandbox {args.name!r} is in no federation group: name one with --group, or make a member with "
                           f"`mastodon-sandbox up --name NAME --domain NAME.localhost --group GROUP` (its own domain: "
                           "federation needs a host without a port)")
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
        print(f"no longer exposed: {exposure.remove(group, args.exposed).url}")
        return 0
    if not args.to:
        raise SandboxError(f"say where the app listens: `mastodon-sandbox expose {args.exposed} --to HOST:PORT` (e.g. 127.0.0.1:8000)")
    made = exposure.expose(group, args.exposed, args.to)
    print(f"exposed to group {group!r}: {made}")
    if not exposure.listening(made.host, made.port):
        print(f"mastodon-sandbox: nothing listens on {made.target} yet: Mastodon's requests to {made.name} are answered 502 until "
              "something does (`mastodon-sandbox deliveries` shows them)", file=sys.stderr)
    return 0


def cmd_actor(args) -> int:
    """Serve the reference actor until Ctrl-C or the end of input (sandbox/testing/actor.py does the protocol)."""
    import threading

    from ..state import GroupState
    from ..testing.actor import Actor
    from . import exposure

    group = group_of(args)
    exposure.check(group, args.domain)  # one line before anything is served
    with Actor(args.domain, args.username, ca_bundle=str(GroupState(group).ca_file)) as actor:
        made = exposure.expose(group, args.domain, f"127.0.0.1:{actor.port}")
        followers: list[str] = []  # their inboxes
        print(f"{actor.handle} is served at {actor.id} to group {group!r}: follow it from any member; "
              "type a line to post it to its followers, Ctrl-C to stop", flush=True)
        lines: list[str] = []
        ended = threading.Event()

        def read_input() -> None:
            for line in sys.stdin:
                lines.append(line.strip())
            ended.set()

        threading.Thread(target=read_input, daemon=True).start()
        seen = 0
        try:
            while not ended.is_set() or lines:
                arrived = actor.inbox[seen:]
                seen += len(arrived)
                for request in arrived:
                    print(f"received {request}", flush=True)
                    if request.activity.get("type") == "Follow" and request.signature_ok:
                        try:
                            inbox = actor.fetch(request.activity["actor"]).json()["inbox"]
                            answer = actor.deliver(inbox, actor.accept(request.activity))
                        except (requests.RequestException, ValueError, KeyError) as e:  # said, and it goes on serving
                            print(f"could not accept the follow of {request.activity['actor']}: {type(e).__name__}: {e}", flush=True)
                            continue
                        followers.append(inbox)
                        print(f"accepted the follow of {request.activity['actor']}: {answer.status_code}", flush=True)
                while lines:
                    text = lines.pop(0)
                    note = actor.note(f"<p>{html.escape(text)}</p>")
                    answers = [_delivered(actor, inbox, note) for inbox in dict.fromkeys(followers)]
                    print(f"posted {note['object']['id']} to {len(answers)} follower inbox(es): {answers}", flush=True)
                ended.wait(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            exposure.remove(group, made.name)
            print(f"stopped; {made.name} is no longer exposed", flush=True)
    return 0


def _delivered(actor, inbox: str, activity: dict) -> int | str:
    """The status an inbox answered, or why it could not be reached."""
    try:
        return actor.deliver(inbox, activity).status_code
    except requests.RequestException as e:
        return type(e).__name__
