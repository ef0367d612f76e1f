"""`mastodon-sandbox seed --group G`: every member of a federation group seeded as `seed` seeds one sandbox,
then traffic between them, made through Mastodon's API as the seeded users: for each ordered pair of members
(x → y) a few of x's accounts follow a few of y's, mention them, reply to their public statuses, favourite and
boost them. Remote accounts and statuses are found as a client finds them (search with resolve=true), so each
instance holds its own copy and id of the other's, as in the wild. What was made, with the ids on each side,
goes to the group's folder (`_groups/G/seed.json`), and every member's `seeded` snapshot is taken again
together, so `reset --group G` returns to the seeded group.

The plan (`plan_cross`) is pure: the seed, the members' domains and their own seed summaries give the same
steps; applying it (`CrossSeeder`) is separate."""

from __future__ import annotations

import random
import time
import uuid

from ..data import snapshots
from ..data.scenario import load, size_problem
from ..data.seed import Api, load_summary, seed
from ..data.snapshots import SEEDED
from ..errors import SandboxError
from ..handle import Sandbox
from ..progress import Progress
from ..provision.bulk import BULK_SCOPES
from ..provision.credentials import Credentials
from ..state import GroupState
from . import names
from .group import members as group_members
from .snapshots import restore_group, save_group
from .traffic import settle_group

# Per ordered pair of members at scale 1: small, so that a group seed adds minutes to the members' own seeds.
PER_PAIR = {"follow": 3, "mention": 2, "reply": 2, "favourite": 2, "reblog": 1}
SECTIONS = {"follow": "follows", "mention": "mentions", "reply": "replies", "favourite": "favourites", "reblog": "reblogs"}
BEFORE_GROUP_SEED = "before-group-seed"  # the members' state after their own seeds: a cut-short group seed restarts there


# --- the plan --------------------------------------------------------------------------------------------------

def plan_cross(seed_value: int, scale: int, summaries: dict[str, dict]) -> list[dict]:
    """The cross-instance steps for members whose own seed summaries are `summaries` (by domain): for each
    ordered pair, PER_PAIR[op] * scale steps of each kind (fewer when the pair has fewer candidates; one follow
    to a locked account when the other member has one), drawn from a generator seeded with (seed, x, y), so
    a pair's steps do not change when a member joins. Every follow comes first (the posts after them reach
    the new followers), then mentions, replies, favourites and boosts. Replies, favourites and boosts pick
    public statuses only: those the other instance can fetch and show to anyone."""
    domains = sorted(summaries)
    for domain in domains:
        if not isinstance(summaries[domain].get("accounts"), dict) or not isinstance(summaries[domain].get("statuses"), dict):
            raise SandboxError(f"the seed summary of {domain} has no accounts or statuses: reset or seed that member again")
    steps = [step for x in domains for y in domains if x != y
             for step in _pair(seed_value, scale, x, summaries[x], y, summaries[y])]
    rank = {op: i for i, op in enumerate(PER_PAIR)}
    return sorted(steps, key=lambda s: rank[s["op"]])  # stable: within an op, pairs in domain order


def _pair(seed_value: int, scale: int, x: str, xs: dict, y: str, ys: dict) -> list[dict]:
    from faker import Faker

    key = f"{seed_value}:{x}->{y}"  # a str seed is hashed with SHA-512: the same in every process
    rnd, fake = random.Random(key), Faker("en_US")
    fake.seed_instance(key)
    actors, targets = sorted(xs["accounts"]), sorted(ys["accounts"])
    public = sorted(ref for ref, s in ys["statuses"].items() if s.get("visibility") == "public")

    def draw(candidates: list[tuple[str, str]], op: str) -> list[tuple[str, str]]:
        return sorted(rnd.sample(candidates, k=min(PER_PAIR[op] * scale, len(candidates))))

    def handle(key_: str) -> str:
        return f"@{ys['accounts'][key_]['username']}@{y}"

    base = {"from": x, "to": y}
    people = [(a, t) for a in actors for t in targets]
    on_public = [(a, ref) for a in actors for ref in public]
    # One follow of the pair goes to a locked account when y has one: its request waits for an authorization.
    to_locked = [(a, t) for a, t in people if ys["accounts"][t].get("locked")]
    follows = rnd.sample(to_locked, k=min(1, len(to_locked), PER_PAIR["follow"] * scale))
    others = [p for p in people if p not in follows]
    follows += rnd.sample(others, k=min(PER_PAIR["follow"] * scale - len(follows), len(others)))
    steps = [{"op": "follow", **base, "actor": a, "target": t, "locked": bool(ys["accounts"][t].get("locked"))}
             for a, t in sorted(follows)]
    steps += [{"op": "mention", **base, "actor": a, "target": t, "text": f"{handle(t)} {fake.sentence(nb_words=8)}"}
              for a, t in draw(people, "mention")]
    for a, ref in draw(on_public, "reply"):
        author = ys["statuses"][ref]["actor"]
        steps.append({"op": "reply", **base, "actor": a, "status": ref, "author": author,
                      "text": f"{handle(author)} {fake.sentence(nb_words=8)}"})  # the @author a client writes
    for op in ("favourite", "reblog"):
        steps += [{"op": op, **base, "actor": a, "status": ref, "author": ys["statuses"][ref]["actor"]}
                  for a, ref in draw(on_public, op)]
    return steps


