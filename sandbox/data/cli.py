"""`mastodon-sandbox seed|settle|run-due|reset|snapshot`: the commands that work on a sandbox's data, each
calling one function of this package; they register themselves on the CLI's parser (sandbox/cli.py)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..config import add_setting_options, requested_settings
from ..errors import SandboxError
from ..handle import Sandbox
from ..progress import Progress


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`common` is the CLI's parent parser with the options every command takes (--name, --state-dir)."""
    p = sub.add_parser("seed", parents=[common], help="fill the sandbox with a seed scenario (real Mastodon only)")
    p.add_argument("--scenario", default="default", help="a scenario of fixtures/scenarios/ (default, small) or a .json file")
    p.add_argument("--seed", type=int, default=1, help="the same seed gives the same content (default 1)")
    p.add_argument("--scale", type=int, default=1, help="multiplies the accounts and the totals (default 1)")
    p.add_argument("--group", help="every sandbox of this federation group, then follows, mentions, replies, favourites "
                                   "and boosts between them (instead of --name)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_seed)
    p = sub.add_parser("settle", parents=[common], help="wait until background work (Sidekiq) is done")
    p.add_argument("--timeout", type=float, help="seconds (default $SANDBOX_TIMEOUT_SETTLE or 300)")
    p.add_argument("--group", help="every sandbox of this federation group, and the traffic between them")
    p.set_defaults(func=cmd_settle)
    p = sub.add_parser("reset", parents=[common], help="return to the seeded state in seconds (database, Redis, media, credentials)")
    p.add_argument("--group", help="every sandbox of this federation group together")
    p.set_defaults(func=cmd_reset)
    p = sub.add_parser("snapshot", parents=[common], help="named snapshots: save, restore, list, delete, export, import",
                       description="Named states of the sandbox (`seed` saves 'seeded', which `reset` restores). "
                                   "list prints one line per snapshot: NAME, when it was taken (UTC), the Mastodon "
                                   "version and the seconds it took. import FILE brings an exported snapshot into the "
                                   "sandbox --name names, made from the file when there is none.")
    p.add_argument("action", choices=("save", "restore", "list", "delete", "export", "import"))
    p.add_argument("snapshot", nargs="?", metavar="NAME", help="the snapshot's name (import: the FILE export wrote)")
    p.add_argument("--replace", action="store_true", help="save over an existing snapshot of that name")
    p.add_argument("--file", help="export: the file to write (default NAME.snapshot.tar.gz)")
    p.add_argument("--group", help="save or restore: every sandbox of this federation group together")
    add_setting_options(p, "source_dir")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_snapshot)
    p = sub.add_parser("run-due", parents=[common], help="publish scheduled statuses and end polls now (real Mastodon only)",
                       description="Without --poll or --scheduled: every scheduled status and poll of the sandbox that falls "
                                   "due within --within seconds, whoever made it.")
    p.add_argument("--within", type=float, default=7 * 24 * 3600, help="what falls due within this many seconds (default a week)")
    p.add_argument("--poll", action="append", metavar="ID", help="end only this poll (repeat for more)")
    p.add_argument("--scheduled", action="append", metavar="ID", help="publish only this scheduled status (repeat for more)")
    p.set_defaults(func=cmd_run_due)



def cmd_seed(args) -> int:
    """Fill the sandbox with a seed scenario through the API; the summary goes to the state folder."""
    from .seed import seed, seed_file

    if args.group:
        return _seed_group(args)
    sandbox = Sandbox.open(args.name)
    progress = Progress(quiet=args.quiet)
    summary = seed(sandbox, args.scenario, args.seed, args.scale, progress)
    progress.step(f"seeded {len(summary['accounts'])} accounts and {len(summary['statuses'])} statuses in "
                  f"{summary['seconds']} s; ids and usernames: {seed_file(sandbox)}")
    return 0


def _seed_group(args) -> int:
    from ..federation.seed import seed_group
    from ..state import GroupState

    # --name has a default ($SANDBOX_NAME or 'default'): only another name than that was asked for
    if args.name != (os.environ.get("SANDBOX_NAME") or "default"):
        raise SandboxError(f"seed --group seeds every member of group {args.group!r}: leave --name out "
                           f"(`mastodon-sandbox seed --name {args.name}` seeds that sandbox alone)")
    progress = Progress(quiet=args.quiet)
    summary = seed_group(args.group, args.scenario, args.seed, args.scale, progress)
    made = ", ".join(f"{n} {kind}" for kind, n in summary["counts"].items())
    progress.step(f"seeded group {args.group!r} ({', '.join(summary['members'])}): {made} between them, in "
                  f"{summary['seconds']} s; ids on each side: {GroupState(args.group).seed_file}")
    return 0


