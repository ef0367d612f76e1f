"""How much of Mastodon's API the contract table covers, and what of it a run checked, by API area.

Against the routes of the server's release (routes/: config/routes/api.rb, and config/routes.rb's /oauth,
/.well-known and /nodeinfo), a route is
  covered       when endpoints.ENDPOINTS has a row of its shape (GET /api/v1/streaming: the streaming
                events, endpoints.STREAM_EVENTS, which the suite reads over that WebSocket),
  out of scope  when OUT_OF_SCOPE names it, with the reason,
  not covered   otherwise;
and a row of the table that the release lacks is one the server does not offer. Rails draws a resource's
`update` as two routes, PATCH and PUT of one path, to one action: the two count as one to us (either in the
table covers both, a body of either checks both), while the totals count both lines of the list.

For a run, each covered route is checked (a body of it verified), skipped (a skipped test named it: the
skip's reason), or not run (deselected, or no test asks for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from .endpoints import ENDPOINTS
from .routes import Route, find, release_for, routes_of
from .versions import ServerVersion, parse_version

# Routes of Mastodon's lists the suite does not aim at, each with why. Patterns match `METHOD /path` (fnmatch).
OUT_OF_SCOPE: tuple[tuple[str, str], ...] = (
    ("* /api/web/*", "the web app's own API: its writes need the browser session's CSRF token (Api::Web::BaseController)"),
    ("GET /api/v1/streaming/*any", "the streaming server's paths (/api/v1/streaming/user, …): counted once, as GET /api/v1/streaming"),
    ("* /api/v1_alpha/accounts/*", "v1's collections again under /api/v1_alpha, deprecated (api.rb: remove once apps switch over to v1)"),
    ("* /api/v1_alpha/collections*", "v1's collections again under /api/v1_alpha, deprecated (api.rb: remove once apps switch over to v1)"),
    ("* /oauth/applications*", "doorkeeper's application admin pages, which Mastodon turns off (admin_authenticator answers 403)"),
    ("* /oauth/authorize", "the consent page, for a person signed in in a browser"),
    ("GET /oauth/authorize/native", "the page showing a person the authorisation code (out-of-band redirect_uri)"),
    ("* /oauth/authorized_applications*", "the authorised apps page, for a person signed in in a browser"),
    ("GET /.well-known/change-password", "a redirect for browsers and password managers (to /auth/edit)"),
    ("GET /.well-known/proxy", "a redirect for browsers (to /authorize_interaction)"),
    ("POST /api/v1/polls", "4.3 draws it (resources :polls, only: [:create, :show]) but Api::V1::PollsController has no "
                           "create action, so nothing answers it (a poll comes with POST /api/v1/statuses); 4.4 dropped it"),
)

# Routes the table has no row for that the suite checks another way.
ELSEWHERE: dict[str, str] = {
    "GET /api/v1/streaming": "the streaming events (endpoints.STREAM_EVENTS), over its WebSocket",
}

# API areas: the first segment after /api/vN/ (admin: everything under it), some merged.
_AREAS = {
    "accounts": ("accounts", "blocks", "mutes", "endorsements", "follow_requests", "suggestions", "preferences",
                 "domain_blocks", "profile", "reports", "emails"),
    "statuses": ("statuses", "polls", "scheduled_statuses"),
    "timelines": ("timelines", "bookmarks", "favourites", "conversations", "markers"),
    "notifications": ("notifications", "push"),
    "tags": ("tags", "followed_tags", "featured_tags"),
    "instance": ("instance", "custom_emojis", "announcements", "donation_campaigns", "peers"),
    "discovery": ("trends", "directory", "oembed", ".well-known", "nodeinfo"),
    "oauth": ("oauth", "apps"),
}
_AREA_OF = {segment: area for area, segments in _AREAS.items() for segment in segments}
API_RB = "/api/"  # the list's routes from config/routes/api.rb; the others are config/routes.rb's


def area_of(path: str) -> str:
    """`/api/v1/lists/:id` → lists; `/api/v1/admin/…` → admin; `/.well-known/webfinger` → discovery."""
    segments = [s for s in path.split("/") if s]
    if segments[:1] == ["api"]:
        segments = segments[2:] if len(segments) > 1 and segments[1].startswith("v") else segments[1:]
    first = segments[0] if segments else ""
    return _AREA_OF.get(first, first or "other")


def out_of_scope(route: Route | str) -> str | None:
    """Why a route is out of scope; None when it is in."""
    return next((why for pattern, why in OUT_OF_SCOPE if fnmatchcase(str(route), pattern)), None)


@dataclass
class Coverage:
    release: ServerVersion
    routes: tuple[Route, ...]
    rows: dict[Route, list[str]]  # a covered route → the table's rows (or ELSEWHERE's entry) naming it
    out: dict[Route, str]  # out of scope, with the reason
    not_offered: list[str]  # rows of the table the release has no route for

    @property
    def not_covered(self) -> list[Route]:
        return [r for r in self.routes if r not in self.rows and r not in self.out]

    def counts(self, api_rb: bool = True) -> tuple[int, int, int]:
        """(covered, routes, out of scope) among config/routes/api.rb's routes, or among routes.rb's."""
        mine = [r for r in self.routes if r.path.startswith(API_RB) == api_rb]
        return sum(r in self.rows for r in mine), len(mine), sum(r in self.out for r in mine)

    def total(self) -> str:
        covered, routes, out = self.counts()
        line = f"covered {covered} of {routes} routes of Mastodon {self.release}'s config/routes/api.rb ({out} out of scope)"
        covered, routes, out = self.counts(api_rb=False)
        return line + f"; {covered} of {routes} of its config/routes.rb's /oauth, /.well-known, /nodeinfo ({out} out of scope)"


def coverage(version: ServerVersion | str, endpoints: Iterable[tuple[str, str]] = ENDPOINTS,
             elsewhere: Mapping[str, str] = ELSEWHERE, routes: tuple[Route, ...] | None = None) -> Coverage:
    """The table's coverage of the routes of the release `version` is compared with (routes.release_for);
    `routes` stands for that release's list (tests)."""
    if routes is None:
        release = release_for(version)
        routes = routes_of(release)
    else:
        release = parse_version(version) if isinstance(version, str) else version
    rows: dict[Route, list[str]] = {}
    not_offered = []
    for method, template in endpoints:
        route = find(method, template, routes)
        if route:
            rows.setdefault(route, []).append(f"{method} {template}")
        else:
            not_offered.append(f"{method} {template}")
    for name, how in elsewhere.items():
        route = find(*name.split(" ", 1), routes)
        if route:
            rows.setdefault(route, []).append(how)
    for route in routes:
        other = twin(route, routes)
        if route not in rows and other in rows:
            rows[route] = [f"the same update action as {other}"]
    out = {r: why for r in routes if r not in rows and (why := out_of_scope(r))}
    return Coverage(release, routes, rows, out, sorted(not_offered, key=_by_path))


