"""Which server the contract suite runs against, and the checks that turn a bad target into one line
before any test runs.

Two targets: `sandbox` (the default: a running sandbox of this project, fresh leased accounts, writes
allowed) and `remote` (any server by base URL and user tokens; read-only unless writes are asked for, and
then only on bot accounts). Settings come from the environment, else from ini keys; tokens from the
environment only, so that they never land in a committed ini file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from .. import __version__
from ..config import state_root
from ..errors import SandboxError
from ..provision.http import VerifiedSession
from .versions import NotMastodonCompatible, ServerVersion, version_from_instance

TARGETS = ("sandbox", "remote")
TIMEOUT = (10, 30)  # connect, read (seconds)
CLOSED_SERVERS = {"botsin.space": "botsin.space closed in December 2024 (read-only from mid-December, then gone)"}


@dataclass(frozen=True)
class Option:
    field: str
    env: str
    ini: str | None  # None: environment only (secrets)
    help: str


OPTIONS = (
    Option("target", "MASTODON_CONTRACT_TARGET", "mastodon_contract_target", "sandbox (the default) or remote"),
    Option("url", "MASTODON_CONTRACT_URL", "mastodon_contract_url", "remote: the server's base URL, e.g. https://example.social"),
    Option("token", "MASTODON_CONTRACT_TOKEN", None, "remote: a user token of an account you own (environment only)"),
    Option("token_2", "MASTODON_CONTRACT_TOKEN_2", None,
           "remote: a token of a second account you own, for follows, mentions, polls and direct messages (environment only)"),
    Option("writes", "MASTODON_CONTRACT_WRITES", "mastodon_contract_writes",
           "remote: 1 lets the run post, follow and delete on its bot accounts (default: read-only)"),
    Option("allow_http", "MASTODON_CONTRACT_ALLOW_HTTP", "mastodon_contract_allow_http",
           "remote: 1 lets a server on this machine (localhost, 127.0.0.1, ::1) be reached over plain http:// "
           "(default: https only, so that tokens never travel in clear text)"),
    Option("ca", "MASTODON_CONTRACT_CA", "mastodon_contract_ca", "remote: a CA bundle to verify the server's certificate with"),
    Option("state", "MASTODON_CONTRACT_STATE", "mastodon_contract_state",
           "remote: the folder of cleanup lists (default: <state folder>/contract-cleanup)"),
    Option("report", "MASTODON_CONTRACT_REPORT", "mastodon_contract_report", "also write the run's report as JSON to this file"),
)


class TargetError(SandboxError):
    """The target cannot be tested as configured; str() is the one-line reason."""

    exit_code = 2


class StandIn(TargetError):
    """The target is the offline stand-in, which is not Mastodon."""


def standin_message(what: str) -> str:
    return (f"{what} is the offline stand-in, not Mastodon (it offers only provisioning and sign-in): the contract "
            "suite runs against real Mastodon only, e.g. a sandbox with SANDBOX_SERVER=source or official")


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    target: str = "sandbox"
    url: str | None = None
    token: str | None = field(default=None, repr=False)
    token_2: str | None = field(default=None, repr=False)
    writes: bool = False
    allow_http: bool = False
    ca: str | None = None
    state: Path = field(default_factory=lambda: state_root() / "contract-cleanup")
    report: Path | None = None

    @classmethod
    def read(cls, environ: Mapping[str, str], ini: Callable[[str], str] | None = None) -> Settings:
        """The environment wins over ini keys (`ini(name)` answers "" for an unset key)."""
        raw: dict[str, str] = {}
        for option in OPTIONS:
            value = environ.get(option.env) or (ini(option.ini) if ini and option.ini else "") or ""
            raw[option.field] = str(value).strip()
        target = raw["target"].lower() or "sandbox"
        if target not in TARGETS:
            raise TargetError(f"MASTODON_CONTRACT_TARGET={raw['target']!r}: choose sandbox or remote")
        writes, allow_http = raw["writes"].lower(), raw["allow_http"].lower()
        if writes not in _TRUE | _FALSE:
            raise TargetError(f"MASTODON_CONTRACT_WRITES={raw['writes']!r}: use 1 to allow writes, 0 (the default) for none")
        if allow_http not in _TRUE | _FALSE:
            raise TargetError(f"MASTODON_CONTRACT_ALLOW_HTTP={raw['allow_http']!r}: use 1 to allow http:// to this machine, "
                              "0 (the default) for https only")
        return cls(target=target, url=raw["url"] or None, token=raw["token"] or None, token_2=raw["token_2"] or None,
                   writes=writes in _TRUE, allow_http=allow_http in _TRUE, ca=raw["ca"] or None,
                   state=Path(raw["state"]).expanduser() if raw["state"] else state_root(dict(environ)) / "contract-cleanup",
                   report=Path(raw["report"]).expanduser() if raw["report"] else None)


def base_url(url: str) -> str:
    """The server's base URL as the suite uses it (scheme and host, no trailing slash); refuses closed
    servers and anything that is not an http(s) URL."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    for closed, why in CLOSED_SERVERS.items():
        if host == closed or host.endswith("." + closed):
            raise TargetError(f"{why}: point MASTODON_CONTRACT_URL at a server that allows bots, better one you run")
    if parts.scheme not in ("http", "https") or not host:
        raise TargetError(f"MASTODON_CONTRACT_URL={url!r} is not a base URL like https://example.social")
    if parts.query or parts.fragment:
        raise TargetError(f"MASTODON_CONTRACT_URL={url!r}: give the server's base URL, without a query")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def is_loopback(host: str) -> bool:
    """localhost or a loopback address (127.0.0.0/8, ::1): traffic that never leaves this machine."""
    host = host.lower().strip("[]")
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_clear_text(url: str, allow_http: bool, what: str = "MASTODON_CONTRACT_URL") -> None:
    """Tokens travel over TLS only: a plain http:// or ws:// URL is refused before any request, one to this
    machine too unless MASTODON_CONTRACT_ALLOW_HTTP=1 asks for it (a listener anywhere else would read them)."""
    parts = urlsplit(url)
    loopback = is_loopback(parts.hostname or "")
    if parts.scheme in ("https", "wss") or (allow_http and loopback):
        return
    if allow_http:
        why = "MASTODON_CONTRACT_ALLOW_HTTP=1 allows that to this machine only (localhost, 127.0.0.1, ::1); use https://"
    else:
        why = "the token would travel in clear text; use https://" + (
            ", or MASTODON_CONTRACT_ALLOW_HTTP=1 for a test server on this machine" if loopback else "")
    raise TargetError(f"{what} {url!r} is plain {parts.scheme}: {why}")


