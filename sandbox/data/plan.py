"""A scenario rendered into a concrete, ordered plan: who the accounts are and every step that fills the
sandbox (follows, statuses, media, polls, interactions, lists, filters, scheduled statuses). Pure and
deterministic: the same scenario, seed, scale and domains give the same plan, so seeded content and the
ids a test looks up are reproducible.

Links point only at `.test` hosts (RFC 2606) or the sandbox's own domain, mentions only at the plan's own
accounts and e-mail addresses only at the sandbox's e-mail domain: real Mastodon fetches link previews and
resolves remote accounts, and a sandbox must never reach out to the internet."""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field

from ..errors import SandboxError
from .scenario import VISIBILITIES, Scenario, size_problem

MEDIA_DIR_FILES = {
    "image": ("picture-checks.png", "picture-stripes.png"),
    "gif": ("blink.gif",),
    "audio": ("tone.wav",),
}
AVATARS = 6  # fixtures/media/avatar-N.png and header-N.png
POLL_SECONDS = 3 * 24 * 3600  # open for three days: a restored snapshot's polls are still open a while
SCHEDULE_DAYS = (2, 3, 5, 8)  # scheduled statuses lie days ahead (Mastodon wants more than 5 minutes)
RESERVED = {"admin", "owner", "alice", "bob", "root", "mastodon", "support", "help"}


@dataclass
class Plan:
    scenario: str
    seed: int
    scale: int
    domain: str
    email_domain: str
    accounts: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"accounts": len(self.accounts)}
        for step in self.steps:
            out[step["op"]] = out.get(step["op"], 0) + 1
        return out


def _username(fake, taken: set[str]) -> str:
    """A local username Mastodon accepts: [a-z0-9_], at most 30 characters, unique in the plan."""
    while True:
        name = re.sub(r"[^a-z0-9_]", "_", fake.user_name().lower())[:24].strip("_") or "user"
        if name not in taken and name not in RESERVED and not name.startswith("pool_"):
            taken.add(name)
            return name


def render(scenario: Scenario, seed: int, scale: int, domain: str, email_domain: str) -> Plan:
    """The plan for `scenario` at `scale`, its content drawn from faker and random seeded with `seed`: the
    accounts, then follows, statuses, interactions and collections (lists, filters, scheduled statuses), each
    phase drawing from the same generators in the same order, so a seed always gives the same plan."""
    too_big = size_problem(scenario, scale)
    if too_big:  # before any of the work, which grows faster than the plan
        raise SandboxError(f"scenario {scenario.name!r} at scale {scale}: {too_big[1]}")
    drawing = _Drawing(scenario, seed, scale, Plan(scenario.name, seed, scale, domain, email_domain))
    drawing.accounts()
    drawing.follows()
    drawing.statuses()
    drawing.interactions()
    drawing.collections()
    return drawing.plan