# --- applying it -----------------------------------------------------------------------------------------------

def seeded_token(sandbox: Sandbox, username: str) -> str:
    """The saved token of a seeded account (seed.py's Seeder has it minted by the bulk runner)."""
    token = Credentials.load(sandbox.state).token(username, "bulk", BULK_SCOPES)
    if token is None:
        raise SandboxError(f"sandbox {sandbox.name!r} has no saved token of its seeded account {username!r}: "
                           f"`mastodon-sandbox reset --name {sandbox.name}` puts the seeded credentials back")
    return token.access_token


class CrossSeeder:
    """Applies a cross plan to running members and records what it made, with the ids on each side."""

    def __init__(self, group: str, members: list[Sandbox], summaries: dict[str, dict], progress: Progress):
        self.group, self.members, self.summaries, self.progress = group, members, summaries, progress
        self.by_domain = {sb.config.domain: sb for sb in members}
        self.apis: dict[tuple[str, str], Api] = {}
        self.known: dict[tuple[str, str], dict] = {}  # (instance, acct or URL) -> the account or status there
        self.made: dict[str, list[dict]] = {section: [] for section in SECTIONS.values()}

    # who and what, on which instance
    def api(self, domain: str, key: str) -> Api:
        if (domain, key) not in self.apis:
            username = self.summaries[domain]["accounts"][key]["username"]
            self.apis[domain, key] = Api(self.by_domain[domain], seeded_token(self.by_domain[domain], username))
        return self.apis[domain, key]

    def account(self, domain: str, key: str) -> dict:
        """A seeded account as the summary keeps it: acct (user@domain), key and ids by instance."""
        own = self.summaries[domain]["accounts"][key]
        return {"acct": f"{own['username']}@{domain}", "key": key, "ids": {domain: str(own["id"])}}

    def own_status(self, domain: str, ref: str) -> dict:
        own = self.summaries[domain]["statuses"][ref]
        return {"ref": ref, "url": own.get("url"), "ids": {domain: str(own["id"])}}

    def resolve(self, domain: str, key: str, query: str, kind: str) -> dict:
        """An account (user@domain) or a status (its URL or URI) of another instance, as `domain` sees it,
        fetched if need be, searching as seeded account `key` (SearchService resolves only for a signed-in
        user: app/services/search_service.rb, resolve_url_service.rb)."""
        if (domain, query) not in self.known:
            got = self.api(domain, key).call("GET", "/api/v2/search",
                                             params={"q": query, "resolve": "true", "type": kind, "limit": 5})
            if kind == "accounts":
                match = [a for a in got["accounts"] if a["acct"].lower() == query.lower()]
            else:
                match = [s for s in got["statuses"] if query in (s.get("uri"), s.get("url"))]
            if not match:
                raise SandboxError(f"{domain} could not resolve {query}: `mastodon-sandbox deliveries --group {self.group}` "
                                   "shows the fetch and how the other instance answered")
            self.known[domain, query] = match[0]
        return self.known[domain, query]

    def settle(self, what: str) -> None:
        with self.progress.waiting(f"waiting until the instances have {what}"):
            settle_group(self.members)

    # one method per op, each run as the step's actor on its instance
    def follow(self, step: dict) -> dict:
        x, y = step["from"], step["to"]
        follower, followed = self.account(x, step["actor"]), self.account(y, step["target"])
        # A remote follow is always a request until the other instance answers Accept (FollowService:
        # `@target_account.activitypub?`, app/services/follow_service.rb); a locked target's waits for us.
        followed["ids"][x] = self.resolve(x, step["actor"], followed["acct"], "accounts")["id"]
        self.api(x, step["actor"]).call("POST", f"/api/v1/accounts/{followed['ids'][x]}/follow")
        return {"from": x, "to": y, "follower": follower, "followed": followed, "locked": step["locked"]}

    def accept(self, step: dict, made: dict) -> None:
        """The follower's id on the followed's instance (the request has arrived: after a settle); a locked
        target authorizes it (app/controllers/api/v1/follow_requests_controller.rb takes that id)."""
        y, target, acct = step["to"], step["target"], made["follower"]["acct"]
        try:  # known there since the Follow arrived: no WebFinger (accounts/lookup_controller.rb, skip_webfinger)
            seen = self.api(y, target).call("GET", "/api/v1/accounts/lookup", params={"acct": acct})
        except SandboxError as e:
            raise SandboxError(f"{y} does not know {acct}, whose follow of {made['followed']['acct']} should have arrived "
                               f"({e}): `mastodon-sandbox deliveries --group {self.group}` shows what was sent") from None
        made["follower"]["ids"][y] = seen["id"]
        if step["locked"]:
            self.api(y, target).call("POST", f"/api/v1/follow_requests/{seen['id']}/authorize")

    def check_following(self, step: dict, made: dict) -> None:
        x = step["from"]
        rel = self.api(x, step["actor"]).call("GET", "/api/v1/accounts/relationships",
                                              params={"id[]": made["followed"]["ids"][x]})
        if not rel or not rel[0].get("following"):
            raise SandboxError(f"{made['followed']['acct']} did not accept the follow of {made['follower']['acct']}: "
                               f"`mastodon-sandbox deliveries --group {self.group}` shows what was sent and answered")

    def post(self, step: dict, **extra: str) -> dict:
        api, data = self.api(step["from"], step["actor"]), {"status": step["text"], "visibility": "public", **extra}
        # One key for both tries: a post Mastodon did make is answered again, never made twice
        # (PostStatusService#with_idempotency).
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        try:
            got = api.call("POST", "/api/v1/statuses", data=data, headers=headers)
        except SandboxError as e:
            # Mastodon can create a remote account twice at once (this post's mention, resolved by WebFinger, and
            # an activity Sidekiq takes in): the post is then a 422 "has already been taken" (seen on real
            # 4.3.23), made before anything was saved. The account exists now: a second try goes through.
            if " 422: " not in str(e) or "has already been taken" not in str(e):
                raise
            got = api.call("POST", "/api/v1/statuses", data=data, headers=headers)
        return {"uri": got["uri"], "url": got.get("url"), "ids": {step["from"]: got["id"]}, "mentions": got.get("mentions", [])}

    def mention(self, step: dict) -> dict:
        x, y = step["from"], step["to"]
        mentioned = self.account(y, step["target"])
        status = self.post(step)
        # The mention was resolved as the status was made (ProcessMentionsService, by WebFinger): its id on x is
        # in the answer.
        ids = [m["id"] for m in status.pop("mentions") if m["acct"].lower() == mentioned["acct"].lower()]
        if not ids:
            raise SandboxError(f"{x} did not resolve the mention of {mentioned['acct']}: `mastodon-sandbox deliveries "
                               f"--group {self.group}` shows the WebFinger request and its answer")
        mentioned["ids"][x] = ids[0]
        return {"from": x, "to": y, "actor": self.account(x, step["actor"]), "mentioned": mentioned, "status": status}

    def remote_status(self, step: dict) -> dict:
        """Step's status of y, resolved on x by its URL (4.4+ may give a status an /ap/ URI: the URL is what a
        user pastes, app/lib/activitypub/tag_manager.rb), with its URI and both ids."""
        x, y = step["from"], step["to"]
        status = self.own_status(y, step["status"])
        seen = self.resolve(x, step["actor"], status["url"], "statuses")
        status["uri"], status["ids"][x] = seen["uri"], seen["id"]
        return status

    def reply(self, step: dict) -> dict:
        x, y = step["from"], step["to"]
        parent = self.remote_status(step)
        status = self.post(step, in_reply_to_id=parent["ids"][x])
        status.pop("mentions")
        return {"from": x, "to": y, "actor": self.account(x, step["actor"]), "author": self.account(y, step["author"]),
                "in_reply_to": parent, "status": status}

    def interact(self, step: dict) -> dict:
        """favourite and reblog: POST /api/v1/statuses/:id/<op> with the id the actor's instance gave the status."""
        x, y = step["from"], step["to"]
        status = self.remote_status(step)
        # A boost is public: a locked account's would be followers-only by default (User#setting_default_privacy,
        # app/models/concerns/user/has_settings.rb; app/services/reblog_service.rb), counted but listed nowhere.
        data = {"visibility": "public"} if step["op"] == "reblog" else None
        got = self.api(x, step["actor"]).call("POST", f"/api/v1/statuses/{status['ids'][x]}/{step['op']}", data=data)
        out = {"from": x, "to": y, "actor": self.account(x, step["actor"]), "author": self.account(y, step["author"]),
               "status": status}
        if step["op"] == "reblog":
            out["reblog"] = {"uri": got["uri"], "ids": {x: got["id"]}}
        return out

    def copies(self, section: str, who: str) -> None:
        """The ids the other instance gave the statuses made on x (delivered: after a settle), searched as
        the account they were meant for (`who`)."""
        for made in self.made[section]:
            y, key = made["to"], made[who]["key"]
            made["status"]["ids"][y] = self.resolve(y, key, made["status"]["uri"], "statuses")["id"]

    def run(self, plan: list[dict]) -> dict[str, list[dict]]:
        follows = [s for s in plan if s["op"] == "follow"]
        with self.progress.waiting(f"{len(follows)} follows across the instances") as update:
            for i, step in enumerate(follows, 1):
                self.made["follows"].append(self.follow(step))
                update(f"{i}/{len(follows)}")
        self.settle("delivered the follows")
        pairs = list(zip(follows, self.made["follows"]))
        with self.progress.waiting("authorizing the follow requests to locked accounts"):
            for step, made in pairs:
                self.accept(step, made)
        self.settle("delivered the acceptances")
        for step, made in pairs:
            self.check_following(step, made)
        rest = [s for s in plan if s["op"] != "follow"]
        run = {"mention": self.mention, "reply": self.reply, "favourite": self.interact, "reblog": self.interact}
        with self.progress.waiting(f"{len(rest)} mentions, replies, favourites and boosts across the instances") as update:
            for i, step in enumerate(rest, 1):
                self.made[SECTIONS[step["op"]]].append(run[step["op"]](step))
                update(f"{i}/{len(rest)} ({step['op']})")
        self.settle("delivered the statuses, favourites and boosts")
        self.copies("mentions", "mentioned")
        self.copies("replies", "author")
        self.settle("finished")
        return self.made


