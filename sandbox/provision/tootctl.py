"""Running tootctl in the web container and reading what it prints.

tootctl (lib/mastodon/cli/*.rb, Thor) prints `OK` and, for new or reset passwords, `New password: <hex>`
on stdout; errors go to stderr with exit status 1. A Sidekiq "connecting to Redis" log line can precede
`OK` when the command enqueues work, so parsers look for the lines rather than take the first one.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from typing import Protocol

from ..errors import SandboxError, command_failed

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
PASSWORD_LINE = re.compile(r"^New password: ([0-9a-f]{32})$")


class Executor(Protocol):
    def exec(self, service: str, argv: list[str], input: str | None = None) -> subprocess.CompletedProcess[str]: ...


@dataclass(frozen=True)
class TootctlResult:
    ok: bool
    password: str | None
    error: str | None  # one line, when not ok


def _lines(text: str) -> list[str]:
    return [ANSI.sub("", line).rstrip() for line in (text or "").splitlines()]


def parse_new_password(stdout: str) -> str | None:
    """The password from a `New password: <32 hex>` line, wherever it is."""
    for line in _lines(stdout):
        m = PASSWORD_LINE.match(line.strip())
        if m:
            return m.group(1)
    return None


def saw_ok(stdout: str) -> bool:
    return any(line.strip() == "OK" for line in _lines(stdout))


def parse_error(stderr: str, stdout: str = "") -> str:
    """tootctl's error output as one line.

    `report_errors` (lib/mastodon/cli/base.rb) prints `Failure/Error: <attribute>` then the indented
    error, once per error: `account.username` / `taken` becomes "account.username taken"; repeated pairs
    are folded ("email invalid, blocked")."""
    lines = [line for line in _lines(stderr) if line.strip()]
    pairs: dict[str, list[str]] = {}
    other: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("Failure/Error:"):
            attr = line.removeprefix("Failure/Error:").strip()
            detail = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].startswith(" ") else ""
            errs = pairs.setdefault(attr, [])
            if detail and detail not in errs:
                errs.append(detail)
            i += 2 if detail else 1
            continue
        other.append(line)
        i += 1
    parts = [f"{attr} {', '.join(errs)}".strip() for attr, errs in pairs.items()]
    parts += other
    if not parts:
        parts = [line.strip() for line in _lines(stdout) if line.strip()][-1:] or ["no output"]
    return "; ".join(parts)


def interpret(proc: subprocess.CompletedProcess[str]) -> TootctlResult:
    if proc.returncode == 0 and saw_ok(proc.stdout):
        return TootctlResult(True, parse_new_password(proc.stdout), None)
    return TootctlResult(False, None, parse_error(proc.stderr, proc.stdout))


def run(stack: Executor, command: tuple[str, list[str]]) -> TootctlResult:
    service, argv = command
    try:
        proc = stack.exec(service, argv)
    except FileNotFoundError as e:  # docker itself missing
        raise SandboxError(f"cannot run {' '.join(argv[:3])}: {e}; is Docker installed?") from None
    return interpret(proc)


def run_batch(stack: Executor, commands: list[tuple[str, list[str]]]) -> list[TootctlResult]:
    """Several tootctl commands in one Rails boot (the shipped tootctl_batch script): each is tootctl's own
    code and reads as a separate call would (server_commands: runner tootctl_batch)."""
    from .. import server_commands

    argvs = []
    for _, argv in commands:
        if argv[:1] != ["tootctl"]:
            raise SandboxError(f"not a tootctl command: {' '.join(argv[:2])}")
        argvs.append(argv[1:])
    service, argv = server_commands.tootctl_batch()
    proc = stack.exec(service, argv, input=json.dumps(argvs))
    answers = server_commands.runner_result("tootctl_batch", proc.stdout) if proc.returncode == 0 else None
    if answers is None:
        raise command_failed("the tootctl_batch script failed", proc.returncode, proc.stdout, proc.stderr, ruby=True)
    if len(answers) != len(argvs):
        raise SandboxError(f"the tootctl_batch script answered {len(answers)} of {len(argvs)} commands")
    return [interpret(subprocess.CompletedProcess(argv, a["status"], a["stdout"], a["stderr"])) for argv, a in zip(argvs, answers)]
