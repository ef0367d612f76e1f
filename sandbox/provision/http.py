"""HTTPS to the sandbox, always verified against the sandbox CA (VerifiedSession, which every client of the
package uses). Redirects are not followed: the OAuth flows read Location.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from ..errors import RateLimited, SandboxError
from ..timeouts import timeouts


class VerifiedSession(requests.Session):
    """A requests session whose every request is verified with its own `verify` (a CA file, or True), whatever
    the environment says: with REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE set (common on CI images), requests takes
    that bundle over `Session.verify` (requests/sessions.py, Session.merge_environment_settings), and a
    ~/.netrc entry for the host would replace the Authorization header. So the environment is not read
    (trust_env off), except for the proxy variables, which apply per request as for any session."""

    def __init__(self, verify: str | bool = True):
        super().__init__()
        self.trust_env = False
        self.verify = verify

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kw: Any) -> requests.Response:
        if kw.get("verify") is None:
            kw["verify"] = self.verify
        if kw.get("proxies") is None:
            kw["proxies"] = requests.utils.get_environ_proxies(url if isinstance(url, str) else url.decode())
        return super().request(method, url, *args, **kw)


class Http:
    """One cookie jar (a browser session, for sign-in) talking to one sandbox."""

    def __init__(self, base_url: str, ca_file: Path | str, timeout: float | None = None):
        self.base_url = base_url.rstrip("/")
        self.ca_file = str(ca_file)
        self.timeout = timeout or timeouts().http
        self.session = VerifiedSession(self.ca_file)
        self._metadata: dict | None = None

    def url(self, path: str) -> str:
        return urljoin(self.base_url + "/", path)

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", self.timeout)
        url = self.url(path)
        try:
            return self.session.request(method, url, **kw)
        except requests.exceptions.SSLError as e:
            raise SandboxError(
                f"TLS to {self.base_url} failed against the sandbox CA {self.ca_file} ({type(e).__name__}); "
                "is this the sandbox's own proxy? `mastodon-sandbox up` re-creates the certificates"
            ) from None
        except requests.exceptions.ConnectionError:
            raise SandboxError(f"cannot reach {self.base_url}: is the sandbox running? start it with `mastodon-sandbox up`") from None
        except requests.exceptions.Timeout:
            raise SandboxError(f"{method} {url} timed out after {self.timeout:.0f} s: check `mastodon-sandbox status`") from None

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def metadata(self) -> dict:
        """RFC 8414 server metadata (app/presenters/oauth_metadata_presenter.rb, since 4.3.0)."""
        if self._metadata is None:
            r = self.get("/.well-known/oauth-authorization-server")
            if r.status_code != 200:
                raise SandboxError(
                    f"{self.base_url}/.well-known/oauth-authorization-server answered {r.status_code}: "
                    "the harness needs Mastodon 4.3 or newer"
                )
            self._metadata = r.json()
        return self._metadata

    def fresh(self) -> "Http":
        """A new cookie jar for the same server (one per web sign-in), sharing the metadata."""
        other = Http(self.base_url, self.ca_file, self.timeout)
        other._metadata = self._metadata
        return other


def error_text(r: requests.Response) -> str:
    """The server's own error message: JSON `error_description`/`error`, else the first text."""
    try:
        body = r.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("error") or body)
    text = (r.text or "").strip()
    if not text or text.startswith("<"):  # an HTML error page: its first line says nothing
        return f"HTTP {r.status_code}"
    return text.splitlines()[0][:200]


def raise_if_rate_limited(r: requests.Response, what: str) -> None:
    if r.status_code == 429:
        raise RateLimited(what, r.headers.get("X-RateLimit-Reset"))
