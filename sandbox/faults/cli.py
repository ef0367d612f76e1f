"""`mastodon-sandbox faults add|list|clear|log`: faults on demand; registers itself on the CLI's parser (sandbox/cli.py)."""

from __future__ import annotations

import argparse
import json
import time

from ..errors import SandboxError
from ..handle import Sandbox
from .rules import DEFAULT_LIMIT, DEFAULT_RESET_IN


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "faults", parents=[common], help="make chosen requests fail on purpose: statuses, delays, closed connections, cut streams",
        description="add: a rule in front of Mastodon, in force when the command returns; it prints the rule's id. "
                    "It matches --account (its tokens; default every request), --method, --path (a glob) and --stream, "
                    "and does one of --status CODE (Mastodon's or nginx's own body and headers for it), --delay SECONDS "
                    "(then Mastodon's answer), --close (no answer) or --cut-after-events N / --cut-after SECONDS (a "
                    "streaming answer cut). --count, --probability (with --seed) and --for limit it. "
                    "list: the rules. clear [ID ...]: remove them (all without ids). log: every fault made.")
    p.add_argument("action", choices=("add", "list", "clear", "log"))
    p.add_argument("ids", nargs="*", metavar="ID", help="clear: the rules to remove (default all)")
    p.add_argument("--account", help="only this account's requests (a username of the sandbox)")
    p.add_argument("--method", help="only this HTTP method")
    p.add_argument("--path", help="only paths matching this glob, e.g. '/api/v1/statuses*' (default every path)")
    p.add_argument("--stream", help="only this streaming stream, e.g. user or public:local")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--status", type=int, help="answer this status (400-599)")
    act.add_argument("--delay", type=float, metavar="SECONDS", help="wait, then pass the request on")
    act.add_argument("--close", action="store_true", help="close the connection without an answer")
    p.add_argument("--cut-after-events", type=int, metavar="N", help="cut a streaming answer after N events")
    p.add_argument("--cut-after", type=float, metavar="SECONDS", help="cut a streaming answer after SECONDS")
    p.add_argument("--count", type=int, help="apply it this many times, then never again")
    p.add_argument("--probability", type=float, help="apply it to this share of the requests it matches (0-1]")
    p.add_argument("--seed", type=int, default=0, help="the dice of --probability (the same seed repeats a run)")
    p.add_argument("--for", dest="duration", type=float, metavar="SECONDS", help="in force for this long")
    p.add_argument("--reset-in", type=float, default=DEFAULT_RESET_IN, metavar="SECONDS",
                   help=f"429: X-RateLimit-Reset this far ahead (default {DEFAULT_RESET_IN:g})")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"429: X-RateLimit-Limit (default {DEFAULT_LIMIT})")
    p.add_argument("--retry-after", type=int, metavar="SECONDS", help="503: a Retry-After header")
    p.add_argument("--json", action="store_true", help="list and log: one JSON object per line")
    p.set_defaults(func=cmd_faults)


def cmd_faults(args: argparse.Namespace) -> int:
    from .layer import FaultLayer

    if args.action != "clear" and args.ids:
        raise SandboxError(f"faults {args.action} takes no rule ids (only clear does)")
    layer = FaultLayer(Sandbox.open(args.name))
    if args.action == "add":
        rule = layer.add(status=args.status, delay=args.delay, close=args.close, cut_after_events=args.cut_after_events,
                         cut_after=args.cut_after, account=args.account, method=args.method, path=args.path,
                         stream=args.stream, count=args.count, probability=args.probability, seed=args.seed,
                         duration=args.duration, reset_in=args.reset_in, limit=args.limit, retry_after=args.retry_after)
        print(rule.id)
    elif args.action == "list":
        for rule in layer.rules():
            print(json.dumps(rule.to_json()) if args.json else rule.describe())
    elif args.action == "clear":
        gone = layer.clear(args.ids or None)
        print(f"removed {len(gone)} rule(s)" + (f": {' '.join(gone)}" if gone else ""))
    else:
        for entry in layer.log():
            if args.json:
                print(json.dumps(entry))
                continue
            when = time.strftime("%H:%M:%S", time.localtime(entry["time"]))
            what = f"{entry['status']}" if entry.get("status") else entry["action"]
            print(f"{when}  {entry['rule']}  {what:<6} {entry['method']} {entry['path']}  {entry.get('account') or '-'}")
    return 0
