"""`bundle exec puma -C config/puma.rb` -> HTTP on BIND:PORT (0.0.0.0:3000)."""
from __future__ import annotations

import logging
import os
import signal
import sys

from aiohttp import web

from .. import config
from .app import build


def main() -> int:
    cfg = config.load()
    config.boot_check(cfg)
    print(config.banner(cfg, "web"), flush=True)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    # Keep /health polling out of the log (config.silence_healthcheck_path = '/health').
    logging.getLogger("aiohttp.access").addFilter(lambda rec: "/health" not in rec.getMessage())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    web.run_app(build(cfg), host=os.environ.get("BIND", "0.0.0.0"), port=int(os.environ.get("PORT", "3000")),
                print=lambda s: print(f"[web] {s}", flush=True), handle_signals=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
