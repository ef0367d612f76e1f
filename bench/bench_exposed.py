"""What an exposed app's route adds (`mastodon-sandbox expose`): the same fetch of a minimal actor's document
(sandbox/testing/actor.py), straight from this machine to the app's plain-HTTP port, and through the route
Mastodon takes — HTTPS to the door on the group's network, the relay, the app — measured side by side,
interleaved in rounds, each with a kept-alive client (the app itself closes every connection, as http.server
does). The group is the federation setting's (SANDBOX_FEDERATION, default fed:a,b), brought up when not running.
Usage: python bench/bench_exposed.py [ROUNDS] [FETCHES_PER_ROUND]
"""

from __future__ import annotations

import socket
import statistics
import sys
import time

import requests

from common import describe, federation, server_settings
from mastodon_sandbox.config import group_network
from mastodon_sandbox.federation import exposure
from mastodon_sandbox.state import GroupState
from mastodon_sandbox.testing.actor import Actor

ACCEPT = {"Accept": "application/activity+json"}


def per_fetch(session: requests.Session, url: str, count: int, verify: str | bool = True) -> float:
    started = time.perf_counter()
    for _ in range(count):
        r = session.get(url, headers=ACCEPT, timeout=10, verify=verify)  # per request: REQUESTS_CA_BUNDLE beats session.verify
        if r.status_code != 200:
            sys.exit(f"bench: {url} answered {r.status_code}")
    return (time.perf_counter() - started) / count


def resolve_to(name: str, address: str) -> None:
    """This process finds `name` at `address` (the door's, on the group's network: the host is its gateway)."""
    system = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return system(address if host == name else host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    fetches = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    args = server_settings()
    print(describe(args))
    spec, _ = federation(args)
    name = "bench-app.localhost"
    with Actor(name, ca_bundle=str(GroupState(spec.group).ca_file)) as actor:
        if any(e.name == name for e in exposure.exposures(spec.group)):
            exposure.remove(spec.group, name)
        made = exposure.expose(spec.group, name, f"127.0.0.1:{actor.port}")
        try:
            door = exposure.door(made)
            resolve_to(name, door.attrs["NetworkSettings"]["Networks"][group_network(spec.group)]["IPAddress"])
            straight, routed = requests.Session(), requests.Session()
            ca = str(GroupState(spec.group).ca_file)
            port = actor.port
            direct_url, door_url = f"http://127.0.0.1:{port}/users/bot", f"{made.url}/users/bot"
            per_fetch(straight, direct_url, 10), per_fetch(routed, door_url, 10, ca)  # warm: connections, TLS session
            pairs = [(per_fetch(straight, direct_url, fetches), per_fetch(routed, door_url, fetches, ca)) for _ in range(rounds)]
        finally:
            exposure.remove(spec.group, name)
    direct = statistics.median(p[0] for p in pairs) * 1000
    through = statistics.median(p[1] for p in pairs) * 1000
    ratio = statistics.median(p[1] / p[0] for p in pairs)
    print(f"a fetch of the actor, straight to http://127.0.0.1:{port}:   median {direct:6.2f} ms")
    print(f"the same through https://{name} (door, relay):  median {through:6.2f} ms   "
          f"({ratio:.2f}x, +{through - direct:.2f} ms; median of {rounds} rounds of {fetches}; goal <= 1.2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
