"""What a contract run verified, against which server: printed at the end of the run, optionally saved as JSON.

Counts endpoints (method and path template), entities and bodies, streaming events, answers carrying
rate-limit headers, the server's named quirks, the capabilities it lacks (skipped, not failed) and the
bodies that broke the contract. Under xdist each worker keeps its own and the controller merges them.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

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

    # recording
    def verified(self, method: str, url: str, entity: str) -> None:
        self.bodies += 1
        self.endpoints[endpoint_of(method, url)] += 1
        self.entities[entity.removesuffix("[]")] += 1

    def event(self, name: str, entity: str | None) -> None:
        self.events[name] += 1
        if entity:
            self.bodies += 1
            self.entities[entity] += 1

    def quirk(self, name: str, method: str, url: str) -> None:
        self.quirks.setdefault(name, set()).add(endpoint_of(method, url))

    def lacks(self, capability: str, reason: str) -> None:
        self.capabilities.setdefault(capability, reason)

    def broken(self, method: str, url: str, what: str) -> None:
        self.breaks.append(f"{endpoint_of(method, url)}: {what}")

    # merging (xdist) and saving
    def to_json(self) -> dict:
        return {"server": self.server, "bodies": self.bodies, "endpoints": dict(self.endpoints),
                "entities": dict(self.entities), "events": dict(self.events),
                "rate_limited_answers": self.rate_limited_answers,
                "quirks": {k: sorted(v) for k, v in self.quirks.items()}, "capabilities": self.capabilities,
                "breaks": self.breaks, "cleanup": self.cleanup}

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
        return out