def http_session(url: str) -> requests.Session:
    """A session that ignores REQUESTS_CA_BUNDLE and .netrc (the CA is passed per request) but keeps the
    environment's proxies (provision.http.VerifiedSession)."""
    session = VerifiedSession(True)
    session.headers["User-Agent"] = f"mastodon-sandbox-contract/{__version__}"
    return session


def send(session: requests.Session, method: str, url: str, verify: str | bool, **kw: Any) -> requests.Response:
    """One request, its network failures as one-line TargetErrors."""
    host = urlsplit(url).netloc
    try:
        return session.request(method, url, verify=verify, timeout=kw.pop("timeout", TIMEOUT), allow_redirects=False, **kw)
    except requests.exceptions.SSLError as e:
        raise TargetError(f"{host}: its TLS certificate could not be verified ({_short(e)}): set MASTODON_CONTRACT_CA "
                          "to the CA bundle that signed it") from None
    except requests.exceptions.Timeout:
        raise TargetError(f"{host} did not answer within {TIMEOUT[1]} s") from None
    except requests.exceptions.ConnectionError as e:
        raise TargetError(f"cannot reach {host}: {_short(e)}") from None
    except requests.exceptions.RequestException as e:
        raise TargetError(f"{method} {url}: {_short(e)}") from None


