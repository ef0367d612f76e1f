"""How the host reaches sandboxes with their own domains. Each is served on 443 of its own loopback address
(127.0.0.N) under NAME.localhost, a name glibc alone does not resolve (systemd-resolved and macOS answer every
*.localhost with 127.0.0.1: the wrong address here). So mastodon-sandbox's own processes — the CLI, the pytest
plugin, and any program that calls `install()` — resolve those names themselves, and `mastodon-sandbox hosts`
prints the /etc/hosts lines other programs need (and adds them when the user says yes)."""

from __future__ import annotations

import socket
from pathlib import Path

from ..config import state_root
from ..state import saved_configs

HOSTS_FILE = Path("/etc/hosts")
_system_getaddrinfo = socket.getaddrinfo


def addresses(root: Path | None = None) -> dict[str, str]:
    """Every sandbox domain in the state folder and the loopback address it is served on."""
    return {c.hostname: c.address for c in saved_configs(root) if c.hostname}


_known: dict[tuple, dict[str, str]] = {}  # addresses() by the state folder's configs and their times


def _cached_addresses() -> dict[str, str]:
    root = state_root()
    key = (str(root), *((p.parent.name, p.stat().st_mtime_ns) for p in sorted(root.glob("*/config.json"))))
    if key not in _known:
        _known.clear()
        _known[key] = addresses(root)
    return _known[key]


def _getaddrinfo(host, port, *args, **kwargs):
    # Only names under .localhost are looked up in the state folder: every other lookup is the system's.
    name = host.lower().rstrip(".") if isinstance(host, str) else ""
    if name.endswith(".localhost"):
        address = _cached_addresses().get(name)
        if address:
            return _system_getaddrinfo(address, port, *args, **kwargs)
    return _system_getaddrinfo(host, port, *args, **kwargs)


def install() -> None:
    """Resolve the sandboxes' domains in this process (requests, Mastodon.py, websockets, aiohttp alike)."""
    socket.getaddrinfo = _getaddrinfo


def system_resolves(hostname: str, address: str) -> bool:
    """Whether programs outside mastodon-sandbox find `hostname` at `address` (the system's resolver)."""
    try:
        found = {info[4][0] for info in _system_getaddrinfo(hostname, 443, type=socket.SOCK_STREAM)}
    except OSError:
        return False
    return address in found


def hosts_lines(root: Path | None = None) -> list[str]:
    return [f"{address} {hostname}" for hostname, address in sorted(addresses(root).items(), key=lambda kv: kv[1])]


def missing_hosts_lines(root: Path | None = None, hosts_file: Path = HOSTS_FILE) -> list[str]:
    """The lines /etc/hosts lacks for the system to resolve every sandbox domain as mastodon-sandbox does."""
    present = set()
    if hosts_file.exists():
        for line in hosts_file.read_text().splitlines():
            address, *names = line.split("#", 1)[0].split() or [""]
            present.update((address, name) for name in names)
    return [line for line in hosts_lines(root) if tuple(line.split()) not in present]


def add_hosts_lines(lines: list[str], hosts_file: Path = HOSTS_FILE) -> None:
    """Append `lines` to /etc/hosts (the caller has asked the user): appended, never rewritten."""
    ends_in_newline = not hosts_file.exists() or hosts_file.read_bytes()[-1:] in (b"", b"\n")
    with open(hosts_file, "a") as fh:
        fh.write(("" if ends_in_newline else "\n") + "".join(f"{line}  # mastodon-sandbox\n" for line in lines))


def unresolved_hint(hostname: str, address: str) -> str | None:
    """One line for a domain the system does not resolve to its sandbox, or None when it does."""
    if system_resolves(hostname, address):
        return None
    return (f"{hostname} does not resolve to {address} outside mastodon-sandbox (its CLI and pytest plugin resolve it "
            f"themselves): for other programs, `mastodon-sandbox hosts --write` (as a user who may write /etc/hosts) or "
            f"`mastodon-sandbox hosts | sudo tee -a /etc/hosts` adds `{address} {hostname}`")