def cmd_settle(args) -> int:
    """Wait until Sidekiq has nothing enqueued, busy or due soon."""
    if args.group:
        from ..federation.group import members
        from ..federation.traffic import settle_group

        for domain, stats in settle_group(members(args.group), timeout=args.timeout).items():
            print(f"settled: {domain}: {stats}")
        return 0
    from .settle import settle

    stats = settle(Sandbox.open(args.name), timeout=args.timeout)
    print(f"settled: {stats}")
    return 0


def cmd_run_due(args) -> int:
    """Publish due scheduled statuses and end due polls now."""
    from .due import run_due

    done = run_due(Sandbox.open(args.name), within=args.within, poll_ids=args.poll, scheduled_ids=args.scheduled)
    print(f"published {len(done['published'])} scheduled status(es), ended {len(done['polls_ended'])} poll(s)")
    return 0


def cmd_reset(args) -> int:
    """Back to the seeded state: database, Redis, media files, credentials."""
    from .snapshots import SEEDED, reset

    if args.group:
        return _group_snapshot(args.group, "restore", SEEDED, replace=False)
    done = reset(Sandbox.open(args.name), Progress(quiet=True))
    print(f"reset to the seeded state in {done.seconds} s" + (f" (files restored: {', '.join(done.files_restored)})" if done.files_restored else ""))
    return 0


def cmd_snapshot(args) -> int:
    from . import snapshots

    if args.action == "import":
        from . import archive

        if not args.snapshot:
            raise SandboxError("snapshot import needs the FILE `snapshot export` wrote")
        done = archive.import_(Path(args.snapshot), args.name, requested_settings(args, "source_dir").get("source_dir"),
                               Progress(quiet=args.quiet))
        made = f"made sandbox {done.sandbox!r} from it and restored it" if done.created else \
            f"kept it in sandbox {done.sandbox!r}: `mastodon-sandbox snapshot restore {done.name}` to go to it"
        print(f"imported snapshot {done.name!r}; {made}")
        return 0
    if args.group:
        if args.action not in ("save", "restore") or not args.snapshot:
            raise SandboxError("snapshot --group takes save NAME or restore NAME (the other actions are a sandbox's: --name)")
        return _group_snapshot(args.group, args.action, args.snapshot, args.replace)
    sandbox = Sandbox.open(args.name)
    if args.action == "list":
        rows = snapshots.list_snapshots(sandbox)
        if not rows:
            print("no snapshots yet: `mastodon-sandbox snapshot save NAME`")
        for m in rows:
            print(f"{m['name']:<20} {m['created']}  Mastodon {m['mastodon']}  taken in {m['seconds']} s")
        return 0
    if not args.snapshot:
        raise SandboxError(f"snapshot {args.action} needs a NAME")
    if args.action == "save":
        m = snapshots.save(sandbox, args.snapshot, Progress(quiet=True), replace=args.replace)
        print(f"saved snapshot {m['name']!r} in {m['seconds']} s")
    elif args.action == "export":
        from . import archive

        done = archive.export(sandbox, args.snapshot, Path(args.file) if args.file else archive.default_file(args.snapshot),
                              Progress(quiet=args.quiet))
        print(f"exported snapshot {done.name!r} to {done.file} ({done.bytes / 1e6:.1f} MB; it holds the "
              "sandbox's secrets and tokens: keep it private)")
    elif args.action == "restore":
        done = snapshots.restore(sandbox, args.snapshot)
        files = f" (files put back: {', '.join(done.files_restored)})" if done.files_restored else ""
        print(f"restored snapshot {done.name!r} in {done.seconds} s{files}")
    else:
        snapshots.delete(sandbox, args.snapshot)
        print(f"deleted snapshot {args.snapshot!r}")
    return 0


def _group_snapshot(group: str, action: str, name: str, replace: bool) -> int:
    from ..federation.group import members
    from ..federation.snapshots import restore_group, save_group

    found = members(group)
    if action == "save":
        for m, sb in zip(save_group(found, name, Progress(quiet=True), replace=replace), found):
            print(f"{sb.name}: saved snapshot {m['name']!r} in {m['seconds']} s")
    else:
        for done, sb in zip(restore_group(found, name, Progress(quiet=True)), found):
            print(f"{sb.name}: restored snapshot {done.name!r} in {done.seconds} s")
    return 0
