"""Client address as Rails computes it behind proxies (ActionDispatch::RemoteIp::GetIp#calculate_ip)."""
from __future__ import annotations

import ipaddress

# ActionDispatch::RemoteIp::TRUSTED_PROXIES; TRUSTED_PROXY_IP replaces them (config/initializers/trusted_proxies.rb).
DEFAULT_TRUSTED = ("127.0.0.0/8", "::1/128", "fc00::/7", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                   "169.254.0.0/16", "fe80::/10")


def _nets(trusted: tuple[str, ...] | None):
    return [ipaddress.ip_network(n, strict=False) for n in (trusted or DEFAULT_TRUSTED)]


def _ips(header: str | None) -> list[str]:
    out = []
    for part in (header or "").split(","):
        p = part.strip()
        try:
            ipaddress.ip_address(p)
            out.append(p)
        except ValueError:
            continue
    return out


def remote_ip(remote_addr: str | None, x_forwarded_for: str | None, trusted: tuple[str, ...] | None = None) -> str:
    nets = _nets(trusted)

    def is_trusted(ip: str) -> bool:
        a = ipaddress.ip_address(ip)
        return any(a.version == n.version and a in n for n in nets)

    forwarded = list(reversed(_ips(x_forwarded_for)))
    chain = ([remote_addr] if remote_addr else []) + forwarded
    for ip in chain:
        try:
            if not is_trusted(ip):
                return ip
        except ValueError:
            continue
    if forwarded:
        return forwarded[-1]
    return remote_addr or "127.0.0.1"


def throttle_key_ip(ip: str) -> str:
    """Rack::Attack::Request#throttleable_remote_ip in Mastodon: IPv6 clients are grouped by /64."""
    a = ipaddress.ip_address(ip)
    if a.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return ip
