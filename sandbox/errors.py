"""The one error type the CLI turns into a one-line message and a non-zero exit, and the one way a failed
command becomes one."""

import re


class SandboxError(Exception):
    """A problem the user can act on; str(error) is the whole, one-line message."""

    exit_code = 1


class RateLimited(SandboxError):
    """The server answered 429; `reset` is its X-RateLimit-Reset, when given."""

    def __init__(self, what: str, reset: str | None = None):
        when = f" (resets at {reset})" if reset else ""
        super().__init__(f"{what}: the server's rate limit was hit{when}; wait, or reuse what the sandbox already saved")
        self.reset = reset


def last_words(text: str | None) -> str | None:
    """A command's last non-blank line, where most tools say what went wrong (cut to 200 characters)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:200] if lines else None


def ruby_error(text: str | None) -> str | None:
    """What a Ruby program (a Rails runner, tootctl) says failed, e.g. `alice: password too_short (RuntimeError)`:
    Ruby prints it first, after the raising location (`FILE:LINE:in `METHOD': `; the backtrace follows,
    indented with `from`); a Python traceback (a stand-in bug) ends with it."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    if lines[0].startswith("Traceback"):
        return lines[-1][:200]
    return re.sub(r"^.*?:\d+:in [`'][^']*': ", "", lines[0], count=1)[:200]


def command_failed(what: str, code: int, stdout: str | None = "", stderr: str | None = "", *, ruby: bool = False,
                   hint: str = "") -> SandboxError:
    """The one-line error for a command that failed: `what`, then what it said — its last line on stderr (else
    stdout), or Ruby's error for a Ruby program — else its exit code; `hint` says where to look next."""
    text = stderr if (stderr or "").strip() else stdout
    said = (ruby_error if ruby else last_words)(text) or f"exit code {code}"
    return SandboxError(f"{what}: {said}" + (f" — {hint}" if hint else ""))
