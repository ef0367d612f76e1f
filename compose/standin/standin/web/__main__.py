"""`bundle exec puma -C config/puma.rb` -> HTTP on BIND:PORT (0.0.0.0:3000)."""
from __future__ import annotations

import logging
import sys

from .. import config
from ..serve import serve
from .app import build


def main() -> int:
    cfg = config.load()
    config.boot_check(cfg)
    print(config.banner(cfg, "web"), flush=True)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    # Keep /health polling out of the log (config.silence_healthcheck_path = '/health').
    logging.getLogger("aiohttp.access").addFilter(lambda rec: "/health" not in rec.getMessage())
    return serve(build(cfg), "web", 3000)


if __name__ == "__main__":
    sys.exit(main())