def twin(route: Route, routes: tuple[Route, ...]) -> Route | None:
    """PUT p for PATCH p and the other way round, when the release has both (a resource's update)."""
    other = {"PATCH": "PUT", "PUT": "PATCH"}.get(route.method)
    return find(other, route.path, routes) if other else None


def _by_path(endpoint: str) -> tuple[str, str]:
    method, _, path = endpoint.partition(" ")
    return path, method


@dataclass
class Area:
    name: str
    checked: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # endpoint → the reasons
    not_offered: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)
    out_of_scope: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        parts = [f"{len(self.checked)} checked"]
        for label, items in (("skipped", self.skipped), ("not run", self.not_run), ("not offered by the server", self.not_offered),
                             ("not covered", self.not_covered), ("out of scope", self.out_of_scope)):
            if items:
                parts.append(f"{len(items)} {label}")
        return f"{self.name}: {', '.join(parts)}"

    def to_json(self) -> dict:
        return {"checked": self.checked, "skipped": self.skipped, "not_offered": self.not_offered,
                "not_run": self.not_run, "not_covered": self.not_covered, "out_of_scope": self.out_of_scope}


def by_area(cov: Coverage, checked: Iterable[str], skips: Mapping[str, Iterable[str]]) -> list[Area]:
    """Each area's routes, for a run that verified bodies of `checked` (`METHOD template`s) and whose
    skipped tests named `skips` (reason → `METHOD template`s)."""
    def key(endpoint: str) -> str:  # a route of the release when there is one, else the endpoint as it is
        method, _, template = endpoint.partition(" ")
        route = find(method, template, cov.routes)
        return str(route) if route else endpoint

    done = {key(e) for e in checked}
    done |= {str(t) for r in cov.routes if str(r) in done and (t := twin(r, cov.routes))}
    reasons: dict[str, list[str]] = {}
    for reason, named in skips.items():
        for endpoint in named:
            reasons.setdefault(key(endpoint), []).append(reason)
    areas: dict[str, Area] = {}

    def area(endpoint: str) -> Area:
        name = area_of(endpoint.partition(" ")[2])
        return areas.setdefault(name, Area(name))

    for route in cov.routes:
        name = str(route)
        a = area(name)
        if name in done:
            a.checked.append(name)
        elif route in cov.out:
            a.out_of_scope[name] = cov.out[route]
        elif route not in cov.rows:
            a.not_covered.append(name)
        elif name in reasons:
            a.skipped[name] = sorted(set(reasons[name]))
        else:
            a.not_run.append(name)
    for endpoint in cov.not_offered:
        (area(endpoint).checked if endpoint in done else area(endpoint).not_offered).append(endpoint)
    # verified bodies of paths in neither the list nor the table (an explicit entity): checked all the same
    listed = {str(r) for r in cov.routes} | set(cov.not_offered)
    for endpoint in sorted(done - listed, key=_by_path):
        area(endpoint).checked.append(endpoint)
    return sorted(areas.values(), key=lambda a: a.name)


def lines(cov: Coverage, areas: list[Area], server_version: str | None = None) -> list[str]:
    """The report's block: a line an area (then its skips and what the server lacks), and the total."""
    note = ""
    if server_version:
        try:
            if str(parse_version(server_version)).split("+")[0] != str(cov.release):
                note = f"; the server runs {server_version}, compared with the nearest list, {cov.release}'s"
        except ValueError:
            pass
    out = [f"coverage by API area (routes of Mastodon {cov.release}{note}):"]
    for a in areas:
        out.append(f"  {a.line()}")
        by_reason: dict[str, list[str]] = {}
        for endpoint, why in a.skipped.items():
            by_reason.setdefault("; ".join(why), []).append(endpoint)
        out += [f"    skipped {', '.join(endpoints)}: {why}" for why, endpoints in sorted(by_reason.items())]
        if a.not_offered:
            out.append(f"    not offered by Mastodon {cov.release}: {', '.join(a.not_offered)}")
    out.append(cov.total())
    return out


def to_json(cov: Coverage, areas: list[Area], server_version: str | None = None) -> dict:
    covered, routes, out = cov.counts()
    rb_covered, rb_routes, rb_out = cov.counts(api_rb=False)
    return {"release": str(cov.release), "server_version": server_version,
            "api_rb": {"covered": covered, "routes": routes, "out_of_scope": out},
            "routes_rb": {"covered": rb_covered, "routes": rb_routes, "out_of_scope": rb_out},
            "areas": {a.name: a.to_json() for a in areas}}
