"""The fault layer itself (compose/proxy/faultd.py), run in-process between real sockets: a client standing in for
nginx, a fake Mastodon (web and streaming) behind it. No Docker. Rules are written as the CLI writes them
(sandbox/faults/rules.py's `to_json`, the file replaced whole)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import queue
import re
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from mastodon import Mastodon, MastodonRatelimitError

from mastodon_sandbox.faults.rules import make_rule

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("faultd", ROOT / "compose" / "proxy" / "faultd.py")
faultd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(faultd)

TIMEOUT = 3.0  # no exchange waits longer: a bug fails a test, never hangs the suite
UPSTREAM_ANSWER = b"HTTP/1.1 200 OK\r\nX-Upstream:  as sent \r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nupstream"


class Layer:
    """faultd's handler on a free port of 127.0.0.1 and a fake Mastodon behind it, in one event loop on a thread.
    `self.rules` is the Rules object the handler uses (replaced to simulate a restart); `self.upstream` answers
    each request the fake Mastodon gets; `self.seen` gets (service, head, body) of each."""

    def __init__(self, tmp_path: Path):
        self.rules_path, self.log_path = tmp_path / "rules.json", tmp_path / "log" / "faults.log"
        self.rules = self.fresh_rules()
        self.upstream = self.answer_plainly
        self.seen: queue.Queue = queue.Queue()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers = self.run(self._start())

    def fresh_rules(self):
        return faultd.Rules(str(self.rules_path), str(self.log_path))

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    async def _start(self):
        proxy = await asyncio.start_server(lambda r, w: faultd.handle(self.rules, r, w), "127.0.0.1", 0,
                                           limit=faultd.HEAD_LIMIT)
        web = await asyncio.start_server(lambda r, w: self._mastodon("web", r, w), "127.0.0.1", 0)
        streaming = await asyncio.start_server(lambda r, w: self._mastodon("streaming", r, w), "127.0.0.1", 0)
        self.port = proxy.sockets[0].getsockname()[1]
        self.web = f"127.0.0.1:{web.sockets[0].getsockname()[1]}"
        self.streaming = f"127.0.0.1:{streaming.sockets[0].getsockname()[1]}"
        return [proxy, web, streaming]

    async def _mastodon(self, service, reader, writer):
        try:
            head = (await reader.readuntil(b"\r\n\r\n"))[:-4]
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            body = await reader.readexactly(length)
            self.seen.put((service, head, body))
            await self.upstream(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def answer_plainly(reader, writer):
        writer.write(UPSTREAM_ANSWER)
        await writer.drain()

    async def _stop(self):
        for server in self.servers:
            server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self):
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()

    def write_rules(self, *rules):
        """As the CLI writes it: a whole new file put in place (sandbox/state.py, write_private)."""
        tmp = self.rules_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"generation": 1, "next": len(rules) + 1, "rules": [r.to_json() for r in rules]}))
        os.replace(tmp, self.rules_path)

    def log(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines()] if self.log_path.exists() else []

    def raw(self, request: bytes) -> bytes:
        """What a client gets for `request`, up to the layer closing the connection."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            return read_to_end(sock)

    def request(self, method="GET", path="/api/v1/timelines/home", account=None, headers=(), body=b""):
        lines = [f"{method} {path} HTTP/1.1", "Host: sandbox.test", "Connection: close"]
        if account is not None:
            lines.append(f"X-Sandbox-Fault-Account: {account}")
        lines += [f"{k}: {v}" for k, v in headers]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        return parse(self.raw(("\r\n".join(lines) + "\r\n\r\n").encode() + body))

    def status(self, *args, **kwargs) -> int:
        return self.request(*args, **kwargs)[0]


def read_to_end(sock: socket.socket) -> bytes:
    got = b""
    while data := sock.recv(65536):
        got += data
    return got


def parse(answer: bytes) -> tuple[int, dict, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers.get("Content-Length", len(body))) == len(body)
    return int(lines[0].split(" ")[1]), headers, body


@pytest.fixture
def layer(tmp_path, monkeypatch):
    layer = Layer(tmp_path)
    monkeypatch.setattr(faultd, "WEB", layer.web)
    monkeypatch.setattr(faultd, "STREAMING", layer.streaming)
    yield layer
    layer.close()


# --- no rule: Mastodon sees the request, the client Mastodon's answer -----------------------------------------------