# --- the group seed --------------------------------------------------------------------------------------------

def load_group_summary(group: str) -> dict | None:
    """What the last group seed made (None before one has finished, and while one is under way or cut short)."""
    state = GroupState(group)
    if state.seeding_file.exists():
        return None
    return state.read_json(state.seed_file)


def _made_with(found: dict) -> str:
    return f"scenario {found['scenario']!r}, seed {found['seed']}, scale {found['scale']}"


def check_group(group: str, found: list[Sandbox], scenario: str, seed_value: int, scale: int) -> None:
    """Everything a group seed needs, checked on every member before anything is made (no Docker): one line
    naming the member and what to do otherwise."""
    if not 1 <= scale <= 50:
        raise SandboxError(f"bad scale {scale}: choose 1 to 50 (it multiplies the accounts and the totals)")
    wanted = load(scenario)
    too_big = size_problem(wanted, scale)
    if too_big:
        raise SandboxError(f"scenario {wanted.name!r} at scale {scale}: {too_big[1]}")
    if len(found) < 2:
        raise SandboxError(f"group {group!r} has one member, {found[0].name}: a group seed needs two or more "
                           f"(`mastodon-sandbox up --name NAME --domain NAME.localhost --group {group}`)")
    for sb in found:
        if sb.config.server == "standin":
            raise SandboxError(f"member {sb.name!r} runs the stand-in, which does not federate or hold statuses: "
                               "a group seed needs real Mastodon on every member")
    state = GroupState(group)
    cut_short, done = state.read_json(state.seeding_file), state.read_json(state.seed_file)
    domains = sorted(sb.config.domain for sb in found)
    if done and not cut_short:
        if sorted(done["members"]) != domains:
            raise SandboxError(f"group {group!r} was seeded as {', '.join(sorted(done['members']))} and has {', '.join(domains)} "
                               "now: a group seed is made once for its members; make a new group for the newcomers")
        raise SandboxError(f"group {group!r} was seeded already ({_made_with(done)}): `mastodon-sandbox reset --group {group}` "
                           "returns to it; destroy its members to seed anew")
    asked = {"scenario": wanted.name, "seed": seed_value, "scale": scale}
    if cut_short and {k: cut_short[k] for k in asked} != asked:
        raise SandboxError(f"a group seed of {group!r} with {_made_with(cut_short)} was cut short: run it again with those "
                           f"(`mastodon-sandbox seed --group {group} --scenario {cut_short['scenario']} --seed {cut_short['seed']} "
                           f"--scale {cut_short['scale']}`)")
    for sb in found:
        own = load_summary(sb)
        if own and not sb.state.seeding_file.exists() and {k: own.get(k) for k in asked} != asked:
            raise SandboxError(f"member {sb.name!r} of group {group!r} was seeded with {_made_with(own)}: seed the group with "
                               f"those (`mastodon-sandbox seed --group {group} --scenario {own['scenario']} --seed {own['seed']} "
                               f"--scale {own['scale']}`), or destroy {sb.name} to seed it anew")


