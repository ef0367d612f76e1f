"""Running one of the stand-in's HTTP servers (web on 3000, streaming on 4000) as Puma and Node do:
on BIND:PORT, stopping at once on SIGTERM."""
from __future__ import annotations

import os
import signal
import sys

from aiohttp import web


def serve(app: web.Application, role: str, default_port: int) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    web.run_app(app, host=os.environ.get("BIND", "0.0.0.0"), port=int(os.environ.get("PORT", str(default_port))),
                print=lambda s: print(f"[{role}] {s}", flush=True), handle_signals=False)
    return 0
