"""Progress for long steps (pulls, builds, boots, provisioning), on stderr so stdout stays parseable."""

from __future__ import annotations

import time
from contextlib import contextmanager
from functools import cached_property


class Progress:
    """Prints each step with the time since the start; `waiting` shows a live status line on a TTY."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.start = time.monotonic()

    @cached_property
    def console(self):
        # rich costs a tenth of a second to import: quiet commands (a reset) never pay it
        from rich.console import Console

        return Console(stderr=True, highlight=False)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def step(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"[dim]{self.elapsed():6.1f}s[/dim] {message}", soft_wrap=True)

    @contextmanager
    def waiting(self, message: str):
        """A spinner with a message that `update` can change (plain lines when not a TTY)."""
        if self.quiet or not self.console.is_terminal:
            self.step(message)
            yield lambda text: self.step(text)
            return
        with self.console.status(message) as status:
            yield lambda text: status.update(f"{message}: {text}")
