"""Federation's pieces that need no Docker: a sandbox's own domain and its checks, the group's CA, names on the
host, the member's compose model, and reading Sidekiq's and the proxies' state (with real samples of each)."""

from __future__ import annotations

import json
import socket
from types import SimpleNamespace

import pytest
import requests
from cryptography import x509

from mastodon_sandbox.config import SandboxConfig
from mastodon_sandbox.data.settle import parse_stats, waiting_fetchers
from mastodon_sandbox.environment import mastodon_env, generate_secrets, write_env_files
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.federation import names
from mastodon_sandbox.federation.group import check_joining, check_new_member, next_address
from mastodon_sandbox.federation.traffic import activity_of, federation_idle, parse_log
from mastodon_sandbox.images import images_for
from mastodon_sandbox.lifecycle import resolve_config
from mastodon_sandbox.stack import Stack
from mastodon_sandbox.state import GroupState, State
from mastodon_sandbox.tls import ensure_tls
from tests.unit.test_tls import https_server


def member(name: str, short: str, group: str = "fed", address: str = "127.0.0.2", **kw) -> SandboxConfig:
    return SandboxConfig(name=name, hostname=f"{short}.localhost", group=group, address=address, **kw)


@pytest.mark.parametrize("kw,message", [
    ({"hostname": "b.localhost:8443"}, "carries no port"),
    ({"hostname": "b.example.com"}, "vouches only for names under localhost"),
    ({"hostname": "localhost"}, "use NAME.localhost"),
    ({"hostname": "b.localhost", "port": 8443}, "leave --port out"),
    ({"group": "fed"}, "needs its own domain"),
    ({"hostname": "b.localhost", "group": "Bad Group"}, "bad group name"),
])
def test_bad_domains_and_groups_are_one_line_before_anything_is_made(tmp_path, kw, message):
    state = State("b", root=tmp_path)
    with pytest.raises(SandboxError, match=message) as e:
        resolve_config("b", kw, state)
    assert "\n" not in str(e.value) and not state.dir.exists()


def test_a_domain_is_served_without_a_port_on_an_address_of_its_own(tmp_path):
    first, _ = resolve_config("a", {"hostname": "a.localhost", "group": "fed"}, State("a", root=tmp_path))
    State("a", root=tmp_path).save_config(first)
    second, _ = resolve_config("b", {"hostname": "b.localhost", "group": "fed"}, State("b", root=tmp_path))
    assert (first.domain, first.base_url, first.address) == ("a.localhost", "https://a.localhost", "127.0.0.2")
    assert (second.address, second.port) == ("127.0.0.3", 443)
    assert next_address(tmp_path) == "127.0.0.3"  # b was not saved


def test_a_domain_taken_by_another_sandbox_is_refused(tmp_path):
    State("a", root=tmp_path).save_config(member("a", "a"))
    with pytest.raises(SandboxError, match="the domain a.localhost is taken by sandbox 'a'"):
        check_new_member(member("other", "a"), State("other", root=tmp_path))


@pytest.mark.parametrize("saved,requested,message", [
    (SandboxConfig(name="solo"), {"group": "fed"}, "was made with its own CA and cannot join group 'fed'"),
    (member("x", "x", group="other"), {"group": "fed"}, "was made with group 'other' and cannot join group 'fed'"),
    (member("x", "x"), {"hostname": "y.localhost"}, "keeps it"),
])
def test_a_made_sandbox_cannot_join_another_group_or_change_its_domain(saved, requested, message):
    with pytest.raises(SandboxError, match=message):
        check_joining(requested, saved)