def _short(error: Exception) -> str:
    text = str(error)
    for needle, said in (("Connection refused", "connection refused"), ("Name or service not known", "no such host"),
                         ("nodename nor servname", "no such host"), ("Failed to resolve", "no such host"),
                         ("No route to host", "no route to host"), ("Network is unreachable", "network unreachable"),
                         ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed"), ("hostname mismatch", "hostname mismatch")):
        if needle in text:
            return said
    return text.splitlines()[0][:160] if text else type(error).__name__


def looks_like_html(response: requests.Response) -> bool:
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return kind in ("text/html", "application/xhtml+xml") or response.text.lstrip()[:15].lower().startswith(("<!doctype html", "<html"))


def json_body(response: requests.Response, what: str) -> Any:
    """The JSON body of a check's answer; one line when the server answers a page or anything else."""
    if response.status_code == 429:
        reset = response.headers.get("X-RateLimit-Reset")
        raise TargetError(f"{what}: the server answered 429 (rate limited{', resets at ' + reset if reset else ''}): "
                          "wait for the reset and run again")
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    if looks_like_html(response):
        raise TargetError(f"{what} answered an HTML page ({response.status_code}), not JSON: is this the base URL of a Mastodon server?")
    try:
        return response.json()
    except ValueError:
        raise TargetError(f"{what} answered {response.status_code} with {kind}, not JSON: is this a Mastodon server?") from None


@dataclass(frozen=True)
class Server:
    """A server the suite has talked to: its base URL, how to verify it, its instance body and version."""

    base_url: str
    verify: str | bool
    instance: dict
    instance_path: str
    version: ServerVersion

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def streaming_url(self) -> str | None:
        """Where the streaming API lives (it can be another host): v2 configuration.urls.streaming, v1
        urls.streaming_api."""
        urls = (self.instance.get("configuration") or {}).get("urls") or self.instance.get("urls") or {}
        return urls.get("streaming") or urls.get("streaming_api")

    @property
    def api_version(self) -> int | None:
        return (self.instance.get("api_versions") or {}).get("mastodon")


def probe_server(session: requests.Session, url: str, verify: str | bool) -> Server:
    """GET /api/v2/instance (/api/v1/instance on servers before 4.0), once: the server's version and
    configuration, or a one-line TargetError."""
    for path in ("/api/v2/instance", "/api/v1/instance"):
        response = send(session, "GET", url + path, verify)
        if response.status_code in (404, 410) and path.startswith("/api/v2"):
            continue  # an older server: v1 only
        body = json_body(response, f"{urlsplit(url).netloc} ({path})")
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise TargetError(f"{url}{path} answered {response.status_code}{': ' + str(error) if error else ''}, not an instance")
        try:
            version = version_from_instance(body)
        except NotMastodonCompatible as e:
            raise TargetError(f"{url} is not Mastodon: {e}; the contract describes Mastodon's API only") from None
        if "standin" in version.build.split("."):
            raise StandIn(standin_message(f"{url} (Mastodon {version})"))
        return Server(url, verify, body, path, version)
    raise AssertionError("unreachable")


def check_account(session: requests.Session, server: Server, token: str, label: str) -> dict:
    """The token's account (verify_credentials), or one line saying why the token cannot be used."""
    what = f"{label} (GET /api/v1/accounts/verify_credentials)"
    response = send(session, "GET", server.base_url + "/api/v1/accounts/verify_credentials", server.verify,
                    headers={"Authorization": f"Bearer {token}"})
    body = json_body(response, what)
    error = body.get("error", "") if isinstance(body, dict) else ""
    if response.status_code == 401:
        raise TargetError(f"{label} is not accepted by {server.host} (401: {error or 'invalid or revoked'})")
    if response.status_code == 403:
        raise TargetError(f"{label} cannot read its own account on {server.host} (403: {error}): it needs the read "
                          "scope (or read:accounts), a confirmed e-mail address and an approved, enabled login")
    if response.status_code == 422:
        raise TargetError(f"{label} is an app token (client credentials), not a user's: the suite needs a user token")
    if response.status_code != 200 or not isinstance(body, dict) or "id" not in body:
        raise TargetError(f"{what} answered {response.status_code}{': ' + error if error else ''}")
    return body


def check_writes(session: requests.Session, server: Server, token: str, label: str, account: dict) -> None:
    """Writes only on bot accounts, with the scopes they need. The probes write nothing: an empty post is
    refused (422) and following account 0 is not found (404) once the scope check has passed (scopes are
    checked first: doorkeeper_authorize! in api/v1/statuses_controller.rb and accounts_controller.rb)."""
    acct = account.get("acct") or account.get("username")
    if account.get("bot") is not True:
        raise TargetError(f"writes refused: @{acct} ({label}) is not a bot account; remote writes run only on bot-flagged "
                          "accounts you own (profile setting 'This is an automated account', or PATCH "
                          "/api/v1/accounts/update_credentials with bot=true)")
    auth = {"Authorization": f"Bearer {token}"}
    for method, path, fine, scope in (("POST", "/api/v1/statuses", 422, "write:statuses"),
                                      ("POST", "/api/v1/accounts/0/follow", 404, "follow (or write:follows)")):
        response = send(session, method, server.base_url + path, server.verify, headers=auth, data={})
        body = json_body(response, f"{label} ({method} {path})")
        if response.status_code == 403:
            raise TargetError(f"MASTODON_CONTRACT_WRITES=1 but {label} lacks the {scope} scope (403 on {method} {path})")
        if response.status_code != fine:
            error = body.get("error", "") if isinstance(body, dict) else ""
            raise TargetError(f"{label}: {method} {path} answered {response.status_code} ({error}), not the {fine} "
                              "a write probe expects")


def probe_sandbox(sandbox) -> tuple[requests.Session, Server]:
    """A sandbox as a target: real Mastodon (not the stand-in) that answers; its session and server, or one line."""
    if sandbox.config.server == "standin":
        raise StandIn(standin_message(f"sandbox {sandbox.name!r}"))
    session = http_session(sandbox.url)
    session.proxies.clear()  # the sandbox is on this machine
    try:
        return session, probe_server(session, sandbox.url, str(sandbox.state.ca_file))
    except StandIn:
        raise
    except TargetError as e:
        raise TargetError(f"sandbox {sandbox.name!r} at {sandbox.url}: {e} "
                          f"(is it up? `mastodon-sandbox status --name {sandbox.name}`)") from None


@dataclass(frozen=True)
class Remote:
    server: Server
    me: dict
    peer: dict | None


def check_remote(settings: Settings, session: requests.Session | None = None) -> Remote:
    """Everything a remote run needs, checked before any test: one TargetError line otherwise."""
    if not settings.url:
        raise TargetError("the remote target needs MASTODON_CONTRACT_URL, the server's base URL (https://host)")
    url = base_url(settings.url)
    refuse_clear_text(url, settings.allow_http)
    if not settings.token:
        raise TargetError("the remote target needs MASTODON_CONTRACT_TOKEN, a user token of an account you own "
                          "(scopes: read; write and follow too for MASTODON_CONTRACT_WRITES=1)")
    if settings.ca and not Path(settings.ca).is_file():
        raise TargetError(f"MASTODON_CONTRACT_CA={settings.ca}: no such file")
    session = session or http_session(url)
    server = probe_server(session, url, settings.ca or True)
    if server.streaming_url:  # the suite's streaming tests send the token there too
        refuse_clear_text(server.streaming_url, settings.allow_http, f"{server.host}'s streaming URL")
    me = check_account(session, server, settings.token, "MASTODON_CONTRACT_TOKEN")
    peer = check_account(session, server, settings.token_2, "MASTODON_CONTRACT_TOKEN_2") if settings.token_2 else None
    if peer and peer["id"] == me["id"]:
        raise TargetError("MASTODON_CONTRACT_TOKEN_2 belongs to the same account as MASTODON_CONTRACT_TOKEN: give a second account's token")
    if settings.writes:
        check_writes(session, server, settings.token, "MASTODON_CONTRACT_TOKEN", me)
        if peer:
            check_writes(session, server, settings.token_2, "MASTODON_CONTRACT_TOKEN_2", peer)
    return Remote(server, me, peer)