def test_without_a_rule_the_request_and_answer_pass_unchanged(layer):
    body = os.urandom(300_000)  # more than one read: the body is piped, not buffered once
    request = (b"POST /api/v1/media?x=1&y=%20 HTTP/1.1\r\nHost: sandbox.test\r\nAuthorization: Bearer tok\r\n"
               b"X-Sandbox-Fault-Account: alice\r\nConnection: close\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Length: 300000\r\n\r\n" + body)
    assert layer.raw(request) == UPSTREAM_ANSWER
    service, head, got = layer.seen.get(timeout=TIMEOUT)
    assert service == "web"
    # The proxy's own header never reaches Mastodon; one request per connection.
    assert head == (b"POST /api/v1/media?x=1&y=%20 HTTP/1.1\r\nHost: sandbox.test\r\nAuthorization: Bearer tok\r\n"
                    b"Content-Type: application/octet-stream\r\nContent-Length: 300000\r\nConnection: close")
    assert got == body
    assert layer.log() == []


def test_streaming_paths_go_to_the_streaming_server(layer):
    layer.status(path="/api/v1/streaming/user?access_token=t")
    assert layer.seen.get(timeout=TIMEOUT)[0] == "streaming"


# --- status: the bodies and headers Mastodon and nginx send -----------------------------------------------------------

def test_429_is_rack_attacks_answer(layer):
    # config/initializers/rack_attack.rb (Mastodon 4.6.5), throttled_responder: `{ error: I18n.t('errors.429') }`,
    # Content-Type application/json, X-RateLimit-Reset as `(now + ...).iso8601(6)`.
    layer.write_rules(make_rule("f1", "status", status=429, reset_in=60, limit=300))
    code, headers, body = layer.request()
    assert code == 429
    assert json.loads(body) == {"error": "Too many requests"}
    assert headers["Content-Type"] == "application/json"
    assert headers["X-RateLimit-Limit"] == "300" and headers["X-RateLimit-Remaining"] == "0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", headers["X-RateLimit-Reset"])  # iso8601(6), UTC
    reset = datetime.fromisoformat(headers["X-RateLimit-Reset"])
    assert reset.utcoffset().total_seconds() == 0
    assert 55 < (reset - datetime.now(timezone.utc)).total_seconds() <= 60
    assert layer.seen.empty()  # answered by the layer: Mastodon never saw it


def test_mastodon_py_reads_an_injected_429_as_a_rate_limit(layer):
    # Mastodon.py (mastodon/internals.py) parses X-RateLimit-Reset with dateutil.parser: a bot paces on it.
    layer.write_rules(make_rule("f1", "status", status=429, reset_in=30, limit=50))
    api = Mastodon(access_token="tok", api_base_url=f"http://127.0.0.1:{layer.port}", version_check_mode="none",
                   ratelimit_method="throw", request_timeout=TIMEOUT)
    with pytest.raises(MastodonRatelimitError):
        api.timeline_home()
    assert (api.ratelimit_limit, api.ratelimit_remaining) == (50, 0)
    assert 25 < api.ratelimit_reset - time.time() <= 30


