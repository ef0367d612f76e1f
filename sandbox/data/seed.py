"""Seeding: a plan applied through Mastodon's API as the users themselves, so that home timelines,
notifications and conversations come about as Mastodon makes them. The accounts and their tokens come from
provisioning's bulk runner (one Rails boot); everything else is an API call, paced by the rate-limit headers.
What was made is written to the state folder (seed.json) for tests to look up."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from pathlib import Path
from typing import Any


from ..errors import SandboxError
from ..handle import Sandbox
from ..progress import Progress
from ..provision.http import VerifiedSession
from ..provision.provisioner import Provisioner
from ..timeouts import timeouts
from .plan import Plan, render
from .scenario import load
from .settle import settle
from ..waiting import Look, wait_for

MEDIA_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "media"


def seed_file(sandbox: Sandbox) -> Path:
    return sandbox.state.seed_file


def load_summary(sandbox: Sandbox) -> dict | None:
    """What the last seed made (None before any)."""
    return sandbox.state.read_json(seed_file(sandbox), default=None)


class Api:
    """Calls as one user, waiting out a rate limit by its X-RateLimit-Reset rather than failing."""

    def __init__(self, sandbox: Sandbox, token: str):
        self.base = sandbox.url
        self.session = VerifiedSession(str(sandbox.state.ca_file))
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kw: Any) -> Any:
        kw.setdefault("timeout", timeouts().http)
        for _ in range(3):
            resp = self.session.request(method, self.base + path, **kw)
            if resp.status_code != 429:
                break
            reset = resp.headers.get("X-RateLimit-Reset")
            wait = 5.0
            if reset:
                wait = max(1.0, (dt.datetime.fromisoformat(reset.replace("Z", "+00:00")) - dt.datetime.now(dt.timezone.utc)).total_seconds() + 1)
            time.sleep(min(wait, 330))
        if resp.status_code not in ok:
            detail = resp.text[:200].replace("\n", " ")
            raise SandboxError(f"{method} {path} answered {resp.status_code}: {detail}")
        return resp.json() if resp.content else None


class Seeder:
    def __init__(self, sandbox: Sandbox, plan: Plan, progress: Progress):
        self.sandbox, self.plan, self.progress = sandbox, plan, progress
        self.api: dict[str, Api] = {}
        self.ids: dict[str, str] = {}  # account key -> account id
        self.summary: dict[str, Any] = {
            "scenario": plan.scenario, "seed": plan.seed, "scale": plan.scale,
            "mastodon": sandbox.config.release.version, "accounts": {}, "statuses": {}, "lists": {},
            "filters": [], "scheduled": {}, "counts": plan.counts(),
        }

    def accounts(self) -> None:
        usernames = [a["username"] for a in self.plan.accounts]
        self.progress.step(f"creating {len(usernames)} accounts and their tokens with one Rails runner")
        prov = Provisioner(self.sandbox, self.progress)
        tokens = prov.bulk_tokens(usernames)
        for a in self.plan.accounts:
            acct = prov.creds.set_account(replace(prov.creds.account(a["username"]), seed=True))
            self.ids[a["key"]] = str(acct.id)
            self.api[a["key"]] = Api(self.sandbox, tokens[a["username"]].access_token)
            self.summary["accounts"][a["key"]] = {"username": a["username"], "id": str(acct.id),
                                                  "email": acct.email, "locked": a["locked"], "bot": a["bot"]}
        prov.creds.save()

    def profiles(self) -> None:
        self.progress.step("filling in profiles: names, bios, fields, avatars and headers")
        for a in self.plan.accounts:
            data = {"display_name": a["display_name"], "note": a["note"], "bot": str(a["bot"]).lower(),
                    "locked": str(a["locked"]).lower()}
            for i, f in enumerate(a["fields"]):
                data[f"fields_attributes[{i}][name]"] = f["name"]
                data[f"fields_attributes[{i}][value]"] = f["value"]
            with open(MEDIA_DIR / a["avatar"], "rb") as avatar, open(MEDIA_DIR / a["header"], "rb") as header:
                files = {"avatar": (a["avatar"], avatar, "image/png"), "header": (a["header"], header, "image/png")}
                self.api[a["key"]].call("PATCH", "/api/v1/accounts/update_credentials", data=data, files=files)

    def media(self, actor: str, item: dict) -> str:
        mime = {"image": "image/png", "gif": "image/gif", "audio": "audio/wave"}[item["kind"]]
        with open(MEDIA_DIR / item["file"], "rb") as fh:
            got = self.api[actor].call("POST", "/api/v2/media", ok=(200, 202), data={"description": item["description"]},
                                       files={"file": (item["file"], fh, mime)})
        if got.get("url"):
            return got["id"]
        # 202: processed in the background (GIFs and audio become MP4/MP3)

        def look() -> Look[str]:
            now = self.api[actor].call("GET", f"/api/v1/media/{got['id']}", ok=(200, 206))
            return Look(bool(now.get("url")), now["id"], "not processed yet")

        return wait_for(look, timeout=timeouts().settle, interval=1.0, what=f"media {item['file']} was not processed",
                        hint="see `mastodon-sandbox logs sidekiq`")

    def status(self, step: dict) -> None:
        data: list[tuple[str, str]] = [("status", step["text"]), ("visibility", step["visibility"])]
        if step.get("spoiler_text"):
            data.append(("spoiler_text", step["spoiler_text"]))
        if step.get("in_reply_to"):
            data.append(("in_reply_to_id", self.summary["statuses"][step["in_reply_to"]]["id"]))
        media_ids = [self.media(step["actor"], m) for m in step.get("media", [])]
        data += [("media_ids[]", m) for m in media_ids]
        if step.get("poll"):
            data += [("poll[options][]", o) for o in step["poll"]["options"]]
            data += [("poll[expires_in]", str(step["poll"]["expires_in"])), ("poll[multiple]", str(step["poll"]["multiple"]).lower())]
        got = self.api[step["actor"]].call("POST", "/api/v1/statuses", data=data)
        self.summary["statuses"][step["ref"]] = {
            "id": got["id"], "actor": step["actor"], "visibility": step["visibility"], "url": got.get("url"),
            "in_reply_to": step.get("in_reply_to"), "media_ids": media_ids,
            "poll_id": (got.get("poll") or {}).get("id"), "mentions": step.get("mentions", []),
        }

    # One method per kind of step (the plan's `op`: STEPS), each run as the step's actor.
    def follow(self, api: Api, step: dict) -> None:
        api.call("POST", f"/api/v1/accounts/{self.ids[step['target']]}/follow")

    def authorize_follow(self, api: Api, step: dict) -> None:
        api.call("POST", f"/api/v1/follow_requests/{self.ids[step['follower']]}/authorize")

    def interact(self, api: Api, step: dict) -> None:
        """favourite, reblog, bookmark and pin: POST /api/v1/statuses/:id/<op>."""
        api.call("POST", f"/api/v1/statuses/{self.summary['statuses'][step['status']]['id']}/{step['op']}")

    def vote(self, api: Api, step: dict) -> None:
        poll = self.summary["statuses"][step["status"]]["poll_id"]
        api.call("POST", f"/api/v1/polls/{poll}/votes", data=[("choices[]", str(c)) for c in step["choices"]])

    def make_list(self, api: Api, step: dict) -> None:
        got = api.call("POST", "/api/v1/lists", data={"title": step["title"]})
        if step["members"]:
            api.call("POST", f"/api/v1/lists/{got['id']}/accounts", data=[("account_ids[]", self.ids[m]) for m in step["members"]])
        self.summary["lists"][step["ref"]] = {"id": got["id"], "actor": step["actor"], "title": step["title"], "members": step["members"]}

    def make_filter(self, api: Api, step: dict) -> None:
        data = [("title", step["title"]), ("filter_action", "warn")] + [("context[]", c) for c in step["context"]]
        data += [("keywords_attributes[][keyword]", k) for k in step["keywords"]]
        got = api.call("POST", "/api/v2/filters", data=data)
        self.summary["filters"].append({"id": got["id"], "actor": step["actor"], "title": step["title"]})

    def schedule(self, api: Api, step: dict) -> None:
        at = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=step["in_days"])).isoformat(timespec="seconds")
        got = api.call("POST", "/api/v1/statuses", data={"status": step["text"], "scheduled_at": at})
        self.summary["scheduled"][step["ref"]] = {"id": got["id"], "actor": step["actor"], "scheduled_at": got.get("scheduled_at")}

    STEPS = {"follow": follow, "authorize_follow": authorize_follow, "status": lambda self, api, step: self.status(step),
             "favourite": interact, "reblog": interact, "bookmark": interact, "pin": interact, "vote": vote,
             "list": make_list, "filter": make_filter, "schedule": schedule}

    def apply(self, step: dict) -> None:
        run = self.STEPS.get(step["op"])
        if run is None:
            raise SandboxError(f"unknown seed step {step['op']!r}")
        run(self, self.api[step["actor"]], step)

    def run(self) -> dict:
        started = time.monotonic()
        self.accounts()
        self.profiles()
        steps = self.plan.steps
        with self.progress.waiting(f"applying {len(steps)} steps through the API") as update:
            for i, step in enumerate(steps, 1):
                self.apply(step)
                if i % 10 == 0 or i == len(steps):
                    update(f"{i}/{len(steps)} ({step['op']})")
        with self.progress.waiting("waiting for Sidekiq to settle (timelines, notifications, media)") as update:
            seen: list[str] = []

            def show(stats) -> None:
                if not seen or seen[-1] != str(stats):  # a line per change, not per look
                    seen.append(str(stats))
                    update(str(stats))
            settle(self.sandbox, on_poll=show)
        self.summary["seconds"] = round(time.monotonic() - started, 1)
        self.sandbox.state.write_json(seed_file(self.sandbox), self.summary)
        from .snapshots import SEEDED, save

        self.progress.step(f"saving the seeded state as snapshot {SEEDED!r} (what `mastodon-sandbox reset` returns to)")
        save(self.sandbox, SEEDED, self.progress, replace=True)
        return self.summary


BEFORE_SEED = "before-seed"  # the snapshot an interrupted seed goes back to before seeding again


def seed(sandbox: Sandbox, scenario: str = "default", seed_value: int = 1, scale: int = 1,
         progress: Progress | None = None) -> dict:
    """Seed the sandbox with `scenario`; refuses a sandbox seeded before and the stand-in, before anything
    is made. Returns the summary it writes to seed.json.

    A seed cut short (its process killed) is started over from the state before it: the sandbox is saved
    as snapshot `before-seed` first and the seed's record (seeding.json) kept until it is done, so the next
    `seed` restores that snapshot and seeds again — the same scenario and seed give the same result as an
    uninterrupted run."""
    from .snapshots import delete, restore, save

    progress = progress or Progress()
    if sandbox.config.server == "standin":
        raise SandboxError("the stand-in does not offer statuses, media or timelines: seeding needs real Mastodon (SANDBOX_SERVER=source or official)")
    if not 1 <= scale <= 50:
        raise SandboxError(f"bad scale {scale}: choose 1 to 50 (it multiplies the accounts and the totals)")
    state = sandbox.state
    cut_short = state.read_json(state.seeding_file, default=None)
    found = load_summary(sandbox)
    if found and not cut_short:
        raise SandboxError(f"sandbox {sandbox.name!r} was seeded already ({found['scenario']}, seed {found['seed']}): "
                           "`mastodon-sandbox reset` returns to it; destroy the sandbox to seed anew")
    plan = render(load(scenario), seed_value, scale, sandbox.config.domain, sandbox.config.email_domain)
    if cut_short:
        progress.step(f"a seed started {cut_short.get('started')} was cut short: back to the state before it "
                      f"(snapshot {BEFORE_SEED!r}), then seeding again")
        try:
            restore(sandbox, BEFORE_SEED, progress)
        except SandboxError as e:
            raise SandboxError(f"a seed of {sandbox.name!r} was cut short and the state before it cannot be restored ({e}); "
                               "destroy the sandbox to seed anew") from None
    else:
        progress.step(f"saving the state before seeding as snapshot {BEFORE_SEED!r} (an interrupted seed starts over from it)")
        save(sandbox, BEFORE_SEED, progress, replace=True)
        state.write_json(state.seeding_file, {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                              "scenario": plan.scenario, "seed": seed_value, "scale": scale})
    progress.step(f"seeding {sandbox.name!r} with scenario {plan.scenario!r} (seed {seed_value}, scale {scale}): "
                  + ", ".join(f"{v} {k}" for k, v in plan.counts().items()))
    summary = Seeder(sandbox, plan, progress).run()
    state.seeding_file.unlink()
    delete(sandbox, BEFORE_SEED)
    return summary


