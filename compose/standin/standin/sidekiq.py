"""The stand-in's job worker, run as `bundle exec sidekiq`: reads Sidekiq-format jobs from Redis (queues,
the schedule and retry sets) and performs the ones Mastodon's part-1 surfaces enqueue (mail)."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sys
import time

from . import config, mailer
from .db import connect, one

# config/sidekiq.yml queues, weights dropped: BRPOP takes them in this order.
QUEUES = ["default", "push", "ingress", "mailers", "pull", "scheduler", "fasp"]
_stop = False


def _on_term(signum, frame):  # noqa: ARG001
    global _stop
    _stop = True
    raise SystemExit(0)


def log(msg: str) -> None:
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    print(f"INFO  {ts}Z pid={os.getpid()} standin-sidekiq: {msg}", flush=True)


def enqueue_due(r, now: float) -> int:
    """Sidekiq's scheduled poller: move due jobs from the `schedule` and `retry` zsets onto their queues."""
    moved = 0
    for zset in ("schedule", "retry"):
        for raw in r.zrangebyscore(zset, "-inf", now, start=0, num=100):
            if r.zrem(zset, raw):
                job = json.loads(raw)
                job["enqueued_at"] = int(now * 1000)
                r.sadd("queues", job["queue"])
                r.lpush(f"queue:{job['queue']}", json.dumps(job))
                moved += 1
    return moved


def perform(cfg: config.Config, job: dict) -> str:
    """Run one job; return a short description. Unknown job classes are acknowledged and logged."""
    if job.get("wrapped") == "ActionMailer::MailDeliveryJob":
        aj = job["args"][0]
        mailer_name, action, _, params = aj["arguments"]
        gid = params["args"][0]["_aj_globalid"]
        user_id = int(gid.rsplit("/", 1)[1])
        recipient = (params.get("params") or {}).get("recipient", {}).get("_aj_globalid")
        conn = connect(cfg)
        try:
            user = one(conn, "SELECT u.email, u.unconfirmed_email, a.username FROM users u "
                             "JOIN accounts a ON a.id = u.account_id WHERE u.id = %s", (user_id,))
            to = user
            if recipient:  # parameterized mailer: mail goes to the recipient account's user
                to = one(conn, "SELECT u.email, u.unconfirmed_email, a.username FROM users u "
                               "JOIN accounts a ON a.id = u.account_id WHERE a.id = %s",
                         (int(recipient.rsplit("/", 1)[1]),))
        finally:
            conn.close()
        if user is None or to is None:
            return f"{mailer_name}#{action}: user {user_id} is gone, nothing to send"
        address = to["email"]  # UserMailer's `default to: -> { @resource.email }`
        extra = {"subject_user": user["username"]}
        if action == "confirmation_instructions":
            # app/mailers/user_mailer.rb: the token is the second argument; the mail goes to the unconfirmed
            # address when one is pending, with the reconfirmation subject.
            extra["token"] = params["args"][1]
            extra["reconfirmation"] = bool(to["unconfirmed_email"])
            address = to["unconfirmed_email"] or to["email"]
        elif action == "email_changed":
            address = params["args"][-1]["to"]  # Devise's `to:`, the address before the change (seen on v4.6.5)
        msg = mailer.render(cfg, action, address, to["username"], extra)
        where = mailer.deliver(cfg, address, msg)
        return f"{mailer_name}#{action} to {address} -> {where}"
    return f"{job.get('wrapped') or job.get('class')}: not implemented by the stand-in, acknowledged"


def heartbeat(r, identity: str, started: float, busy: int, job: dict | None = None, queue: str = "") -> None:
    """Sidekiq's process registry (`processes` set, `<identity>` hash, `<identity>:work`), so queue-drain checks
    that look for busy workers see this one."""
    info = {"hostname": socket.gethostname(), "started_at": started, "pid": os.getpid(), "tag": "standin",
            "concurrency": 1, "queues": QUEUES, "weights": [{q: 0 for q in QUEUES}], "labels": ["standin"],
            "identity": identity, "version": "standin", "embedded": False}
    pipe = r.pipeline()
    pipe.sadd("processes", identity)
    pipe.hset(identity, mapping={"info": json.dumps(info), "busy": busy, "beat": time.time(), "quiet": "false",
                                 "rss": 0, "rtt_us": 0})
    pipe.expire(identity, 60)
    if job is not None:
        pipe.hset(f"{identity}:work", "standin", json.dumps({"queue": queue, "payload": json.dumps(job),
                                                             "run_at": int(time.time())}))
        pipe.expire(f"{identity}:work", 60)
    pipe.execute()


def unregister(r, identity: str) -> None:
    try:
        r.srem("processes", identity)
        r.delete(identity, f"{identity}:work")
    except Exception:  # noqa: BLE001
        pass


def retry_later(r, job: dict, err: Exception) -> None:
    count = job.get("retry_count", -1) + 1
    job.update({"retry_count": count, "error_message": str(err), "error_class": type(err).__name__,
                "failed_at": job.get("failed_at") or int(time.time() * 1000)})
    if count >= 25:
        r.zadd("dead", {json.dumps(job): time.time()})
        return
    delay = count ** 4 + 15  # Sidekiq's default backoff, without the jitter
    r.zadd("retry", {json.dumps(job): time.time() + delay})


def main() -> int:
    cfg = config.load()
    config.boot_check(cfg)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    print(config.banner(cfg, "sidekiq"), flush=True)
    from .jobs import redis_client
    r = redis_client(cfg)
    while True:
        try:
            r.ping()
            break
        except Exception as e:  # noqa: BLE001
            log(f"waiting for Redis: {e}")
            time.sleep(1)
    log(f"connected to Redis {cfg.redis_url}; queues {', '.join(QUEUES)}")
    # config/initializers/sidekiq.rb: touch tmp/<MASTODON_SIDEKIQ_READY_FILENAME> once ready.
    ready = os.environ.get("MASTODON_SIDEKIQ_READY_FILENAME")
    if ready:
        os.makedirs(cfg.tmp_dir, exist_ok=True)
        open(os.path.join(cfg.tmp_dir, ready), "a").close()
    keys = [f"queue:{q}" for q in QUEUES]
    identity = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"
    started = time.time()
    last_beat = 0.0
    while not _stop:
        try:
            if time.time() - last_beat > 5:
                heartbeat(r, identity, started, busy=0)
                last_beat = time.time()
            enqueue_due(r, time.time())
            item = r.brpop(keys, timeout=1)
            if not item:
                continue
            job = json.loads(item[1])
            heartbeat(r, identity, started, busy=1, job=job, queue=item[0].decode().split(":", 1)[1])
            try:
                log(f"start {job.get('jid')} {perform(cfg, job)}")
                r.incr("stat:processed")
            except Exception as e:  # noqa: BLE001
                log(f"fail {job.get('jid')} {type(e).__name__}: {e}")
                r.incr("stat:failed")
                if job.get("retry", True):
                    retry_later(r, job, e)
            finally:
                r.hdel(f"{identity}:work", "standin")
                heartbeat(r, identity, started, busy=0)
                last_beat = time.time()
        except SystemExit:
            unregister(r, identity)
            raise
        except Exception as e:  # noqa: BLE001  (Redis blips: keep the worker alive)
            log(f"error: {type(e).__name__}: {e}")
            time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
