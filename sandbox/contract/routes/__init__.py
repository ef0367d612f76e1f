"""Mastodon's routes, release by release: the lists beside this file (`mastodon-<version>.txt`, one
`METHOD /path/:param` a line), made from each release's config/routes/api.rb and config/routes.rb by
extract.py (`python -m mastodon_sandbox.contract.routes.extract /path/to/mastodon-X.Y.Z`).

A server is compared with the list of its own minor series when there is one, else with the oldest list of a
later series, else (a server newer than every list) with the newest: 4.3.x → 4.3.23's, 4.4 to 4.6 → 4.6.5's,
4.7 → 4.6.5's. `release_for` says which, and the report says so when it is not the server's own version.

Routes compare by shape: a parameter stands for any one segment whatever its name (Rails names nested ones
`:status_id`, the contract table `:id`), so `GET /api/v1/statuses/:status_id/context` is the table's
`GET /api/v1/statuses/:id/context`; a glob (`*any`) stands for one or more segments.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from ..versions import ServerVersion, parse_version

HERE = Path(__file__).resolve().parent
_LIST = re.compile(r"mastodon-(\d+\.\d+\.\d+)\.txt")


@dataclass(frozen=True, order=True)
class Route:
    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @classmethod
    def parse(cls, text: str) -> Route:
        """`GET /api/v1/statuses/:id` → Route('GET', '/api/v1/statuses/:id')."""
        method, _, path = text.strip().partition(" ")
        return cls(method.upper(), path.strip())

    @property
    def shape(self) -> str:
        return f"{self.method} {shape(self.path)}"


def shape(path: str) -> str:
    """The path with each parameter as `:` and each glob as `*`, no trailing slash: what routes compare by."""
    segments = path.strip().rstrip("/").split("/") or [""]
    return "/".join(":" if s.startswith(":") else "*" if s.startswith("*") else s for s in segments) or "/"


def fits(template: str, route: str) -> bool:
    """Whether a template (ours) names the same route as a route path (Rails'), by shape; a route's glob
    takes one or more segments."""
    ours, theirs = shape(template).split("/"), shape(route).split("/")
    if "*" not in theirs:
        return ours == theirs
    glob = theirs.index("*")  # Rails allows one glob a path; it ends Mastodon's
    return len(ours) > glob and ours[:glob] == theirs[:glob] and (len(theirs) == glob + 1 or ours[-(len(theirs) - glob - 1):] == theirs[glob + 1:])


def releases() -> list[ServerVersion]:
    """The releases there is a list for, oldest first."""
    return sorted(parse_version(m[1]) for p in HERE.iterdir() if (m := _LIST.fullmatch(p.name)))


def release_for(version: ServerVersion | str) -> ServerVersion:
    """The release whose list a server of `version` is compared with (the module's docstring)."""
    version = parse_version(version) if isinstance(version, str) else version
    known = releases()
    if not known:
        raise FileNotFoundError(f"no route lists in {HERE}")
    series = (version.major, version.minor)
    later = [r for r in known if (r.major, r.minor) >= series]
    return later[0] if later else known[-1]


@functools.lru_cache(maxsize=None)
def routes_of(release: ServerVersion | str) -> tuple[Route, ...]:
    """The routes of a release that has a list (`release_for` picks one for a server)."""
    path = HERE / f"mastodon-{release}.txt"
    return tuple(Route.parse(line) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))


@functools.lru_cache(maxsize=16)
def _by_shape(routes: tuple[Route, ...]) -> dict[str, Route]:
    return {r.shape: r for r in routes}


def find(method: str, template: str, routes: tuple[Route, ...]) -> Route | None:
    """The route a `METHOD template` of ours names: one of the same shape, else one whose glob takes it."""
    method = method.upper()
    exact = _by_shape(routes).get(f"{method} {shape(template)}")
    return exact or next((r for r in routes if r.method == method and "*" in r.path and fits(template, r.path)), None)
