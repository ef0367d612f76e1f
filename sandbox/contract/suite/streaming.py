"""The streaming API over WebSocket (docs methods/streaming.md; streaming/index.js): one connection,
several subscriptions, every frame's shape and its payload's entity checked and counted.

A frame is `{"stream": ["hashtag", "tag"], "event": "update", "payload": "<the entity's JSON as a string>"}`;
`delete` carries a bare status id; subscription problems come back as `{"error": ..., "status": 4xx}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import websocket

from ...waiting import Deadline
from ..endpoints import ID_PAYLOAD_EVENTS, decode_payload, entity_for_event
from ..validate import assert_valid
from .support import Actor, ContractRun


@dataclass(frozen=True)
class Frame:
    stream: tuple[str, ...]
    event: str
    payload: Any  # the parsed entity, the id string, or None


class Streams:
    def __init__(self, run: ContractRun, actor: Actor, timeout: float = 10.0):
        self.run = run
        base = run.server.streaming_url
        if not base or not base.startswith(("ws://", "wss://")):
            run.lacks("streaming", f"the instance names no WebSocket streaming URL ({base!r})")
        verify = run.server.verify  # a CA file, or True: the system's (websocket-client's default)
        sslopt = {"ca_certs": verify} if isinstance(verify, str) else {}
        # The token goes in a header, never in the URL (proxies and logs keep URLs).
        try:
            self.ws = websocket.create_connection(base.rstrip("/") + "/api/v1/streaming", timeout=timeout, sslopt=sslopt,
                                                  header=[f"Authorization: Bearer {actor.api.token}"])
        except (websocket.WebSocketException, OSError) as e:
            if run.remote:
                run.lacks("streaming", f"{base} refused the WebSocket ({type(e).__name__}: {str(e)[:120]})")
            raise
        self.frames: list[Frame] = []
        self.errors: list[str] = []

    def subscribe(self, stream: str, **params: str) -> None:
        self.ws.send(json.dumps({"type": "subscribe", "stream": stream, **params}))

    def collect(self, done: Callable[[list[Frame]], bool], timeout: float) -> list[Frame]:
        """Read frames until `done(frames)` or the timeout; every frame is checked as it comes."""
        deadline = Deadline(timeout)
        while not done(self.frames) and not deadline.passed():
            self.ws.settimeout(max(0.1, deadline.left()))
            try:
                raw = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                break
            if raw:
                self._take(raw)
        return self.frames

    def _take(self, raw: str | bytes) -> None:
        frame = json.loads(raw)
        assert isinstance(frame, dict), f"a streaming frame is a JSON object, not {frame!r:.80}"
        if "error" in frame:
            self.errors.append(f"{frame.get('status')}: {frame['error']}")
            return
        stream, event, payload = frame.get("stream"), frame.get("event"), frame.get("payload")
        assert isinstance(stream, list) and all(isinstance(s, str) for s in stream), f"frame stream: {stream!r}"
        assert isinstance(event, str), f"frame event: {event!r}"
        entity = entity_for_event(event)
        if entity:
            assert isinstance(payload, str), f"{event}: the payload of a WebSocket frame is a JSON string, not {type(payload).__name__}"
            payload = decode_payload(event, payload)
            try:
                assert_valid(entity, payload, self.run.server.version)
            except AssertionError as e:
                self.run.report.broken("STREAM", f"/api/v1/streaming#{event}", f"not a valid {entity}: {str(e)[:200]}")
                raise
        elif event in ID_PAYLOAD_EVENTS:
            assert isinstance(payload, str) and payload.isdigit(), f"{event}: the payload is an id string, not {payload!r:.80}"
        self.run.report.event(event, entity)
        self.frames.append(Frame(tuple(stream), event, payload))

    def close(self) -> None:
        self.ws.close()


def of(frames: list[Frame], stream: str, event: str, status_id: str | None = None) -> list[Frame]:
    """The frames of one stream and event (about one status, when given: its id, or a notification's)."""
    def about(frame: Frame) -> bool:
        if status_id is None:
            return True
        payload = frame.payload if isinstance(frame.payload, dict) else {}
        return str(payload.get("id")) == status_id or str((payload.get("status") or {}).get("id")) == status_id
    return [f for f in frames if f.stream[:1] == (stream,) and f.event == event and about(f)]
