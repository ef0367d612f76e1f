"""What a contract run verified, against which server: printed at the end of the run, optionally saved as JSON.

Counts endpoints (method and path template), entities and bodies, streaming events, answers carrying
rate-limit headers, the server's named quirks, the capabilities it lacks (skipped, not failed), the skipped
tests' reasons with the endpoints each names, and the bodies that broke the contract. Under xdist each
worker keeps its own and the controller merges them. The printed report ends with the coverage by API area
of the routes of the server's release (coverage.py).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from . import coverage
from .endpoints import ENDPOINTS


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r":\w+", "[^/]+", re.escape(template).replace(r"\:", ":")) + "/?")


# Literal paths before templates, as endpoints.entity_for matches them.
_TEMPLATES = sorted(((method, _pattern(t), t) for method, t in ENDPOINTS), key=lambda r: r[2].count(":"))


_NUMERIC_ID = re.compile(r"/\d+(?=/|$)")


def endpoint_of(method: str, url: str) -> str:
    """`GET /api/v1/statuses/:id` for a request; a path the table lacks gets its numeric ids as `:id`."""
    method, path = method.upper(), urlsplit(url).path.rstrip("/") or "/"
    template = next((t for m, pattern, t in _TEMPLATES if m == method and pattern.fullmatch(path)), None)
    return f"{method} {template or _NUMERIC_ID.sub('/:id', path)}"


_METHOD_PATH = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[\w/.:*-]*)")
_BARE_PATH = re.compile(r"(?<![\w/])(/(?:api|oauth|\.well-known|nodeinfo)/[\w/.:*-]*)")
_CALL = re.compile(r"""\.(?:(get|post|put|patch|delete)\(|request\(\s*["'](\w+)["'],)\s*f?(["'])(/(?:(?!\3).)*)\3""")
STREAMING = "GET /api/v1/streaming"


def named_in(text: str) -> set[str]:
    """The endpoints a skip's reason names: `GET /api/v1/statuses/:id`, or a bare path (every method the
    contract table has for it)."""
    found = {endpoint_of(m[1], m[2].rstrip(".:,;")) for m in _METHOD_PATH.finditer(text)}
    for m in _BARE_PATH.finditer(_METHOD_PATH.sub("", text)):
        path = m[1].rstrip(".:,;/")
        found |= {f"{method} {t}" for method, pattern, t in _TEMPLATES if pattern.fullmatch(path)}
    return found


def called_in(source: str) -> set[str]:
    """The endpoints a test's code asks for by a literal path (`me.api.get(f"/api/v1/accounts/{me.id}")`)."""
    found = set()
    for m in _CALL.finditer(source):
        method, path = m[1] or m[2], m[4]
        found.add(endpoint_of(method, re.sub(r"\{[^}]*\}", "0", path)))
    return found


class Report:
    def __init__(self) -> None:
        self.server: dict[str, Any] = {}
        self.bodies = 0
        self.endpoints: Counter[str] = Counter()
        self.entities: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.rate_limited_answers = 0
        self.quirks: dict[str, set[str]] = {}
        self.capabilities: dict[str, str] = {}
        self.breaks: list[str] = []
        self.cleanup: dict[str, Any] = {}
        self.skips: dict[str, set[str]] = {}  # a skipped test's reason → the endpoints it named
        self.touched: set[str] = set()  # the endpoints the current test reached (plugin.py resets it)

    # recording
    def verified(self, method: str, url: str, entity: str) -> None:
        self.bodies += 1
        self.endpoints[endpoint_of(method, url)] += 1
        self.touched.add(endpoint_of(method, url))
        self.entities[entity.removesuffix("[]")] += 1

    def event(self, name: str, entity: str | None) -> None:
        self.events[name] += 1
        self.touched.add(STREAMING)
        if entity:
            self.bodies += 1
            self.entities[entity] += 1

    def quirk(self, name: str, method: str, url: str) -> None:
        self.quirks.setdefault(name, set()).add(endpoint_of(method, url))
        self.touched.add(endpoint_of(method, url))

    def lacks(self, capability: str, reason: str) -> None:
        self.capabilities.setdefault(capability, reason)

    def broken(self, method: str, url: str, what: str) -> None:
        self.breaks.append(f"{endpoint_of(method, url)}: {what}")
        self.touched.add(endpoint_of(method, url))

    def skipped(self, reason: str, endpoints: set[str]) -> None:
        """A test skipped: its reason, with the endpoints it reached or named (none: a skip of no area)."""
        self.skips.setdefault(reason, set()).update(endpoints)

    def checked(self) -> set[str]:
        """The endpoints a body of which this run verified (the streaming route: when events came)."""
        return set(self.endpoints) | ({STREAMING} if self.events else set())

    def coverage(self) -> tuple[coverage.Coverage, list[coverage.Area]] | None:
        """The table's coverage of the server's release, by area with this run's checks and skips; None
        without a server version there is a route list for."""
        version = self.server.get("version")
        try:
            cov = coverage.coverage(version)
        except (ValueError, TypeError, FileNotFoundError):
            return None
        skips = {reason: set(where) for reason, where in self.skips.items()}
        for name, where in self.quirks.items():
            skips.setdefault(f"server quirk: {name}", set()).update(where)
        return cov, coverage.by_area(cov, self.checked(), skips)

    # merging (xdist) and saving
    def to_json(self, with_coverage: bool = False) -> dict:
        """The report as JSON (what a worker hands the controller); `with_coverage` adds the coverage by area
        (the saved report's)."""
        data = {"server": self.server, "bodies": self.bodies, "endpoints": dict(self.endpoints),
                "entities": dict(self.entities), "events": dict(self.events),
                "rate_limited_answers": self.rate_limited_answers,
                "quirks": {k: sorted(v) for k, v in self.quirks.items()}, "capabilities": self.capabilities,
                "skips": {k: sorted(v) for k, v in self.skips.items()},
                "breaks": self.breaks, "cleanup": self.cleanup}
        found = self.coverage() if with_coverage and self.server else None
        if found:
            data["coverage"] = coverage.to_json(*found, server_version=self.server.get("version"))
        return data

    def merge(self, data: dict) -> None:
        self.server = self.server or data.get("server", {})
        self.bodies += data.get("bodies", 0)
        self.endpoints.update(data.get("endpoints", {}))
        self.entities.update(data.get("entities", {}))
        self.events.update(data.get("events", {}))
        self.rate_limited_answers += data.get("rate_limited_answers", 0)
        for name, where in data.get("quirks", {}).items():
            self.quirks.setdefault(name, set()).update(where)
        for name, reason in data.get("capabilities", {}).items():
            self.capabilities.setdefault(name, reason)
        for reason, where in data.get("skips", {}).items():
            self.skips.setdefault(reason, set()).update(where)
        self.breaks += data.get("breaks", [])
        for key, value in data.get("cleanup", {}).items():
            self.cleanup[key] = self.cleanup.get(key, 0) + value if isinstance(value, int) else value

    # printing
    def lines(self) -> list[str]:
        if not self.server:
            return ["no server was reached: nothing verified"]
        s = self.server
        out = [f"server: {s.get('url')} ({s.get('target')}), Mastodon {s.get('version')}"
               + (f", API version {s['api_version']}" if s.get("api_version") else "")
               + f"; writes {s.get('writes', 'off')}"]
        events = f", {sum(self.events.values())} streaming events ({', '.join(sorted(self.events))})" if self.events else ""
        out.append(f"verified: {self.bodies} bodies, {len(self.endpoints)} endpoints, {len(self.entities)} entities{events}")
        out.append(f"entities: {', '.join(sorted(self.entities))}")
        out.append(f"endpoints: {', '.join(sorted(self.endpoints))}")
        out.append(f"rate-limit headers: {self.rate_limited_answers} answers carried them, all well-formed"
                   if self.rate_limited_answers else "rate-limit headers: none seen (they are optional)")
        for name, where in sorted(self.quirks.items()):
            out.append(f"server quirk: {name} ({', '.join(sorted(where))})")
        for name, reason in sorted(self.capabilities.items()):
            out.append(f"capability skipped: {name}: {reason}")
        out.append(f"contract breaks: {len(self.breaks)}" + "".join(f"\n  {b}" for b in self.breaks))
        if self.cleanup:
            c = self.cleanup
            line = f"cleanup: {c.get('created', 0)} created, {c.get('removed', 0)} deleted or undone"
            if c.get("earlier"):
                line += f" (and {c['earlier']} left by an earlier run)"
            line += f"; {c.get('left', 0)} left" + (f" for the next run, listed in {c['file']}" if c.get("left") else "")
            out.append(line + (f" ({c['stopped']})" if c.get("stopped") else ""))
        found = self.coverage()
        if found:
            out += coverage.lines(*found, server_version=s.get("version"))
            shown = {why for area in found[1] for reasons in area.skipped.values() for why in reasons}
            lacking = {e for area in found[1] for e in area.not_offered}
            shown |= {why for why, where in self.skips.items() if where & lacking}  # "not offered" says why
            other = sorted(set(self.skips) - shown)
            if other:  # skips that named no endpoint, or only endpoints checked anyway
                out.append(f"other skips: {'; '.join(other)}")
        return out