def test_members_of_a_group_are_vouched_for_by_one_ca_constrained_to_localhost(tmp_path):
    group = GroupState("fed", root=tmp_path)
    for short in ("a", "b"):
        ensure_tls(tmp_path / short / "tls", "group fed", dns_names=(f"{short}.localhost",), ips=(), authority=group.tls_dir)
    ca = group.ca_file.read_bytes()
    assert (tmp_path / "a" / "tls" / "ca.pem").read_bytes() == ca == (tmp_path / "b" / "tls" / "ca.pem").read_bytes()
    assert not (tmp_path / "a" / "tls" / "ca.key").exists()  # the group's key stays in the group's folder
    constraints = x509.load_pem_x509_certificate(ca).extensions.get_extension_for_class(x509.NameConstraints).value
    assert [n.value for n in constraints.permitted_subtrees if isinstance(n, x509.DNSName)] == ["localhost"]
    # b's certificate, served on a loopback address, verifies by its name with the group's CA
    original = socket.getaddrinfo
    socket.getaddrinfo = lambda host, *a, **k: original("127.0.0.1" if host.endswith(".localhost") else host, *a, **k)
    try:
        with https_server(tmp_path / "b" / "tls" / "cert.pem", tmp_path / "b" / "tls" / "key.pem") as port:
            assert requests.get(f"https://b.localhost:{port}/", verify=str(group.ca_file), timeout=5).text == "OK"
            with pytest.raises(requests.exceptions.SSLError, match="a.localhost|match"):  # b's is not a's
                requests.get(f"https://a.localhost:{port}/", verify=str(group.ca_file), timeout=5)
    finally:
        socket.getaddrinfo = original


def test_a_member_reaches_only_its_group_network_and_trusts_the_group(tmp_path):
    config = member("a", "a")
    state = State("a", root=tmp_path)
    assert mastodon_env(config, generate_secrets(config), "172.30.0.0/16")["ALLOWED_PRIVATE_ADDRESSES"] == "172.30.0.0/16"
    assert mastodon_env(SandboxConfig(), generate_secrets(config))["ALLOWED_PRIVATE_ADDRESSES"] == "172.16.0.0/12,192.168.0.0/16"
    write_env_files(config, state, images_for(config), "172.30.0.0/16")
    model = Stack(config, state).config_json()
    services, networks = model["services"], model["networks"]
    assert networks["federation"]["name"] == "mastodon-sandbox-group-fed" and networks["federation"]["external"]
    assert services["proxy"]["networks"]["federation"]["aliases"] == ["a.localhost"]
    assert services["proxy"]["ports"][0]["host_ip"] == "127.0.0.2" and services["proxy"]["ports"][0]["published"] == "443"
    for name in ("web", "sidekiq"):
        assert "federation" in services[name]["networks"]
        assert services[name]["environment"]["SSL_CERT_FILE"] == "/etc/sandbox-tls/bundle.pem"
    assert "federation" not in services["streaming"]["networks"] and "federation" not in services["db"]["networks"]
    assert "a.localhost" in " ".join(services["proxy"]["healthcheck"]["test"])


def test_the_host_resolves_sandbox_domains_itself_and_offers_the_hosts_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    State("a", root=tmp_path).save_config(member("a", "a", address="127.0.0.7"))
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)  # undone after the test
    names.install()
    assert {info[4][0] for info in socket.getaddrinfo("a.localhost", 443)} == {"127.0.0.7"}
    assert {info[4][0] for info in socket.getaddrinfo("127.0.0.1", 443)} == {"127.0.0.1"}  # others: the system's
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    assert names.missing_hosts_lines(tmp_path, hosts) == ["127.0.0.7 a.localhost"]
    names.add_hosts_lines(["127.0.0.7 a.localhost"], hosts)
    assert names.missing_hosts_lines(tmp_path, hosts) == []
    assert hosts.read_text().startswith("127.0.0.1 localhost\n127.0.0.7 a.localhost")


# Redis' CLIENT LIST on real 4.6.5 (a sandbox's Sidekiq, 5 threads): four processors waiting, one running a job.
CLIENTS = "\n".join(
    [f"id={i} addr=172.19.0.7:5684{i} laddr=172.19.0.4:6379 fd=1{i} name= age=54 idle=1 flags=b db=0 sub=0 psub=0 cmd=brpop user=default"
     for i in range(4)]
    + ["id=9 addr=172.19.0.7:56882 laddr=172.19.0.4:6379 fd=19 name= age=53 idle=0 flags=N db=0 cmd=exists user=default",
       "id=58 addr=127.0.0.1:60468 laddr=127.0.0.1:6379 fd=21 name= age=0 idle=0 flags=N db=0 cmd=client|list user=default"])
