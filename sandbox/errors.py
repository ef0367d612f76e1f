"""The one error type the CLI turns into a one-line message and a non-zero exit."""


class SandboxError(Exception):
    """A problem the user can act on; str(error) is the whole, one-line message."""

    exit_code = 1


class RateLimited(SandboxError):
    """The server answered 429; `reset` is its X-RateLimit-Reset, when given."""

    def __init__(self, what: str, reset: str | None = None):
        when = f" (resets at {reset})" if reset else ""
        super().__init__(f"{what}: the server's rate limit was hit{when}; wait, or reuse what the sandbox already saved")
        self.reset = reset
