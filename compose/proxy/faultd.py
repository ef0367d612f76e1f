"""The fault layer: faults on demand in front of Mastodon (`mastodon-sandbox faults`, sandbox/faults/).

The proxy (proxy/sandbox.conf) sends here only the requests of an account some rule names, or every request
while a rule names no account; everything else goes straight to Mastodon. Each request is matched against the
rules in order; the first one that applies acts on it: it answers a status with the body and headers Mastodon or
nginx send for it, delays the request and then passes it on, closes the connection without an answer, or passes
it on and cuts the answer (a streaming connection) after N events or T seconds. A request no rule takes is
passed on unchanged. Every fault is one JSON line in the log (`mastodon-sandbox faults log`).

Standard library only: it runs in the proxy's image. The rules file is written by the CLI (sandbox/faults/rules.py
checks every rule before it is written) and read again whenever it changes.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import random
import time
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

RULES = os.environ.get("FAULTS_RULES", "/etc/sandbox-faults/rules.json")
LOG = os.environ.get("FAULTS_LOG", "/var/log/sandbox-faults/faults.log")
LISTEN = os.environ.get("FAULTS_LISTEN", "0.0.0.0:7000")
WEB = os.environ.get("FAULTS_WEB", "sandbox-web:3000")
STREAMING = os.environ.get("FAULTS_STREAMING", "streaming:4000")
ACCOUNT_HEADER = "x-sandbox-fault-account"  # set by the proxy from the token's owner, never by a client
CLOSE_STATUS = 399  # asks the proxy to close the client's connection without an answer (error_page 399 -> 444):
#                    a status no rule may answer and Mastodon never sends
HEAD_LIMIT = 65536
STREAMING_PREFIX = "/api/v1/streaming"

# What a client sees for each status, as the server that sends it words it.
# 429: config/initializers/rack_attack.rb, throttled_responder (errors.429 in config/locales/en.yml).
# 503: app/controllers/concerns/api/error_handling.rb (RaceConditionError, Stoplight's red light).
# 401, 403, 404, 422: the same file and app/controllers/api/base_controller.rb.
# 500: Rails' ActionDispatch::PublicExceptions for a JSON request (an HTML page for any other).
# 502, 504: nginx's own page, as the sandbox's proxy sends it when Puma does not answer.
JSON_BODIES = {
    401: {"error": "The access token is invalid"},
    403: {"error": "This action is not allowed"},
    404: {"error": "Record not found"},
    422: {"error": "Validation failed"},
    429: {"error": "Too many requests"},
    500: {"status": 500, "error": "Internal Server Error"},
    503: {"error": "There was a temporary problem serving your request, please try again"},
}
NGINX_PAGE = "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
RAILS_500_PAGE = ("<!DOCTYPE html>\n<html>\n<head><title>We're sorry, but something went wrong (500)</title></head>\n"
                  "<body><p>We're sorry, but something went wrong on our end.</p></body>\n</html>\n")


def reason(code: int) -> str:
    if code == 504:
        return "Gateway Time-out"  # nginx's wording, in its status line and page (ngx_http_special_response.c)
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def answer_for(rule: dict, accept: str, now: float) -> tuple[int, list[tuple[str, str]], bytes]:
    """The status, headers and body a `status` rule answers with."""
    code = int(rule["status"])
    headers: list[tuple[str, str]] = []
    if code in (502, 504):
        body = NGINX_PAGE.format(code=code, reason=reason(code)).encode()
        headers.append(("Content-Type", "text/html"))
    elif code == 500 and "json" not in accept:
        body = RAILS_500_PAGE.encode()
        headers.append(("Content-Type", "text/html; charset=utf-8"))
    else:
        body = json.dumps(JSON_BODIES.get(code, {"error": reason(code)}), separators=(",", ":")).encode()
        headers.append(("Content-Type", "application/json; charset=utf-8" if code != 429 else "application/json"))
    if code == 429:
        reset = datetime.fromtimestamp(now, timezone.utc) + timedelta(seconds=float(rule.get("reset_in", 5)))
        headers += [("X-RateLimit-Limit", str(rule.get("limit", 300))), ("X-RateLimit-Remaining", "0"),
                    ("X-RateLimit-Reset", reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))]
    if code == 503 and rule.get("retry_after") is not None:
        headers.append(("Retry-After", str(int(rule["retry_after"]))))
    return code, headers, body


class Request:
    """One request as the proxy passed it: its head (kept to forward as it came) and what rules match on."""

    def __init__(self, head: bytes):
        lines = head.decode("latin-1").split("\r\n")
        self.method, self.target, self.version = lines[0].split(" ", 2)
        self.headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
        split = urlsplit(self.target)
        self.path = split.path
        self.query = parse_qs(split.query)
        # "*": sent for every request while a rule names no account; it is nobody's, and no named rule takes it.
        account = self.header(ACCOUNT_HEADER)
        self.account = "" if account == "*" else account

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name), "")

    @property
    def stream(self) -> str:
        """The streaming API's stream: `user:notification` for /api/v1/streaming/user/notification or ?stream=."""
        if not self.path.startswith(STREAMING_PREFIX):
            return ""
        tail = self.path[len(STREAMING_PREFIX):].strip("/")
        return tail.replace("/", ":") or (self.query.get("stream") or [""])[0]

    def forwarded_head(self) -> bytes:
        """The head for Mastodon: the proxy's own header dropped; one request per connection unless upgraded."""
        upgrade = self.header("upgrade") != ""
        keep = [(k, v) for k, v in self.headers if k.lower() != ACCOUNT_HEADER and (upgrade or k.lower() != "connection")]
        if not upgrade:
            keep.append(("Connection", "close"))
        lines = [f"{self.method} {self.target} {self.version}", *(f"{k}: {v}" for k, v in keep)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Rules:
    """The rules file, read again when it changes, and what each rule has done (kept in the log, so a restarted
    layer goes on counting where it stopped)."""

    def __init__(self, path: str, log_path: str):
        self.path, self.log_path = path, log_path
        self.raw: bytes | None = None
        self.rules: list[dict] = []
        self.applied: dict[str, int] = {}
        self.dice: dict[str, random.Random] = {}
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        self._count_log()

    def _count_log(self) -> None:
        try:
            with open(self.log_path) as f:
                lines = f.readlines()
            if lines and not lines[-1].endswith("\n"):
                with open(self.log_path, "a") as f:
                    f.write("\n")  # a line cut by a crash: the next fault's line starts on its own
        except OSError:
            return
        for line in lines:
            try:  # a line cut by a crash spoils itself only, not the count of every line after it
                rule = json.loads(line).get("rule")
            except (ValueError, AttributeError):
                continue
            self.applied[rule] = self.applied.get(rule, 0) + 1

    def current(self) -> list[dict]:
        """The rules as the file says now. It is read whole on every request this layer gets (a few hundred
        bytes a rule): its time and size cannot tell two writes apart within a kernel's clock tick."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            self.rules, self.raw = [], None
            return self.rules
        except OSError:
            return self.rules
        if raw != self.raw:
            try:
                self.rules = json.loads(raw).get("rules", [])
                self.raw = raw
            except ValueError:
                pass  # written as we read: the rules read last stay until the next request
        return self.rules

    def take(self, req: Request, now: float) -> dict | None:
        """The first rule that matches the request and is live (within its time, count and chance), counted."""
        for rule in self.current():
            if not matches(rule, req) or now >= rule.get("until", float("inf")):
                continue
            rid = rule["id"]
            if rule.get("count") is not None and self.applied.get(rid, 0) >= rule["count"]:
                continue
            if rule.get("probability") is not None:
                dice = self.dice.setdefault(rid, random.Random(f"{rule.get('seed', 0)}:{rid}"))
                if dice.random() >= rule["probability"]:
                    continue
            self.applied[rid] = self.applied.get(rid, 0) + 1
            return rule
        return None

    def log(self, rule: dict, req: Request, now: float) -> None:
        entry = {"time": round(now, 3), "rule": rule["id"], "action": rule["action"], "status": rule.get("status"),
                 "method": req.method, "path": req.path, "account": req.account or None}
        with open(self.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def matches(rule: dict, req: Request) -> bool:
    if req.path == "/health":
        return False  # the proxy's own health check: a rule never makes the sandbox look down to Docker
    if rule.get("account") and rule["account"] != req.account:
        return False
    if rule.get("method") and rule["method"] != req.method:
        return False
    if rule.get("stream") and rule["stream"] != req.stream:
        return False
    return fnmatch.fnmatchcase(req.path, rule.get("path") or "*")


async def read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    return head[:-4] if len(head) <= HEAD_LIMIT else None


async def drain_body(reader: asyncio.StreamReader, req: Request) -> None:
    """Read the request's body before answering it ourselves: unread bytes at close would reset the connection."""
    length = req.header("content-length")
    if length.isdigit():
        await reader.readexactly(int(length))
    elif "chunked" in req.header("transfer-encoding").lower():
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            await reader.readexactly(size + 2)
            if size == 0:
                return


async def send_answer(writer: asyncio.StreamWriter, code: int, headers: list[tuple[str, str]], body: bytes) -> None:
    lines = [f"HTTP/1.1 {code} {reason(code)}", *(f"{k}: {v}" for k, v in headers),
             f"Content-Length: {len(body)}", "Connection: close"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


class EventCounter:
    """Counts the events of a streaming answer as it passes: SSE events, or WebSocket text frames once the answer
    is a 101. Its head is skipped."""

    def __init__(self):
        self.head_done, self.websocket, self.chunked, self.events = False, False, False, 0
        self.buf, self.buf_at, self.total = b"", 0, 0  # buf_at: where buf starts in the whole answer

    def _consume(self, n: int) -> None:
        self.buf, self.buf_at = self.buf[n:], self.buf_at + n

    def feed(self, data: bytes) -> list[int]:
        """The offsets in `data` just after which an event ended, so that a cut after N events sends the Nth whole."""
        start = self.total
        self.total += len(data)
        self.buf += data
        ends: list[int] = []
        if not self.head_done:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return ends
            self.websocket = self.buf.startswith(b"HTTP/1.1 101")
            self.chunked = any(line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower()
                               for line in self.buf[:i].split(b"\r\n"))
            self.head_done = True
            self._consume(i + 4)
        while self.websocket and len(self.buf) >= 2:
            size, header = self.buf[1] & 0x7F, 2
            if size == 126:
                size, header = int.from_bytes(self.buf[2:4], "big"), 4
            elif size == 127:
                size, header = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < header + size:
                break
            opcode = self.buf[0] & 0x0F
            self._consume(header + size)
            if opcode == 1:
                self.events += 1
                ends.append(self.buf_at - start)
        while not self.websocket and (i := self.buf.find(b"\n\n")) >= 0:
            # An SSE event ends at its blank line (streaming/index.js writes `event:` and `data:` lines, then one).
            end = i + 2
            if self.chunked:
                # Sent as one HTTP chunk: its closing CRLF goes too, or a client drops the chunk unread; when this
                # read ends before the CRLF, the event ends in the next one.
                if len(self.buf) < end + 2:
                    break
                end += 2 if self.buf[end:end + 2] == b"\r\n" else 0
            event = b"event:" in self.buf[:i]
            self._consume(end)
            if event:
                self.events += 1
                ends.append(self.buf_at - start)
        return ends


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cut: dict | None = None) -> None:
    """Bytes passed on until either side closes; with a `cut` rule, only until the answer's Nth event has been
    sent whole, or until T seconds went by."""
    counter, limit = EventCounter(), (cut or {}).get("after_events")
    seconds = (cut or {}).get("after_seconds")
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout)
            except asyncio.TimeoutError:
                return
            if not data:
                return
            if limit is not None:
                ends = counter.feed(data)
                if counter.events >= limit:
                    data = data[:ends[limit - (counter.events - len(ends)) - 1]]
            writer.write(data)
            await writer.drain()
            if limit is not None and counter.events >= limit:
                return
    except ConnectionError:
        pass
    finally:
        with_suppressed_close(writer)