RETRY = json.dumps({"class": "ActivityPub::DeliveryWorker", "queue": "push", "args": ["{}", 1, "https://b.localhost/inbox"],
                    "error_class": "Mastodon::UnexpectedResponseError", "error_message": "https://b.localhost/inbox returned code 502"})


def stats_output(enqueued=0, due=0, retries=0, retry="", deferred=0, federation=0, processes=("9f10e39480eb 1733400000.1 5",)):
    """What server_commands.SIDEKIQ_STATS_LUA prints, line by line."""
    return "\n".join([str(enqueued), str(due), str(retries), retry, str(deferred), str(federation), *processes]) + "\n"


def test_sidekiq_is_busy_while_fewer_processors_wait_than_its_threads():
    assert waiting_fetchers(CLIENTS) == 4
    out = stats_output(retries=1, retry=RETRY, federation=1, processes=("9f10e39480eb 1733400000.1 5", "old000000000 1733300000.0 5"))
    stats = parse_stats(out, CLIENTS, ["9f10e39480eb"])
    assert (stats.enqueued, stats.busy, stats.retries, stats.federation_retries, stats.idle) == (0, 1, 1, 1, False)
    assert str(stats.first_retry) == ("ActivityPub::DeliveryWorker to https://b.localhost/inbox on push: "
                                      "Mastodon::UnexpectedResponseError: https://b.localhost/inbox returned code 502")
    everyone_waits = CLIENTS.replace("flags=N db=0 cmd=exists", "flags=b db=0 cmd=brpop")
    assert parse_stats(stats_output(), everyone_waits, ["9f10e39480eb"]).idle

    def never() -> int:
        raise AssertionError("a registered Sidekiq's threads are read from Redis, not from its process title")

    assert parse_stats(out, CLIENTS, ["9f10e39480eb"], title_threads=never).busy == 1
    # a Sidekiq that has not written its first heartbeat yet is not idle, whatever waits, unless its title says
    # how many threads it has (after a restore put back a Redis without its registration)
    unregistered = stats_output(processes=("old000000000 1733300000.0 5",))
    assert parse_stats(unregistered, everyone_waits, ["9f10e39480eb"]).busy == -1
    assert parse_stats(unregistered, everyone_waits, ["9f10e39480eb"], title_threads=lambda: 5).idle
    assert parse_stats(unregistered, CLIENTS, ["9f10e39480eb"], title_threads=lambda: 5).busy == 1
    # a mail or link preview due soon keeps a sandbox unsettled, not a federation: they wait on purpose
    mail_due = parse_stats(stats_output(due=1, deferred=1), everyone_waits, ["9f10e39480eb"])
    assert not mail_due.idle and federation_idle(mail_due)
    # a retry outside federation's queues (a mail) does not hold a federation either
    assert federation_idle(parse_stats(stats_output(retries=1), everyone_waits, ["9f10e39480eb"]))
    with pytest.raises(SandboxError, match="could not read Sidekiq's queues"):
        parse_stats("", CLIENTS, ["9f10e39480eb"])


