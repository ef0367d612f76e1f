"""Sidekiq job format in Redis, the worker's due-job poller, and Rack::Attack header values (fake Redis)."""
import asyncio
import json
import time

from standin import config, jobs, ratelimit, sidekiq


class FakeRedis:
    def __init__(self):
        self.lists, self.sets, self.zsets, self.kv = {}, {}, {}, {}

    # sync API (redis-py)
    def pipeline(self):
        return self

    def execute(self):
        return []

    def sadd(self, k, v):
        self.sets.setdefault(k, set()).add(v)

    def lpush(self, k, v):
        self.lists.setdefault(k, []).insert(0, v)

    def zadd(self, k, mapping):
        self.zsets.setdefault(k, {}).update(mapping)

    def zrangebyscore(self, k, lo, hi, start=0, num=100):
        return [m for m, s in sorted(self.zsets.get(k, {}).items(), key=lambda x: x[1]) if s <= hi][:num]

    def zrem(self, k, m):
        return self.zsets.get(k, {}).pop(m, None) is not None


CFG = config.load({"REDIS_HOST": "redis"})


def test_deliver_later_pushes_a_sidekiq_activejob_wrapper(monkeypatch):
    r = FakeRedis()
    monkeypatch.setattr(jobs, "_client", r)
    monkeypatch.setattr(jobs, "_announced", True)
    jid = jobs.deliver_later(CFG, "UserMailer", "password_change", 42)
    assert r.sets["queues"] == {"mailers"}
    job = json.loads(r.lists["queue:mailers"][0])
    assert job["jid"] == jid and len(jid) == 24
    assert job["class"] == "Sidekiq::ActiveJob::Wrapper" and job["wrapped"] == "ActionMailer::MailDeliveryJob"
    assert job["queue"] == "mailers" and job["retry"] is True
    assert isinstance(job["created_at"], int) and isinstance(job["enqueued_at"], int)  # Sidekiq 8: epoch ms
    aj = job["args"][0]
    assert aj["job_class"] == "ActionMailer::MailDeliveryJob" and aj["queue_name"] == "mailers"
    assert aj["arguments"][:3] == ["UserMailer", "password_change", "deliver_now"]
    assert aj["arguments"][3]["args"] == [{"_aj_globalid": "gid://mastodon/User/42"}]


def test_later_jobs_go_to_the_schedule_and_come_back_when_due(monkeypatch):
    r = FakeRedis()
    monkeypatch.setattr(jobs, "_client", r)
    monkeypatch.setattr(jobs, "_announced", True)
    jobs.deliver_later(CFG, "UserMailer", "welcome", 7, wait=3600)
    assert "queue:mailers" not in r.lists and len(r.zsets["schedule"]) == 1
    [score] = r.zsets["schedule"].values()
    assert 3590 < score - time.time() <= 3600
    assert sidekiq.enqueue_due(r, time.time()) == 0
    assert sidekiq.enqueue_due(r, time.time() + 3601) == 1
    job = json.loads(r.lists["queue:mailers"][0])
    assert job["args"][0]["arguments"][1] == "welcome" and "enqueued_at" in job


def test_unknown_jobs_are_acknowledged():
    assert "not implemented" in sidekiq.perform(CFG, {"class": "BootstrapTimelineWorker", "args": [1]})


def test_rate_limit_headers_like_mastodon():
    h = ratelimit.Hit("throttle_oauth_application_registrations/ip", 5, 600, 6, 1795770600.5)
    assert h.exceeded and h.remaining == 0
    headers = h.headers()
    assert headers["X-RateLimit-Limit"] == "5" and headers["X-RateLimit-Remaining"] == "0"
    # period end, keeping the fractional part of now (f3: ...T09:10:00.812470Z)
    assert headers["X-RateLimit-Reset"].endswith(":00.500000Z")
    assert ratelimit.key("throttle_per_token_api", "9", 300, 1000.0) == "cache:rack::attack:3:throttle_per_token_api:9"


def test_hits_count_in_the_cache_namespace():
    class AsyncFake:
        def __init__(self):
            self.n = {}

        def pipeline(self):
            outer = self

            class P:
                def incr(self, k):
                    outer.n[k] = outer.n.get(k, 0) + 1
                    self.k = k

                def expire(self, k, t):
                    pass

                async def execute(self):
                    return [outer.n[self.k], True]
            return P()

    r = AsyncFake()
    hits = [asyncio.run(ratelimit.hit(r, "throttle_oauth_application_registrations/ip", "203.0.113.7", now=1000.0))
            for _ in range(6)]
    assert [h.remaining for h in hits] == [4, 3, 2, 1, 0, 0]
    assert hits[-1].exceeded and not hits[-2].exceeded
    assert list(r.n) == ["cache:rack::attack:1:throttle_oauth_application_registrations/ip:203.0.113.7"]
    assert ratelimit.closest(hits[:2]).remaining == 3