def test_503_is_mastodons_temporary_problem(layer):
    # app/controllers/concerns/api/error_handling.rb (Mastodon 4.6.5): RaceConditionError / Stoplight's red light.
    layer.write_rules(make_rule("f1", "status", status=503, retry_after=7))
    code, headers, body = layer.request()
    assert code == 503 and headers["Retry-After"] == "7"
    assert json.loads(body) == {"error": "There was a temporary problem serving your request, please try again"}
    assert headers["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("code, title", [(502, "502 Bad Gateway"), (504, "504 Gateway Time-out")])
def test_502_and_504_are_nginxs_own_page(layer, code, title):
    # nginx's src/http/ngx_http_special_response.c (ngx_http_error_50x_page and its tail) and its status line.
    layer.write_rules(make_rule("f1", "status", status=code))
    request = b"GET / HTTP/1.1\r\nHost: sandbox.test\r\nAccept: application/json\r\n\r\n"  # a page whatever is asked
    answer = layer.raw(request)
    assert answer.startswith(f"HTTP/1.1 {title}\r\n".encode())
    _, headers, body = parse(answer)
    assert headers["Content-Type"] == "text/html"
    assert body.decode() == (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1>"
                             "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


def test_500_is_json_when_json_is_asked_for_and_a_page_otherwise(layer):
    # Rails' ActionDispatch::PublicExceptions: `{ status:, error: }` for a JSON request, the HTML page otherwise.
    layer.write_rules(make_rule("f1", "status", status=500))
    code, headers, body = layer.request(headers=[("Accept", "application/json, text/plain, */*")])
    assert code == 500 and json.loads(body) == {"status": 500, "error": "Internal Server Error"}
    code, headers, body = layer.request(headers=[("Accept", "text/html")])
    assert code == 500 and headers["Content-Type"].startswith("text/html") and body.startswith(b"<!DOCTYPE html>")


def test_an_injected_status_reads_the_posts_body_first(layer):
    # Unread bytes at close would reset the connection before the client reads the answer.
    layer.write_rules(make_rule("f1", "status", status=422))
    code, _, body = layer.request("POST", "/api/v1/statuses", body=b"x" * 2_000_000)
    assert code == 422 and json.loads(body) == {"error": "Validation failed"}
    chunked = (b"POST /api/v1/statuses HTTP/1.1\r\nHost: sandbox.test\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in [b"a" * 100_000] * 20) + b"0\r\n\r\n")
    assert parse(layer.raw(chunked))[0] == 422


# --- what a rule matches ----------------------------------------------------------------------------------------------

def test_a_rule_for_an_account_takes_only_that_accounts_requests(layer):
    layer.write_rules(make_rule("f1", "status", status=403, account="alice"))
    assert layer.status(account="alice") == 403
    assert layer.status(account="bob") == 200
    assert layer.status(account="*") == 200  # sent while another rule names no account: nobody in particular
    assert layer.status() == 200
    assert [e["account"] for e in layer.log()] == ["alice"]


def test_a_rule_without_an_account_takes_everyones(layer):
    layer.write_rules(make_rule("f1", "status", status=403))
    assert [layer.status(account=a) for a in ("alice", "bob", "*", None)] == [403] * 4
    assert [e["account"] for e in layer.log()] == ["alice", "bob", None, None]


def test_method_and_path_glob(layer):
    layer.write_rules(make_rule("f1", "status", status=500, method="POST", path="/api/v1/statuses*"))
    assert layer.status("POST", "/api/v1/statuses", body=b"{}") == 500
    assert layer.status("POST", "/api/v1/statuses/1/favourite?x=1") == 500  # the glob crosses /, the query is not matched
    assert layer.status("GET", "/api/v1/statuses/1") == 200
    assert layer.status("POST", "/api/v1/media") == 200


@pytest.mark.parametrize("stream, path, taken", [
    ("user:notification", "/api/v1/streaming/user/notification", True),
    ("user:notification", "/api/v1/streaming/user", False),
    ("user:notification", "/api/v1/streaming?stream=user:notification", True),
    ("user", "/api/v1/streaming?stream=user&access_token=t", True),
    ("user", "/api/v1/streaming/?stream=user", True),
    ("user", "/api/v1/streaming/public", False),
    ("public:local", "/api/v1/streaming/public/local?only_media=false", True),
])
def test_stream(layer, stream, path, taken):
    layer.write_rules(make_rule("f1", "status", status=401, stream=stream))
    assert layer.status(path=path) == (401 if taken else 200)


def test_health_is_never_faulted(layer):
    layer.write_rules(make_rule("f1", "status", status=503))
    assert layer.status(path="/health") == 200
    assert layer.status(path="/healthz") == 503


# --- how long a rule lasts --------------------------------------------------------------------------------------------

def test_count_then_pass_and_a_restart_goes_on_counting(layer):
    layer.write_rules(make_rule("f1", "status", status=503, count=3))
    assert [layer.status() for _ in range(2)] == [503, 503]
    layer.rules = layer.fresh_rules()  # restarted: the log says f1 was applied twice
    assert [layer.status() for _ in range(3)] == [503, 200, 200]
    log = layer.log()
    assert [(e["rule"], e["action"], e["status"], e["method"], e["path"]) for e in log] == \
        [("f1", "status", 503, "GET", "/api/v1/timelines/home")] * 3
    assert all(abs(e["time"] - time.time()) < 30 for e in log)


def test_a_log_line_cut_by_a_crash_does_not_lose_the_count(layer):
    layer.write_rules(make_rule("f1", "status", status=503, count=3))
    assert layer.status() == 503
    with open(layer.log_path, "a") as f:
        f.write('{"time": 1, "rule": "f1", "act')  # killed mid-write
    layer.rules = layer.fresh_rules()
    assert [layer.status() for _ in range(3)] == [503, 503, 200]
    lines = layer.log_path.read_text().splitlines()
    assert len(lines) == 4 and [json.loads(line)["rule"] for line in lines[2:]] == ["f1", "f1"]
    layer.rules = layer.fresh_rules()  # and again: the lines after the damaged one still count
    assert layer.status() == 200


def test_probability_repeats_with_its_seed(layer):
    def run(seed):
        layer.write_rules(make_rule("f1", "status", status=503, probability=0.5, seed=seed))
        layer.rules = layer.fresh_rules()
        return [layer.status() == 503 for _ in range(50)]

    first = run(1)
    assert 10 < sum(first) < 40  # a share, not all or none
    assert run(1) == first
    assert run(2) != first


def test_until_in_the_past_is_over(layer):
    layer.write_rules(make_rule("f1", "status", status=503, duration=5, now=time.time() - 10),
                      make_rule("f2", "status", status=502, duration=60, now=time.time()))
    assert layer.status() == 502  # f1 is over; f2, the same rule still in force, applies


# --- the actions that pass the request on ------------------------------------------------------------------------------

def test_delay_then_mastodons_answer(layer):
    layer.write_rules(make_rule("f1", "delay", seconds=0.3))
    started = time.monotonic()
    assert layer.raw(b"GET / HTTP/1.1\r\nHost: sandbox.test\r\n\r\n") == UPSTREAM_ANSWER
    assert time.monotonic() - started >= 0.3
    assert layer.log()[0]["action"] == "delay"


def test_close_answers_399_with_nothing_else(layer):
    # The proxy turns 399 into closing the client's connection (error_page 399 -> return 444).
    layer.write_rules(make_rule("f1", "close"))
    code, headers, body = layer.request("POST", "/api/v1/statuses", body=b"x" * 100_000)
    assert (code, headers["Content-Length"], body) == (399, "0", b"")
    assert layer.seen.empty()


SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def event(n: int) -> bytes:
    return b'event: update\ndata: {"id":"%d","content":"<p>n\\n\\nn</p>"}\n\n' % n


# streaming/index.js: `:)` first, heartbeats, and an event as two writes (its `event:` line, then `data:` and the
# blank line), each write one chunk; and one chunk per event, as other servers write them.
SSE = [SSE_HEAD, chunk(b":)\n"), chunk(b"event: update\n"), chunk(b'data: {"id":"1"}\n\n'), chunk(b":thump\n"),
       chunk(b":thump\n\n"), chunk(event(2)), chunk(event(3)), chunk(b":thump\n\n"), chunk(event(4))]
SSE_EVENT_ENDS = [sum(map(len, SSE[:4])), sum(map(len, SSE[:7])), sum(map(len, SSE[:8])), sum(map(len, SSE))]

WS_HEAD = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


def frame(opcode: int, payload: bytes) -> bytes:
    """A server's frame: final, unmasked."""
    n = len(payload)
    size = bytes([n]) if n < 126 else bytes([126]) + n.to_bytes(2, "big") if n < 65536 else bytes([127]) + n.to_bytes(8, "big")
    return bytes([0x80 | opcode]) + size + payload


WS = [WS_HEAD, frame(1, b'{"event":"update","payload":"1"}'), frame(9, b"ping"),
      frame(1, b'{"event":"update","payload":"' + b"2" * 300 + b'"}'), frame(10, b""), frame(1, b"3" * 70_000),
      frame(1, b'{"event":"delete","payload":"4"}')]
WS_EVENT_ENDS = [sum(map(len, WS[:2])), sum(map(len, WS[:4])), sum(map(len, WS[:6])), sum(map(len, WS))]


def streams(parts: list[bytes], then_wait=True):
    """A fake streaming server: each part one write, then the connection held open until the peer goes."""
    async def answer(reader, writer):
        for part in parts:
            writer.write(part)
            await writer.drain()
        if then_wait:
            await reader.read()
    return answer


def test_a_cut_after_events_of_an_event_stream_sends_them_whole_then_closes(layer):
    layer.write_rules(make_rule("f1", "cut", after_events=2, stream="user"))
    layer.upstream = streams(SSE)
    got = layer.raw(b"GET /api/v1/streaming/user HTTP/1.1\r\nHost: sandbox.test\r\nAccept: text/event-stream\r\n\r\n")
    assert got == b"".join(SSE)[:SSE_EVENT_ENDS[1]]


def test_a_cut_after_events_of_a_websocket_counts_text_frames_only(layer):
    layer.write_rules(make_rule("f1", "cut", after_events=2, stream="user"))
    layer.upstream = streams(WS)
    got = layer.raw(b"GET /api/v1/streaming?stream=user HTTP/1.1\r\nHost: sandbox.test\r\nUpgrade: websocket\r\n"
                    b"Connection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n")
    assert got == b"".join(WS[:4])
    service, head, _ = layer.seen.get(timeout=TIMEOUT)
    # An upgrade keeps its Connection header: Mastodon's streaming server must see it to switch.
    assert service == "streaming" and head.endswith(b"Connection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                                    b"Sec-WebSocket-Version: 13")


def test_a_cut_after_seconds_closes_a_quiet_stream_on_time(layer):
    layer.write_rules(make_rule("f1", "cut", after_seconds=0.3, path="/api/v1/streaming*"))
    layer.upstream = streams(SSE[:4])
    started = time.monotonic()
    got = layer.raw(b"GET /api/v1/streaming/public HTTP/1.1\r\nHost: sandbox.test\r\n\r\n")
    assert 0.3 <= time.monotonic() - started < 1.5
    assert got == b"".join(SSE[:4])


def test_a_stream_that_ends_before_its_cut_is_passed_whole(layer):
    layer.write_rules(make_rule("f1", "cut", after_events=10, stream="user"))
    layer.upstream = streams(SSE, then_wait=False)
    got = layer.raw(b"GET /api/v1/streaming/user HTTP/1.1\r\nHost: sandbox.test\r\n\r\n")
    assert got == b"".join(SSE)


# --- EventCounter on its own: every split of the stream gives the same ends -----------------------------------------

def ends_when_fed(pieces: list[bytes]) -> list[int]:
    counter, at, ends = faultd.EventCounter(), 0, []
    for piece in pieces:
        found = counter.feed(piece)
        assert all(0 <= end <= len(piece) for end in found)  # each an offset into the piece it came with
        ends += [at + end for end in found]
        at += len(piece)
    assert counter.events == len(ends)
    return ends


@pytest.mark.parametrize("stream, expected", [(SSE, SSE_EVENT_ENDS), (WS, WS_EVENT_ENDS)], ids=["sse", "websocket"])
def test_event_counter_finds_the_same_ends_whatever_the_reads(stream, expected):
    whole = b"".join(stream)
    assert ends_when_fed([whole]) == expected
    assert ends_when_fed(stream) == expected
    # Split in two everywhere up to past the second event (mid-head, mid-size, mid-frame, mid-event, between an
    # event's blank line and its chunk's CRLF), and byte by byte.
    for at in range(1, expected[1] + 5):
        assert ends_when_fed([whole[:at], whole[at:]]) == expected, at
    prefix = whole[:expected[1] + 5]
    assert ends_when_fed([prefix[i:i + 1] for i in range(len(prefix))]) == expected[:2]


def test_the_websocket_stream_has_each_length_encoding():
    assert [part[1] for part in WS[1:]] == [32, 4, 126, 0, 127, 32]  # 7-bit, 16-bit and 64-bit lengths


def test_event_counter_counts_nothing_in_a_plain_answer():
    assert ends_when_fed([b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", b"\n\n\n\n"]) == []


# --- the rules file --------------------------------------------------------------------------------------------------

def test_a_rewritten_rules_file_is_read_by_the_next_request(layer):
    assert layer.status() == 200
    layer.write_rules(make_rule("f1", "status", status=502))
    assert layer.status() == 502
    # Rewritten at once, the same size: only its content says it changed.
    layer.write_rules(make_rule("f1", "status", status=504))
    assert layer.status() == 504
    layer.rules_path.unlink()
    assert layer.status() == 200


def test_a_rules_file_caught_half_written_keeps_the_rules_before(layer):
    layer.write_rules(make_rule("f1", "status", status=502))
    assert layer.status() == 502
    layer.rules_path.write_text('{"rules": [')
    assert layer.status() == 502
    layer.write_rules(make_rule("f1", "status", status=503))
    assert layer.status() == 503


def test_a_malformed_request_is_dropped_quietly_and_the_layer_goes_on(layer, caplog):
    layer.write_rules(make_rule("f1", "status", status=400))
    assert layer.raw(b"NONSENSE\r\n\r\n") == b""
    assert layer.raw(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == b""
    assert layer.status() == 400
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []  # no traceback in its log