def with_suppressed_close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
    except Exception:
        pass


async def forward(req: Request, reader, writer, rule: dict | None) -> None:
    target = STREAMING if req.path.startswith(STREAMING_PREFIX) else WEB
    host, port = target.rsplit(":", 1)
    try:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
    except OSError:
        await send_answer(writer, 502, [("Content-Type", "text/html")],
                          NGINX_PAGE.format(code=502, reason="Bad Gateway").encode())
        return
    up_writer.write(req.forwarded_head())
    await up_writer.drain()
    outbound = asyncio.ensure_future(pipe(reader, up_writer))
    await pipe(up_reader, writer, rule if rule is not None and rule["action"] == "cut" else None)
    outbound.cancel()
    with_suppressed_close(up_writer)


async def handle(rules: Rules, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await read_head(reader)
        if head is None:
            return
        req = Request(head)
        now = time.time()
        rule = rules.take(req, now)
        if rule is not None:
            rules.log(rule, req, now)
        action = rule["action"] if rule else None
        if action == "status":
            await drain_body(reader, req)
            await send_answer(writer, *answer_for(rule, req.header("accept"), now))
        elif action == "close":
            await drain_body(reader, req)
            await send_answer(writer, CLOSE_STATUS, [], b"")
        else:
            if action == "delay":
                await asyncio.sleep(float(rule["seconds"]))
            await forward(req, reader, writer, rule)
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass  # ValueError: a request line or chunk size that is not HTTP, dropped like a closed connection
    finally:
        with_suppressed_close(writer)


async def main() -> None:
    rules = Rules(RULES, LOG)
    host, port = LISTEN.rsplit(":", 1)
    server = await asyncio.start_server(lambda r, w: handle(rules, r, w), host, int(port), limit=HEAD_LIMIT)
    print(f"faultd: listening on {LISTEN}, rules from {RULES}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