def seed_group(group: str, scenario: str = "default", seed_value: int = 1, scale: int = 1,
               progress: Progress | None = None) -> dict:
    """Seed every member of `group` not seeded yet (`seed`, same scenario, seed and scale), then the traffic
    between them (`plan_cross`); returns the group summary written to `_groups/G/seed.json`, and saves every
    member's `seeded` snapshot again, together (what `reset --group G` returns to). Refuses, before anything
    is made, a member seeded with another scenario, seed or scale, and a group seeded already.

    Cut short, it does the right thing when run again, as `seed` does for one sandbox: a member's own seed
    that was cut short is started over by `seed` itself; once every member is seeded, the group is saved as
    snapshot `before-group-seed` and the group's record (`_groups/G/seeding.json`) written; while that record
    is there the group seed is not done (`load_group_summary` gives None), and the next run restores
    `before-group-seed` on every member and makes the cross-instance steps again. The summary is written
    after them and the record removed last, after the `seeded` snapshots.

    Members seeded before are taken as they are now: `reset --name` them first to build on their seeded
    state alone."""
    progress = progress or Progress()
    names.install()  # the members' NAME.localhost domains resolve in this process, CLI or not
    found = group_members(group)
    check_group(group, found, scenario, seed_value, scale)
    for sb in found:
        if not sb.stack.is_running():
            raise SandboxError(f"member {sb.name!r} of group {group!r} is not running: `mastodon-sandbox up --name {sb.name}` first")
    started = time.monotonic()
    for i, sb in enumerate(found, 1):
        if load_summary(sb) is None or sb.state.seeding_file.exists():
            progress.step(f"member {i}/{len(found)}: {sb.name} ({sb.config.domain}) is not seeded yet")
            seed(sb, scenario, seed_value, scale, progress)
    state = GroupState(group)
    _begin(group, state, found, scenario, seed_value, scale, progress)
    summaries = {sb.config.domain: load_summary(sb) for sb in found}
    plan = plan_cross(seed_value, scale, summaries)
    counts = {SECTIONS[op]: sum(s["op"] == op for s in plan) for op in PER_PAIR}
    progress.step(f"seeding between {', '.join(sorted(summaries))}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    try:
        made = CrossSeeder(group, found, summaries, progress).run(plan)
    except SandboxError as e:
        raise SandboxError(f"{e} (`mastodon-sandbox seed --group {group}` again starts the steps between the members over)") from None
    summary = {"group": group, "scenario": load(scenario).name, "seed": seed_value, "scale": scale,
               "members": {sb.config.domain: sb.name for sb in found}, "counts": counts, **made,
               "seconds": round(time.monotonic() - started, 1)}
    state.write_json(state.seed_file, summary)
    progress.step(f"saving the seeded group as snapshot {SEEDED!r} of every member (what `reset --group {group}` returns to)")
    save_group(found, SEEDED, progress, replace=True)
    state.seeding_file.unlink()
    for sb in found:
        if snapshots.manifest_path(sb, BEFORE_GROUP_SEED).is_file():
            snapshots.delete(sb, BEFORE_GROUP_SEED)
    return summary


def _begin(group: str, state: GroupState, found: list[Sandbox], scenario: str, seed_value: int, scale: int,
           progress: Progress) -> None:
    """Back to `before-group-seed` after a group seed that was cut short; otherwise that snapshot is saved,
    then the record written (a run killed in between saves it again)."""
    cut_short = state.read_json(state.seeding_file)
    if cut_short:
        progress.step(f"a group seed started {cut_short.get('started')} was cut short: every member back to the state "
                      f"before it (snapshot {BEFORE_GROUP_SEED!r}), then the steps between them again")
        try:
            restore_group(found, BEFORE_GROUP_SEED, progress)
        except SandboxError as e:
            raise SandboxError(f"a group seed of {group!r} was cut short and the state before it cannot be restored ({e}); "
                               "destroy the group's members to seed anew") from None
        return
    progress.step(f"saving the seeded members as snapshot {BEFORE_GROUP_SEED!r} (an interrupted group seed starts over from it)")
    save_group(found, BEFORE_GROUP_SEED, progress, replace=True)
    state.write_json(state.seeding_file, {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                "scenario": load(scenario).name, "seed": seed_value, "scale": scale})
