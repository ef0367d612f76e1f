"""Waiting, in one place, as testcontainers keeps its wait strategies: a probe is called until it says the
wait is over, within a deadline, and a wait that runs out says what it waited for and what it saw last.

Every bound comes from sandbox/timeouts.py (or the caller's own argument); nothing waits without one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import SandboxError

T = TypeVar("T")


@dataclass(frozen=True)
class Look(Generic[T]):
    """What one look saw: whether the wait is over, the value to return then, and a few words for the
    message should the wait run out."""

    done: bool
    value: T
    seen: str = ""


class Deadline:
    """A point `timeout` seconds from now."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.at = time.monotonic() + timeout

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        return time.monotonic() >= self.at


def wait_for(probe: Callable[[], Look[T]], *, timeout: float, interval: float, what: str, hint: str = "",
             give_up: bool = False) -> T | None:
    """`probe()` every `interval` seconds until a look is done, then its value. When `timeout` runs out: a
    one-line SandboxError — "`what` within N s (last: what the last look saw): `hint`" — or, with `give_up`,
    None (the caller goes on regardless). A probe may raise to end the wait early (a service that failed)."""
    deadline = Deadline(timeout)
    while True:
        look = probe()
        if look.done:
            return look.value
        if deadline.passed():
            if give_up:
                return None
            seen = f" (last: {look.seen})" if look.seen else ""
            raise SandboxError(f"{what} within {timeout:.0f} s{seen}" + (f": {hint}" if hint else ""))
        time.sleep(max(0.01, min(interval, deadline.left())))  # a last look at the deadline itself
