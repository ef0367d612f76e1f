"""Sidekiq client side: enqueue jobs in Redis in Sidekiq's own job format, so the stand-in's sidekiq process
(or any Sidekiq-aware tool) sees them exactly as Mastodon's would be seen."""
from __future__ import annotations

import json
import os
import secrets
import sys
import time
from datetime import datetime, timezone

from .config import Config

_client = None
_announced = False


def redis_client(cfg: Config):
    import redis
    return redis.Redis(host=cfg.redis_host, port=cfg.redis_port, db=cfg.redis_db, password=cfg.redis_password,
                       socket_connect_timeout=5)


def _conn(cfg: Config):
    global _client, _announced
    if _client is None:
        _client = redis_client(cfg)
    if not _announced and os.environ.get("STANDIN_QUIET_SIDEKIQ_CLIENT") != "1":
        # Sidekiq logs this line on stdout when a Rails process first enqueues (seen in tootctl output).
        ts = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        print(f"INFO  {ts} pid={os.getpid()} tid=standin: stand-in Sidekiq client connecting to Redis with "
              f"options {{:url=>\"{cfg.redis_url}\"}}", flush=True)
        _announced = True
    return _client


def job_payload(klass: str, args: list, queue: str, wrapped: str | None = None) -> dict:
    now_ms = int(time.time() * 1000)
    # Sidekiq 8 job hash: created_at/enqueued_at are epoch milliseconds.
    job = {"retry": True, "queue": queue, "class": klass, "args": args, "jid": secrets.token_hex(12),
           "created_at": now_ms}
    if wrapped:
        job["wrapped"] = wrapped
    return job


def push(cfg: Config, job: dict, at: float | None = None) -> str:
    """Sidekiq::Client#push: LPUSH queue:<name> + SADD queues, or ZADD schedule for a later run."""
    r = _conn(cfg)
    if at is not None and at > time.time():
        r.zadd("schedule", {json.dumps(job): at})
    else:
        job["enqueued_at"] = int(time.time() * 1000)
        pipe = r.pipeline()
        pipe.sadd("queues", job["queue"])
        pipe.lpush(f"queue:{job['queue']}", json.dumps(job))
        pipe.execute()
    return job["jid"]


def job_wrapper(cfg: Config) -> str:
    """The class ActiveJob's Sidekiq adapter enqueues: Sidekiq 7.3+ ships its own adapter (Mastodon 4.6.5,
    Sidekiq 8); Rails' adapter wraps jobs in its JobWrapper on 4.3.23 (Sidekiq 6.5) — both seen queued."""
    return "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper" if cfg.is_43 else "Sidekiq::ActiveJob::Wrapper"


def deliver_later(cfg: Config, mailer: str, action: str, user_id: int, wait: float | None = None,
                  args: tuple = (), kwargs: dict | None = None, recipient_account_id: int | None = None) -> str:
    """ActionMailer #deliver_later through ActiveJob's Sidekiq adapter: queue 'mailers',
    the adapter's wrapper class (JOB_WRAPPER) wrapping ActionMailer::MailDeliveryJob, arguments serialized as ActiveJob
    does: the user as a GlobalID, then `args` (e.g. Devise's confirmation token), then `kwargs` as a keywords hash
    (Devise's `to:`; User#send_devise_notification in app/models/user.rb passes them on). `recipient_account_id`
    is for parameterized mailers (`AdminMailer.with(recipient:)`)."""
    mail_args: list = [{"_aj_globalid": f"gid://mastodon/User/{user_id}"}, *args]
    if kwargs:
        mail_args.append({**kwargs, "_aj_ruby2_keywords": list(kwargs)})
    params: dict = {"args": mail_args, "_aj_ruby2_keywords": ["args"]}
    if recipient_account_id is not None:
        params["params"] = {"recipient": {"_aj_globalid": f"gid://mastodon/Account/{recipient_account_id}"},
                            "_aj_symbol_keys": ["recipient"]}
        params["_aj_ruby2_keywords"] = ["params", "args"]
    aj = {"job_class": "ActionMailer::MailDeliveryJob", "job_id": secrets.token_hex(16), "provider_job_id": None,
          "queue_name": "mailers", "priority": None,
          "arguments": [mailer, action, "deliver_now", params],
          "executions": 0, "exception_executions": {}, "locale": "en", "timezone": "UTC",
          "enqueued_at": datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")}
    if wait:
        aj["scheduled_at"] = datetime.fromtimestamp(time.time() + wait, timezone.utc).isoformat(
            timespec="microseconds").replace("+00:00", "Z")
    job = job_payload(job_wrapper(cfg), [aj], "mailers", wrapped="ActionMailer::MailDeliveryJob")
    return push(cfg, job, at=(time.time() + wait) if wait else None)


def cache_clear(cfg: Config) -> int:
    """Rails.cache.clear on a Redis cache store namespaced 'cache': deletes cache:* keys (Rack::Attack counters
    live there too)."""
    r = redis_client(cfg)
    n = 0
    for key in r.scan_iter(match="cache:*", count=1000):
        r.delete(key)
        n += 1
    return n


def log_err(msg: str) -> None:
    sys.stderr.write(msg + "\n")
