"""What the fault layer costs a request no rule takes (`mastodon-sandbox faults`, compose/proxy/sandbox.conf).

The same authenticated request, through the sandbox's own proxy and through a plain proxy beside it — the
same image, certificate and networks, its configuration the sandbox's with the fault routing taken out — measured
side by side, interleaved in rounds, each with a kept-alive client: first with no rule, then with 100 rules on
other accounts (the measured account's requests still go straight to Mastodon, past a map of their tokens).
A sandbox of its own is made and destroyed here.
Usage: python bench/bench_faults.py [ROUNDS] [REQUESTS_PER_ROUND]
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from common import cli, describe, server_settings
from mastodon_sandbox.config import compose_dir
from mastodon_sandbox.docker_env import docker_client, port_is_free
from mastodon_sandbox.faults.layer import FaultLayer
from mastodon_sandbox.handle import Sandbox
from mastodon_sandbox.lifecycle import destroy
from mastodon_sandbox.progress import Progress
from mastodon_sandbox.provision.credentials import Credentials
from mastodon_sandbox.waiting import Look, wait_for

NAME, PORT, PLAIN_PORT = "bench-faults", 9451, 9452
# Puma's health check, with the account's token: the proxy looks the token up in the fault maps as for any request,
# and Rack::Attack, which would throttle 1,800 API requests of one token, does not count it.
PATH = "/health"


def plain_conf() -> str:
    """The sandbox's nginx file without the fault routing: upstreams straight, no account header, no 399 page."""
    text = (compose_dir() / "proxy" / "sandbox.conf").read_text()
    text = text.replace("$to_web;", "$web;").replace("$to_streaming;", "$streaming;")
    return "\n".join(line for line in text.splitlines()
                     if not re.search(r"X-Sandbox-Fault-Account|proxy_intercept_errors|error_page 399", line)) + "\n"


def start_plain_proxy(sandbox: Sandbox, folder: Path):
    client = docker_client()
    proxy = sandbox.stack.container("proxy")
    conf = folder / "sandbox.conf"
    conf.write_text(plain_conf())
    tls = sandbox.state.tls_dir
    volumes = {str(conf): {"bind": "/etc/nginx/conf.d/sandbox.conf", "mode": "ro"},
               str(compose_dir() / "proxy" / "federation-log.conf"): {"bind": "/etc/nginx/conf.d/federation-log.conf", "mode": "ro"},
               **{str(tls / f): {"bind": f"/etc/sandbox-tls/{f}", "mode": "ro"} for f in ("cert.pem", "key.pem", "ca.pem")}}
    networks = list(proxy.attrs["NetworkSettings"]["Networks"])
    internal = next(n for n in networks if n.endswith("_internal"))
    plain = client.containers.run(proxy.image.id, detach=True, name=f"{NAME}-plain-proxy", volumes=volumes,
                                  ports={"443/tcp": ("127.0.0.1", PLAIN_PORT)}, network=internal, auto_remove=False)
    for other in networks:
        if other != internal:
            client.networks.get(other).connect(plain)
    return plain


def answers(url: str, ca: str) -> bool:
    try:
        return requests.get(url, headers={"Host": f"localhost:{PORT}"}, timeout=5, verify=ca).status_code == 200
    except requests.RequestException:
        return False


def per_request(session: requests.Session, url: str, count: int, ca: str) -> float:
    started = time.perf_counter()
    for _ in range(count):
        r = session.get(url, timeout=30, verify=ca)  # per request: REQUESTS_CA_BUNDLE beats session.verify
        if r.status_code != 200:
            sys.exit(f"bench: {url} answered {r.status_code}")
    return (time.perf_counter() - started) / count


def measure(token: str, ca: str, rounds: int, count: int) -> list[tuple[float, float]]:
    plain, faulted = requests.Session(), requests.Session()
    for s in (plain, faulted):
        s.headers["Authorization"] = f"Bearer {token}"
    plain.headers["Host"] = f"localhost:{PORT}"  # the sandbox's own: Rails refuses any other host (403)
    urls = f"https://localhost:{PLAIN_PORT}{PATH}", f"https://localhost:{PORT}{PATH}"
    per_request(plain, urls[0], 10, ca), per_request(faulted, urls[1], 10, ca)  # warm: connections, TLS sessions
    pairs = []
    for i in range(rounds):  # which goes first alternates: a machine busy for a while weighs on both alike
        if i % 2:
            through = per_request(faulted, urls[1], count, ca)
            pairs.append((per_request(plain, urls[0], count, ca), through))
        else:
            pairs.append((per_request(plain, urls[0], count, ca), per_request(faulted, urls[1], count, ca)))
    return pairs


def report(label: str, pairs: list[tuple[float, float]], goal: str) -> None:
    plain = statistics.median(p[0] for p in pairs) * 1000
    through = statistics.median(p[1] for p in pairs) * 1000
    ratio = statistics.median(p[1] / p[0] for p in pairs)
    print(f"{label:<44} plain {plain:6.2f} ms, sandbox proxy {through:6.2f} ms   ({ratio:.3f}x; goal <= {goal})")


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    args = server_settings()
    print(describe(args))
    for port in (PORT, PLAIN_PORT):
        if not port_is_free(port):
            sys.exit(f"bench: port {port} is taken")
    cli("up", "--name", NAME, "--port", str(PORT), *args, "--quiet")
    plain = None
    try:
        sandbox = Sandbox.open(NAME)
        creds = Credentials.load(sandbox.state)
        token = creds.default_token("alice").access_token
        others = [name for name, acct in creds.accounts.items() if acct.pool and creds.tokens_of(name)]
        ca = str(sandbox.state.ca_file)
        with tempfile.TemporaryDirectory() as folder:
            plain = start_plain_proxy(sandbox, Path(folder))
            wait_for(lambda: Look(answers(f"https://localhost:{PLAIN_PORT}/health", ca), None), timeout=30,
                     interval=0.1, what="the plain proxy answering")
            layer = FaultLayer(sandbox)
            layer.clear()
            report("no rule", measure(token, ca, rounds, count), "1.05x")
            for i in range(100):
                layer.add(account=others[i % len(others)], status=503, path=f"/api/v1/bench-{i}")
            report(f"100 rules on {len(others)} other accounts", measure(token, ca, rounds, count), "1.10x")
            layer.clear()
    finally:
        if plain is not None:
            plain.remove(force=True)
        destroy(NAME, Progress(quiet=True))
    print(f"(median of {rounds} rounds of {count} GET {PATH}, alternating; each the median of its per-round ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
