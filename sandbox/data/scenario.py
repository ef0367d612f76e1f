"""Seed scenarios: declarative JSON files in fixtures/scenarios/ saying how much of what a seeded sandbox
holds. A scenario is checked whole before anything is made; a bad one is refused in one line naming the
file, the line and the field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import SandboxError

# Mastodon's own limits the seed stays inside (app/models/poll.rb, PollOptionsValidator; StatusPinValidator;
# rack_attack.rb and RateLimiter: 300 statuses per 3 hours and 30 media per 30 minutes per account).
MAX_STATUSES_PER_ACCOUNT = 300
MAX_MEDIA_PER_ACCOUNT = 30
MAX_PINS_PER_ACCOUNT = 5
VISIBILITIES = ("public", "unlisted", "private", "direct")
# A seed's size, at its scale: it is made one API call at a time (each account's profile, follows and posts,
# then the totals), and rendering its plan first takes CPU that grows faster than the plan.
MAX_ACCOUNTS = 1000
MAX_API_CALLS = 10_000


@dataclass(frozen=True)
class Scenario:
    """How much of each thing, per account or per scenario; `scale` multiplies the accounts and the totals,
    never the per-account counts, so that no account crosses Mastodon's limits."""

    name: str
    description: str = ""
    accounts: int = 12
    statuses_per_account: int = 6
    follows_per_account: int = 4
    locked_accounts: int = 1
    bot_accounts: int = 1
    visibility: dict = None  # type: ignore[assignment]  # share of each visibility, summing to 1
    reply_share: float = 0.3
    mention_share: float = 0.3
    content_warning_share: float = 0.1
    link_share: float = 0.2
    hashtags: tuple = ("sandbox", "python", "fediverse", "testing", "bots")
    polls: int = 2
    images: int = 3
    gifs: int = 1
    audio: int = 1
    boosts: int = 8
    favourites: int = 15
    bookmarks: int = 5
    pins: int = 3
    lists: int = 2
    filters: int = 1
    scheduled: int = 2

    def totals(self, scale: int) -> dict[str, int]:
        """The per-scenario counts at a scale."""
        keys = ("polls", "images", "gifs", "audio", "boosts", "favourites", "bookmarks", "pins", "lists", "filters", "scheduled")
        return {k: getattr(self, k) * scale for k in keys}


def size_problem(scenario: Scenario, scale: int) -> tuple[str, str] | None:
    """(the field most to blame, why) when the scenario at `scale` is bigger than a seed may be, else None."""
    accounts = scenario.accounts * scale
    if accounts > MAX_ACCOUNTS:
        return "accounts", (f"{accounts} accounts, at most {MAX_ACCOUNTS}: seeding makes each one's profile, follows "
                            "and posts one API call at a time")
    calls = {"accounts": accounts, "follows_per_account": accounts * scenario.follows_per_account,
             "statuses_per_account": accounts * scenario.statuses_per_account, **scenario.totals(scale)}
    if sum(calls.values()) > MAX_API_CALLS:
        field = max(calls, key=calls.__getitem__)
        return field, (f"about {sum(calls.values())} API calls ({calls[field]} for {field}), at most {MAX_API_CALLS}: "
                       "seeding makes them one at a time")
    return None


INT_FIELDS = {f.name for f in fields(Scenario) if f.type == "int"}
SHARE_FIELDS = {"reply_share", "mention_share", "content_warning_share", "link_share"}


def scenarios_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"


def available() -> list[str]:
    return sorted(p.stem for p in scenarios_dir().glob("*.json"))


def _line_of(text: str, key: str) -> int:
    """The line a key is written on (1 when it is not found: the whole file is at fault)."""
    m = re.search(rf'"{re.escape(key)}"\s*:', text)
    return text.count("\n", 0, m.start()) + 1 if m else 1


def load(name: str, folder: Path | None = None) -> Scenario:
    """The scenario `name` (a file in fixtures/scenarios/, or a path to a .json file)."""
    path = Path(name) if name.endswith(".json") else (folder or scenarios_dir()) / f"{name}.json"
    if not path.is_file():
        raise SandboxError(f"no seed scenario {name!r}: choose one of {', '.join(available()) or 'none'} (fixtures/scenarios/)")
    text = path.read_text()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise SandboxError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(raw, dict):
        raise SandboxError(f"{path}:1: a scenario is a JSON object")
    return parse(raw, path, text)


def parse(raw: dict, path: Path | str = "<scenario>", text: str = "") -> Scenario:
    def bad(key: str, why: str) -> SandboxError:
        return SandboxError(f"{path}:{_line_of(text, key)}: field {key!r}: {why}")

    known = {f.name for f in fields(Scenario)}
    for key in raw:
        if key not in known:
            raise bad(key, f"unknown field (known: {', '.join(sorted(known))})")
    values = dict(raw)
    values.setdefault("name", Path(str(path)).stem)
    if not isinstance(values["name"], str) or not re.fullmatch(r"[a-z0-9_-]{1,40}", values["name"]):
        raise bad("name", "a short name of lower-case letters, digits, - and _")
    for key in INT_FIELDS & values.keys():
        if not isinstance(values[key], int) or isinstance(values[key], bool) or values[key] < 0:
            raise bad(key, f"a whole number of 0 or more, not {values[key]!r}")
    for key in SHARE_FIELDS & values.keys():
        if not isinstance(values[key], (int, float)) or isinstance(values[key], bool) or not 0 <= values[key] <= 1:
            raise bad(key, f"a share between 0 and 1, not {values[key]!r}")
    vis = values.get("visibility", {"public": 0.6, "unlisted": 0.15, "private": 0.15, "direct": 0.1})
    if not isinstance(vis, dict) or set(vis) - set(VISIBILITIES) or not vis:
        raise bad("visibility", f"an object of shares for {', '.join(VISIBILITIES)}")
    if any(not isinstance(v, (int, float)) or v < 0 for v in vis.values()) or abs(sum(vis.values()) - 1) > 1e-6:
        raise bad("visibility", "shares of 0 or more that sum to 1")
    values["visibility"] = dict(vis)
    tags = values.get("hashtags", Scenario.hashtags)
    if not isinstance(tags, (list, tuple)) or not tags or not all(isinstance(t, str) and re.fullmatch(r"\w{1,30}", t) for t in tags):
        raise bad("hashtags", "a list of hashtag names (letters, digits, _), without #")
    values["hashtags"] = tuple(tags)
    if "description" in values and not isinstance(values["description"], str):
        raise bad("description", "text")
    scenario = Scenario(**values)
    if scenario.accounts < 2:
        raise bad("accounts", "at least 2 (accounts follow, mention and answer each other)")
    if scenario.statuses_per_account + 2 > MAX_STATUSES_PER_ACCOUNT:
        raise bad("statuses_per_account", f"at most {MAX_STATUSES_PER_ACCOUNT - 2} (Mastodon allows 300 posts per 3 hours per account)")
    if scenario.follows_per_account >= scenario.accounts:
        raise bad("follows_per_account", f"fewer than the {scenario.accounts} accounts (nobody follows themselves)")
    if scenario.locked_accounts + scenario.bot_accounts > scenario.accounts:
        raise bad("locked_accounts", "locked and bot accounts are more than the accounts")
    too_big = size_problem(scenario, 1)
    if too_big:
        raise bad(*too_big)
    return scenario
