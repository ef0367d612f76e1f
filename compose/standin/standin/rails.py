"""`bin/rails` / `bundle exec rails`: the few tasks the sandbox runs (db:prepare, runner, secret,
db:encryption:init). Anything else is refused honestly."""
from __future__ import annotations

import secrets
import string
import sys

from . import config


def encryption_init(env: dict) -> int:
    """lib/tasks/db.rake (Mastodon's own db:encryption:init): three SecureRandom.alphanumeric(32) values."""
    if any(env.get(k) for k in config.AR_KEYS) and env.get("IGNORE_ALREADY_SET_SECRETS") != "true":
        print("Secrets for this server have already been set, you should not need to run this task.")
        return 1
    alnum = string.ascii_letters + string.digits
    print("Add the following secret environment variables to your Mastodon environment "
          "(e.g. .env.production), ensure they are shared across all your nodes and do not change them after "
          "they are set:\n")
    for k in config.AR_KEYS:
        print(f"{k}={''.join(secrets.choice(alnum) for _ in range(32))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import os
    argv = sys.argv[1:] if argv is None else argv
    cfg = config.load()
    if not argv:
        print("Usage: rails COMMAND [options]  (mastodon-sandbox stand-in: db:prepare, runner, secret, "
              "db:encryption:init)")
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "secret":
        print(secrets.token_hex(64))
        return 0
    if cmd == "db:encryption:init":
        return encryption_init(dict(os.environ))
    config.boot_check(cfg)
    if cmd in ("db:prepare", "db:setup", "db:migrate", "db:create", "db:schema:load", "db:seed"):
        from . import db
        print(config.banner(cfg, "rails " + cmd), flush=True)
        db.prepare(cfg, log=lambda s: print(s, flush=True))
        return 0
    if cmd in ("runner", "r"):
        from . import runner
        return runner.main(rest, cfg)
    sys.stderr.write(f"stand-in: `rails {cmd}` is not provided by the mastodon-sandbox stand-in\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
