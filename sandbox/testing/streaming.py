"""Waiting for streaming events in a test: open the stream before acting, then wait for the event the
action should cause, with a timeout that names what did not arrive."""

from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import urlencode

from ..contract.endpoints import decode_payload
from ..waiting import Deadline


class Stream:
    """One WebSocket to a server's streaming API (GET /api/v1/streaming, streaming/index.js), subscribed to
    `stream` (user, public, public:local, hashtag, list, direct, …) at connection time. `endpoint` is a
    targets.Endpoint (base URLs and what verifies the certificate)."""

    def __init__(self, endpoint, token: str | None, stream: str = "user", tag: str | None = None,
                 list_id: str | None = None, connect_timeout: float = 15):
        import websocket

        query = {"stream": stream, **({"tag": tag} if tag else {}), **({"list": list_id} if list_id else {})}
        url = endpoint.streaming_base.rstrip("/") + "/api/v1/streaming?" + urlencode(query)
        header = [f"Authorization: Bearer {token}"] if token else []
        self.name = stream + (f" #{tag}" if tag else "")
        self.seen: list[str] = []
        sslopt = {"ca_certs": endpoint.verify} if isinstance(endpoint.verify, str) else {}
        self._ws = websocket.create_connection(url, header=header, timeout=connect_timeout, sslopt=sslopt)

    def wait(self, event: str = "update", match: Callable[[Any], bool] | None = None, timeout: float = 30) -> Any:
        """The payload of the next `event` (update, notification, delete, status.update, conversation,
        filters_changed, announcement, …) for which `match(payload)` holds, decoded from JSON: a plain dict for
        an entity (a Status, a Notification, …; not a Mastodon.py object), the id string for `delete`. Fails
        after `timeout` seconds naming what arrived instead."""
        import websocket

        deadline = Deadline(timeout)
        while True:
            if deadline.passed():
                raise AssertionError(f"no {event!r} event on the {self.name} stream within {timeout:g} s"
                                     f" (arrived: {', '.join(self.seen) or 'nothing'})")
            self._ws.settimeout(deadline.left())
            try:
                raw = self._ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            message = json.loads(raw)
            name = message.get("event", "?")
            self.seen.append(name)
            payload = decode_payload(name, message.get("payload"))
            if name == event and (match is None or match(payload)):
                return payload

    def close(self) -> None:
        self._ws.close()
