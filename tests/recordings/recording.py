"""The plumbing the record.py scripts of the folders beside this file share: a user's token from the CLI, a
sandbox's Sidekiq settled, one exchange as a JSONL line (the bearer token replaced by `<token>`), a request
that waits out the rate limit, a sandbox's recording session read from its state, the lines written as
`<sandbox>.jsonl`, and the run over the sandboxes.

Each record.py runs as a script from the project root (`.venv/bin/python tests/recordings/<folder>/record.py`),
so Python puts only the script's own folder on sys.path: it puts the project root there first and imports this
module as `tests.recordings.recording` (tests/recordings/ has no __init__.py: a namespace package). No test
module imports it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

import requests

from mastodon_sandbox.federation import names
from mastodon_sandbox.state import State

ROOT = Path(__file__).resolve().parents[2]


def cli_token(user: str, sandbox: str) -> str:
    """The user's access token, as `mastodon-sandbox token <user> --name <sandbox>` prints it."""
    return subprocess.run([str(ROOT / ".venv/bin/mastodon-sandbox"), "token", user, "--name", sandbox],
                          check=True, capture_output=True, text=True).stdout.strip()


def settle(sandbox: str) -> None:
    """Wait until the sandbox's Sidekiq has nothing left to do (exact, not a guess)."""
    subprocess.run([sys.executable, "-m", "mastodon_sandbox.cli", "settle", "--name", sandbox], check=True, cwd=ROOT)


def masked(who: str | None) -> dict[str, str]:
    """The request's headers as recorded: the bearer token, when one was sent, replaced by `<token>`."""
    return {"Authorization": "Bearer <token>"} if who else {}


def line(label: str, method: str, response: requests.Response, who: str | None, keep_headers: tuple[str, ...],
         **request: object) -> dict:
    """One exchange as a line: label, request {method, url, headers masked, and what `request` adds}, response
    {status, the headers named in `keep_headers` (lower case), json, and text where the body is no JSON}."""
    try:
        body = response.json()
    except ValueError:
        body = None
    return {
        "label": label,
        "request": {"method": method, "url": response.request.url, "headers": masked(who), **request},
        "response": {"status": response.status_code,
                     "headers": {k: v for k, v in response.headers.items() if k.lower() in keep_headers},
                     "json": body, "text": None if body is not None else response.text[:2000]},
    }


def paced(session: requests.Session, method: str, base: str, path: str, expect: tuple[int, ...],
          **kw) -> requests.Response:
    """One request (up to three tries): a 429 the caller does not expect is waited out until X-RateLimit-Reset
    (300 requests per token per 5 minutes, config/initializers/rack_attack.rb); an answer outside `expect`
    is an AssertionError."""
    for _ in range(3):
        r = session.request(method, base + path, **kw)
        if r.status_code != 429 or 429 in expect:
            break
        reset = datetime.fromisoformat(r.headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
        time.sleep(max(0.0, (reset - datetime.now(timezone.utc)).total_seconds()) + 1)
    if r.status_code not in expect:
        raise AssertionError(f"{method} {path} answered {r.status_code}: {r.text[:300]}")
    return r


class StateRecorder:
    """A recording session with a sandbox, read from its state (.sandbox/<name>/): its base URL and CA, a
    session of its own, and the lines recorded so far. A subclass adds the tokens and `send`."""

    def __init__(self, sandbox: str):
        self.state = State(sandbox)
        self.base = self.state.load_config().base_url
        self.ca = str(self.state.ca_file)
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
        self.lines: list[dict] = []

    def send(self, *args, **kw) -> requests.Response:
        raise NotImplementedError

    def json(self, *args, **kw):
        return self.send(*args, **kw).json()


def write(folder: Path, sandbox: str, lines: list[dict]) -> None:
    """The lines as `<sandbox>.jsonl` in the folder, one JSON object a line."""
    (folder / f"{sandbox}.jsonl").write_text("".join(json.dumps(one) + "\n" for one in lines), encoding="utf-8")


def main(record: Callable[[str], None], sandboxes: Iterable[str]) -> None:
    """Record each sandbox in turn, the sandboxes' host names resolving (names.install())."""
    names.install()
    for name in sandboxes:
        record(name)