class _Drawing:
    """One rendering: the generators, the plan as it grows and what later phases look back at."""

    def __init__(self, scenario: Scenario, seed: int, scale: int, plan: Plan):
        from faker import Faker

        self.scenario, self.scale, self.plan = scenario, scale, plan
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.rnd = random.Random(seed)
        self.totals = scenario.totals(scale)
        self.n = scenario.accounts * scale
        self.keys = [f"u{i:03d}" for i in range(1, self.n + 1)]
        self.locked = set(self.keys[:scenario.locked_accounts * scale])
        self.bots = set(self.keys[-scenario.bot_accounts * scale:]) if scenario.bot_accounts else set()
        self.usernames: dict[str, str] = {}
        self.following: dict[str, list[str]] = {k: [] for k in self.keys}
        self.accepted: set[tuple[str, str]] = set()
        self.statuses_made: list[dict] = []

    def accounts(self) -> None:
        fake, rnd, taken = self.fake, self.rnd, set()
        for i, key in enumerate(self.keys):
            username = _username(fake, taken)
            self.plan.accounts.append({
                "key": key, "username": username, "email": f"{username}@{self.plan.email_domain}",
                "display_name": fake.name()[:30],
                "note": f"{fake.sentence(nb_words=8)} #{rnd.choice(self.scenario.hashtags)}",
                "fields": [{"name": "Website", "value": f"https://{username.replace('_', '-')}.example.test"},
                           {"name": "Pronouns", "value": rnd.choice(["she/her", "he/him", "they/them", "any"])}],
                "avatar": f"avatar-{i % AVATARS}.png", "header": f"header-{i % AVATARS}.png",
                "bot": key in self.bots, "locked": key in self.locked,
            })
        self.usernames = {a["key"]: a["username"] for a in self.plan.accounts}

    def follows(self) -> None:
        """Everyone follows the next few (a ring, so that many follows are mutual); a locked account's
        followers wait for its approval, which it gives to every other one."""
        keys, steps = self.keys, self.plan.steps
        for i, key in enumerate(keys):
            for j in range(1, self.scenario.follows_per_account + 1):
                offset = (j + 1) // 2 * (1 if j % 2 else -1)  # +1, -1, +2, -2, ...: neighbours follow each other
                target = keys[(i + offset) % self.n]
                if target != key and target not in self.following[key]:
                    self.following[key].append(target)
                    steps.append({"op": "follow", "actor": key, "target": target})
        for target in sorted(self.locked):
            followers = [k for k in keys if target in self.following[k]]
            for follower in followers[::2]:
                steps.append({"op": "authorize_follow", "actor": target, "follower": follower})
        self.accepted = {(s["follower"], s["actor"]) for s in steps if s["op"] == "authorize_follow"}

    def _follows(self, a: str, b: str) -> bool:
        return b in self.following[a] and (b not in self.locked or (a, b) in self.accepted)

    def statuses(self) -> None:
        """In rounds so that threads grow: a share replies to an earlier public status of another."""
        scenario, fake, rnd, keys, statuses = self.scenario, self.fake, self.rnd, self.keys, self.statuses_made
        media_left = [("image", self.totals["images"]), ("gif", self.totals["gifs"]), ("audio", self.totals["audio"])]
        polls_left = self.totals["polls"]
        vis_names = [v for v in VISIBILITIES if scenario.visibility.get(v)]
        vis_weights = [scenario.visibility[v] for v in vis_names]
        for round_no in range(scenario.statuses_per_account):
            for key in keys:
                ref = f"s{len(statuses) + 1:04d}"
                visibility = rnd.choices(vis_names, vis_weights)[0]
                others = [k for k in keys if k != key]
                words = fake.sentence(nb_words=rnd.randint(6, 16)).rstrip(".")
                tags = " ".join(f"#{t}" for t in rnd.sample(scenario.hashtags, k=rnd.randint(0, 2)))
                status: dict = {"op": "status", "actor": key, "ref": ref, "visibility": visibility}
                mention = None
                if visibility == "direct":
                    mention = rnd.choice(others)
                elif rnd.random() < scenario.mention_share:
                    mention = rnd.choice(others)
                open_threads = [s for s in statuses if s["actor"] != key and s["visibility"] in ("public", "unlisted")]
                if visibility != "direct" and open_threads and rnd.random() < scenario.reply_share:
                    parent = rnd.choice(open_threads)
                    status["in_reply_to"] = parent["ref"]
                    mention = parent["actor"]
                text = words
                if mention:
                    text = f"@{self.usernames[mention]} {text}"
                    status["mentions"] = [mention]
                if rnd.random() < scenario.link_share:
                    host = rnd.choice([f"{fake.word()}.example.test", self.plan.domain])
                    text += f" https://{host}/{fake.slug()}"
                if tags:
                    text += f" {tags}"
                status["text"] = text
                if rnd.random() < scenario.content_warning_share:
                    status["spoiler_text"] = f"{fake.word()} (spoilers)"
                public = visibility in ("public", "unlisted")
                kinds = [kind for kind, left in media_left if left > 0]
                if public and kinds and round_no % 2 == 0:
                    kind = kinds[0]
                    media_left = [(k, left - (k == kind)) for k, left in media_left]
                    name = MEDIA_DIR_FILES[kind][len(statuses) % len(MEDIA_DIR_FILES[kind])]
                    status["media"] = [{"file": name, "kind": kind, "description": f"{kind}: {fake.sentence(nb_words=6)}"}]
                elif public and polls_left > 0 and round_no % 2 == 1:
                    polls_left -= 1
                    status["poll"] = {"options": [fake.word() for _ in range(rnd.randint(2, 4))],
                                      "expires_in": POLL_SECONDS, "multiple": rnd.random() < 0.3}
                statuses.append(status)
                self.plan.steps.append(status)

    def interactions(self) -> None:
        """Favourites, boosts, bookmarks, votes and pins, on statuses their actor can see: public or unlisted
        ones of others."""
        rnd, keys, steps, totals = self.rnd, self.keys, self.plan.steps, self.totals
        visible = [s for s in self.statuses_made if s["visibility"] in ("public", "unlisted")]

        def pick(op: str, count: int) -> None:
            done = set()
            for _ in range(count * 4):
                if len(done) >= count or not visible:
                    break
                status = rnd.choice(visible)
                actor = rnd.choice([k for k in keys if k != status["actor"]])
                if (actor, status["ref"]) in done:
                    continue
                done.add((actor, status["ref"]))
                steps.append({"op": op, "actor": actor, "status": status["ref"]})

        pick("favourite", totals["favourites"])
        pick("reblog", totals["boosts"])
        pick("bookmark", totals["bookmarks"])
        for status in [s for s in self.statuses_made if "poll" in s]:
            for voter in rnd.sample([k for k in keys if k != status["actor"]], k=min(3, self.n - 1)):
                options = len(status["poll"]["options"])
                choices = sorted(rnd.sample(range(options), k=2)) if status["poll"]["multiple"] else [rnd.randrange(options)]
                steps.append({"op": "vote", "actor": voter, "status": status["ref"], "choices": choices})
        pinned: dict[str, int] = {}
        for status in rnd.sample(visible, k=min(len(visible), totals["pins"] * 3)):
            if sum(pinned.values()) >= totals["pins"]:
                break
            if pinned.get(status["actor"], 0) < 5:  # StatusPinValidator: at most 5 per account
                pinned[status["actor"]] = pinned.get(status["actor"], 0) + 1
                steps.append({"op": "pin", "actor": status["actor"], "status": status["ref"]})

    def collections(self) -> None:
        """Lists of accounts their owner follows (Mastodon refuses others), filters and scheduled statuses."""
        fake, keys, n, steps, totals = self.fake, self.keys, self.n, self.plan.steps, self.totals
        for i in range(totals["lists"]):
            owner = keys[(i * 3) % n]
            members = [k for k in self.following[owner] if self._follows(owner, k)][:3]
            steps.append({"op": "list", "actor": owner, "ref": f"l{i + 1:03d}", "title": fake.word().title(),
                          "members": members})
        for i in range(totals["filters"]):
            steps.append({"op": "filter", "actor": keys[(i * 5 + 1) % n], "title": f"No {fake.word()}",
                          "keywords": [fake.word()], "context": ["home", "public"]})
        for i in range(totals["scheduled"]):
            steps.append({"op": "schedule", "actor": keys[(i * 7 + 2) % n], "ref": f"sc{i + 1:03d}",
                          "text": fake.sentence(nb_words=10), "in_days": SCHEDULE_DAYS[i % len(SCHEDULE_DAYS)]})
