"""A server's version string as a comparable ServerVersion, or a clear refusal when it is not Mastodon.

Mastodon reports `MAJOR.MINOR.PATCH`, optionally with a pre-release (`4.7.0-alpha.2`,
`4.6.0-nightly.2026-04-09`) and build metadata (`4.5.2+glitch`, `4.6.5+standin`). Pleroma, Akkoma and
GoToSocial claim API compatibility as `3.0.0 (compatible; Pleroma 2.5.0)`: that is another server, whose
responses Mastodon's contract does not describe.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

_SEMVER = re.compile(
    r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_COMPATIBLE = re.compile(r"(?P<claimed>\S+)\s*\(compatible;\s*(?P<software>[^)]*?)(?:\s+(?P<version>\d[^\s)]*))?\s*\)")


class NotMastodonCompatible(ValueError):
    """The version string is not Mastodon's. `software` names the other server when it says so."""

    def __init__(self, raw: object, software: str | None = None, software_version: str | None = None,
                 why: str = "not a Mastodon version"):
        self.raw = raw
        self.software = software
        self.software_version = software_version
        if software:
            why = f"it is {software} {software_version or ''}".rstrip() + ", which only claims Mastodon's API"
        super().__init__(f"not Mastodon-compatible: {raw!r} ({why})")


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class ServerVersion:
    """A Mastodon release; pre-releases sort before their release, build metadata does not count."""

    major: int
    minor: int
    patch: int = 0
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, raw: str) -> ServerVersion:
        """`4.6.5`, `4.7.0-alpha.2+pr-12345`, `4.3` (patch 0); NotMastodonCompatible otherwise."""
        text = (raw or "").strip()
        compatible = _COMPATIBLE.fullmatch(text)
        if compatible:
            raise NotMastodonCompatible(raw, compatible["software"], compatible["version"])
        m = _SEMVER.fullmatch(text)
        if not m:
            raise NotMastodonCompatible(raw)
        return cls(int(m["major"]), int(m["minor"]), int(m["patch"] or 0),
                   tuple(m["pre"].split(".")) if m["pre"] else (), m["build"] or "")

    def _key(self) -> tuple:
        # semver precedence: a release outranks its pre-releases; numeric identifiers sort numerically
        # and below alphanumeric ones.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, not self.prerelease, pre)

    # A version string compares as its version; anything else (another type, a string that is no Mastodon
    # version) gets NotImplemented, Python's answer for an operand a method cannot compare: == then falls back
    # to identity (False, and True for !=), and <, <=, >, >= raise TypeError.
    def __lt__(self, other: object) -> bool:
        other = _comparable(other)
        return NotImplemented if other is None else self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        other = _comparable(other)
        return NotImplemented if other is None else self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        return text + (f"+{self.build}" if self.build else "")


def _comparable(value: object) -> ServerVersion | None:
    """The version to compare with: a ServerVersion, or a string that parses as one; None otherwise."""
    if isinstance(value, ServerVersion):
        return value
    if isinstance(value, str):
        try:
            return ServerVersion.parse(value)
        except NotMastodonCompatible:
            return None
    return None


def parse_version(raw: str) -> ServerVersion:
    """The server version of a version string; NotMastodonCompatible when it is not Mastodon's."""
    return ServerVersion.parse(raw)


def is_mastodon(raw: str) -> bool:
    """Whether the version string is a Mastodon version (a flag for callers that must not raise)."""
    try:
        ServerVersion.parse(raw)
    except NotMastodonCompatible:
        return False
    return True


def version_from_instance(body: Mapping) -> ServerVersion:
    """The version in a GET /api/v2/instance or /api/v1/instance body (both carry `version`)."""
    raw = body.get("version") if isinstance(body, Mapping) else None
    if not isinstance(raw, str):
        raise NotMastodonCompatible(raw, why="the instance body has no version string")
    return ServerVersion.parse(raw)
