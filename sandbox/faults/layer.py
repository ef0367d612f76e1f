"""A sandbox's fault rules: kept in its state folder's faults/, routed by its proxy, applied by faultd.

Files (State.faults_dir, every one 0600, written whole and under the `faults` lock):
  rules.json                {"generation": N, "next": N, "rules": [Rule, ...]}, read by faultd on each request
  by-header.map             `"Bearer TOKEN" "alice";`: a named account's tokens, for nginx's maps
  by-query.map              `"TOKEN" "alice";`  (access_token=, the streaming API's query form)
  by-protocol.map           `"TOKEN" "alice";`  (Sec-WebSocket-Protocol, the streaming API's WebSocket form)
  any.map                   present while a rule names no account: every request goes through the fault layer
  generation.map            the generation, which the proxy answers once it runs these files
A change is written, then the proxy reloads (compose/proxy/sandbox.conf says how the maps route) and `add` returns
only once the proxy answers the new generation: the next request sees the rule.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from .. import server_commands
from ..errors import SandboxError, command_failed
from ..handle import Sandbox
from ..provision.credentials import Credentials
from ..state import write_private
from .rules import Rule, make_rule

TOKEN = re.compile(r"[A-Za-z0-9_\-]+")  # Doorkeeper's tokens; anything else is never written into nginx's files


class FaultLayer:
    """The fault rules of one sandbox: `add`, `rules`, `clear`, `log`."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.dir: Path = sandbox.state.faults_dir
        self.rules_file = self.dir / "rules.json"

    def _read(self) -> dict:
        try:
            data = json.loads(self.rules_file.read_text())
        except FileNotFoundError:
            return {"generation": 0, "next": 1, "rules": []}
        except ValueError as e:
            raise SandboxError(f"{self.rules_file} is damaged ({e}): `mastodon-sandbox faults clear` starts afresh") from None
        return data

    def rules(self) -> list[Rule]:
        return [Rule.from_json(r) for r in self._read()["rules"]]

    def add(self, *, status: int | None = None, delay: float | None = None, close: bool = False,
            cut_after_events: int | None = None, cut_after: float | None = None, **options) -> Rule:
        """A rule that does one of: answer `status`, `delay` seconds then pass on, `close` the connection, cut a
        streaming answer after `cut_after_events` events and/or `cut_after` seconds; matching and limits as
        make_rule takes them (account, method, path, stream, count, probability, seed, duration, ...). In force
        when this returns. An unknown account or a bad option is a one-line SandboxError, and nothing is written."""
        chosen = [name for name, given in (("status", status is not None), ("delay", delay is not None),
                                           ("close", close),
                                           ("cut", cut_after_events is not None or cut_after is not None)) if given]
        if len(chosen) != 1:
            raise SandboxError("a fault rule does one thing: a status, a delay, close, or a cut (after events "
                               f"and/or seconds); given {', '.join(chosen) or 'none'}")
        with self.sandbox.state.lock("faults"):
            data = self._read()
            rule = make_rule(f"f{data['next']}", chosen[0], status=status, seconds=delay, after_events=cut_after_events,
                             after_seconds=cut_after, now=time.time(), **options)
            tokens = self._tokens(rule.account) if rule.account else []
            data["rules"].append(rule.to_json())
            data["next"] += 1
            self._apply(data, extra_tokens={rule.account: tokens} if rule.account else {})
        return rule

    def clear(self, ids: list[str] | None = None, missing_ok: bool = False) -> list[str]:
        """Remove the rules named (all when None); returns the ids removed. An unknown id is an error unless
        `missing_ok` (a test's own rules at its end: a `faults clear` may have removed them already)."""
        with self.sandbox.state.lock("faults"):
            try:
                data = self._read()
            except SandboxError:
                # Numbered on from a number no earlier rule had: faultd counts each rule's faults by its id.
                data = {"generation": 0, "next": int(time.time()), "rules": []}
                ids = None
            present = [r["id"] for r in data["rules"]]
            unknown = sorted(set(ids or ()) - set(present))
            if unknown and not missing_ok:
                raise SandboxError(f"no fault rule {', '.join(unknown)} in sandbox {self.sandbox.name!r}: "
                                   "`mastodon-sandbox faults list` shows them")
            gone = present if ids is None else [i for i in present if i in ids]
            data["rules"] = [r for r in data["rules"] if r["id"] not in gone]
            if gone or ids is None:
                self._apply(data)
        return gone

    def log(self) -> list[dict]:
        """Every fault made since the fault layer started, oldest first."""
        service, argv = server_commands.faults_log()
        proc = self.sandbox.stack.exec(service, argv)
        if proc.returncode != 0:
            raise command_failed("reading the fault log failed", proc.returncode, proc.stdout, proc.stderr)
        entries = []
        for line in proc.stdout.splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                pass  # a line cut short by a killed fault layer (faultd finishes it with a newline on restart)
        return entries

    def _tokens(self, username: str) -> list[str]:
        creds = Credentials.load(self.sandbox.state)
        if creds.account(username) is None:
            raise SandboxError(f"sandbox {self.sandbox.name!r} has no account {username!r}: "
                               "`mastodon-sandbox info` lists them")
        tokens = [t.access_token for t in creds.tokens_of(username)]
        if not tokens:
            raise SandboxError(f"account {username!r} of {self.sandbox.name!r} has no token yet: "
                               f"`mastodon-sandbox token {username}` issues one")
        return tokens

    def _apply(self, data: dict, extra_tokens: dict[str, list[str]] | None = None) -> None:
        """Write the rules and the proxy's maps, then reload the proxy and wait until it runs them."""
        accounts = sorted({r["account"] for r in data["rules"] if r.get("account")})
        owned = dict(extra_tokens or {})
        for name in accounts:
            if name not in owned:
                try:
                    owned[name] = self._tokens(name)
                except SandboxError:
                    owned[name] = []  # an account gone with a restore: its rules stay, matching nothing
        proxy = self.sandbox.stack.containers().get("proxy")
        if proxy is None:  # before anything is written: a rule never waits, unsaid, for the next `up`
            raise SandboxError(f"the proxy of {self.sandbox.name!r} is not running: `mastodon-sandbox up --name "
                               f"{self.sandbox.name}` first")
        data["generation"] += 1
        self.dir.mkdir(mode=0o700, exist_ok=True)
        files = _render_maps(owned, any_account=any(not r.get("account") for r in data["rules"]),
                             generation=data["generation"])
        files["rules.json"] = json.dumps(data, indent=1) + "\n"
        before = {name: (self.dir / name).read_text() if (self.dir / name).exists() else "" for name in files}
        _write_files(self.dir, files)
        service, argv = server_commands.faults_reload(self.sandbox.config.host, data["generation"])
        try:
            proc = self.sandbox.stack.exec(service, argv)
        except BaseException:
            _write_files(self.dir, before)  # nginx runs the rules before (or no reload happened): say so again
            raise
        if proc.returncode != 0:
            _write_files(self.dir, before)
            if proc.returncode == 1:
                raise command_failed("the proxy refused the fault rules' files", proc.returncode, proc.stdout, proc.stderr)
            raise SandboxError(f"the proxy of {self.sandbox.name!r} did not take the new fault rules "
                               f"(exit {proc.returncode}): see `mastodon-sandbox logs proxy`")


def _write_files(folder: Path, files: dict[str, str]) -> None:
    """Each file written whole (0600), or removed when it has nothing to say (nginx includes *.map by glob)."""
    for name, text in files.items():
        if text:
            write_private(folder / name, text)
        else:
            (folder / name).unlink(missing_ok=True)


def _render_maps(owned: dict[str, list[str]], any_account: bool, generation: int) -> dict[str, str]:
    """nginx map entries (compose/proxy/sandbox.conf): each account's tokens in the three places a client sends
    one, a catch-all while a rule names no account, and the generation."""
    header, query = [], []
    for name, tokens in sorted(owned.items()):
        for token in tokens:
            if not TOKEN.fullmatch(token):
                raise SandboxError(f"a token of {name!r} has characters no Mastodon token has: not routed")
            header.append(f'"Bearer {token}" "{name}";\n')
            query.append(f'"{token}" "{name}";\n')
    return {"by-header.map": "".join(header), "by-query.map": "".join(query), "by-protocol.map": "".join(query),
            "any.map": '"~." "*";\n' if any_account else "", "generation.map": f'"~." "{generation}";\n'}