def test_a_group_settles_only_at_two_quiet_looks_without_a_request_between_them(monkeypatch):
    from mastodon_sandbox.data.settle import SidekiqStats
    from mastodon_sandbox.federation import traffic

    idle, busy = SidekiqStats(0, 0, 0, 0), SidekiqStats(0, 1, 0, 0)
    # each look: (the proxy's log size, the Sidekiq stats); the two are read side by side
    sizes, stats = iter([10, 10, 12, 12]), iter([busy, idle, idle, idle])
    looks = []

    def log_size(name, container):
        return next(door_sizes) if name == "app.localhost" else next(sizes)

    def sidekiq_stats(sandbox):
        looks.append(1)
        return next(stats)

    monkeypatch.setattr(traffic, "_proxy", lambda sandbox: (sandbox.config.domain, sandbox))
    monkeypatch.setattr(traffic, "doors", lambda members: [])
    monkeypatch.setattr(traffic, "log_size", log_size)
    monkeypatch.setattr(traffic, "sidekiq_stats", sidekiq_stats)
    member = SimpleNamespace(config=SimpleNamespace(domain="a.localhost"))
    traffic.settle_group([member], timeout=10)
    assert len(looks) == 4  # busy; quiet; quiet but a request was logged in between; quiet twice: settled

    # an exposed app's door logs a request between two quiet looks of the instances: not settled yet
    sizes, stats, door_sizes = iter([12] * 3), iter([idle] * 3), iter([5, 6, 6])
    looks.clear()
    monkeypatch.setattr(traffic, "doors", lambda members: [("app.localhost", None)])
    traffic.settle_group([member], timeout=10)
    assert len(looks) == 3
    monkeypatch.setattr(traffic, "doors", lambda members: [])

    stopped = SimpleNamespace(config=SimpleNamespace(domain="b.localhost"))
    def down(*args):
        raise SandboxError("the sidekiq service of 'fed-b' is not running")

    monkeypatch.setattr(traffic, "log_size", down)
    monkeypatch.setattr(traffic, "sidekiq_stats", down)
    with pytest.raises(SandboxError, match=r"did not settle within 0 s \(last: b.localhost: the sidekiq service of 'fed-b' is not running\)"):
        traffic.settle_group([stopped], timeout=0.3)


def test_the_proxies_log_names_sender_receiver_activity_and_answer():
    # Lines as compose/proxy/sandbox.conf writes them, from a follow between 4.6.5 and 4.3.23.
    follow = json.dumps({"type": "Follow", "actor": "https://a.localhost/ap/users/1", "object": "https://b.localhost/users/bob"})
    log = "\n".join([
        json.dumps({"time": "1764946139.674", "to": "b.localhost", "method": "POST", "path": "/inbox", "status": "202",
                    "agent": "http.rb/5.2.0 (Mastodon/4.6.5; +https://a.localhost/)", "signature": "keyId=\"https://a.localhost/ap/users/1#main-key\"",
                    "body": follow}),
        json.dumps({"time": "1764946138.601", "to": "b.localhost", "method": "GET", "path": "/.well-known/webfinger",
                    "status": "200", "agent": "http.rb/5.2.0 (Mastodon/4.6.5; +https://a.localhost/)", "signature": "", "body": ""}),
        "{cut short by a restart",
    ])
    first, second = parse_log(log)
    assert (first.sender, first.receiver, first.activity, first.status) == ("a.localhost", "b.localhost", "Follow", 202)
    assert (second.activity, second.path) == ("", "/.well-known/webfinger")
    assert activity_of(json.dumps({"type": "Create", "object": {"type": "Note"}})) == "Create(Note)"
    assert activity_of("not json") == ""


def test_the_proxy_reaches_its_own_services_by_names_no_other_member_has(tmp_path):
    """On the group's network every member's services answer to their service names (Compose adds those on each
    network): had the proxy asked for `web`, a stopped web would have sent requests to another member's (seen:
    a 403 from the wrong Mastodon). Its upstreams are names found on its own internal network only."""
    import re

    from mastodon_sandbox.config import compose_dir

    config = member("a", "a")
    state = State("a", root=tmp_path)
    write_env_files(config, state, images_for(config), "172.30.0.0/16")
    services = Stack(config, state).config_json()["services"]
    upstreams = re.findall(r'set \$\w+ "([\w.-]+):\d+"', (compose_dir() / "proxy" / "sandbox.conf").read_text())
    assert upstreams, "no upstream found in the proxy's configuration"
    shared = {name for name, svc in services.items() if "federation" in svc.get("networks", {})}
    shared |= {alias for svc in services.values() for alias in ((svc.get("networks", {}).get("federation") or {}).get("aliases") or [])}
    for upstream in upstreams:
        assert upstream not in shared, upstream
        owners = [name for name, svc in services.items()
                  if upstream == name or upstream in ((svc.get("networks", {}).get("internal") or {}).get("aliases") or [])]
        assert len(owners) == 1 and "internal" in services[owners[0]]["networks"], (upstream, owners)
