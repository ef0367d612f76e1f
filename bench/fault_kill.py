"""Faults on purpose: the CLI killed (SIGKILL) at a random moment of `snapshot restore`, `snapshot save`, `up`
(from stopped) and `seed` (real Mastodon only), chosen by a seeded generator, N times on a throwaway sandbox
(`bench-faults`, port 39449); after each, the command a user would run next (`up`, or `seed` again) and a
check that the sandbox is whole: every service ready, no process frozen, no save or restore left unfinished,
no database set aside and left (tests/interruptions.py), and after a restore the database and the credentials file
at one state. Prints each run and how many ended whole (the goal: all).
Usage: python bench/fault_kill.py [RUNS] [SEED]   (default 12 runs, seed 1)
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/interruptions.py: the same check the tests use

from common import cli, describe, server_settings  # noqa: E402
from mastodon_sandbox.handle import Sandbox  # noqa: E402
from mastodon_sandbox.lifecycle import destroy  # noqa: E402
from mastodon_sandbox.progress import Progress  # noqa: E402
from mastodon_sandbox.state import State  # noqa: E402
from tests.interruptions import interrupt, problems  # noqa: E402

NAME, PORT = "bench-faults", 39449
SERVER_ARGS = server_settings()
# Each operation, the longest it usually takes here (the kill falls within it), and what a user runs next.
OPERATIONS = {
    "restore": (["snapshot", "restore", "base"], 3.0, ["up"]),
    "save": (["snapshot", "save", "extra", "--replace"], 4.0, ["up"]),
    "up": (["up"], 30.0, ["up"]),
    "seed": (["seed", "--scenario", "small"], 40.0, ["seed", "--scenario", "small"]),
}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mastodon_sandbox.cli", *args, "--name", NAME], capture_output=True, text=True)


def one_run(sb: Sandbox, op: str, rng: random.Random) -> tuple[float, list[str]]:
    argv, longest, then = OPERATIONS[op]
    if op == "up":
        run_cli("down")
    if op == "seed":
        run_cli("snapshot", "restore", "base")  # unseeded again: seed.json goes with the restore
    token = run_cli("token", "alice", "--flow", "client", "--new").stdout.strip()  # a change the restore undoes
    after = round(rng.uniform(0.3, longest), 2)
    interrupt([*argv, "--name", NAME], after, sig=signal.SIGKILL)
    done = run_cli(*then)
    found = [] if done.returncode == 0 else [f"`{' '.join(then)}` failed: {done.stderr.strip().splitlines()[-1:]}"]
    found += problems(sb)
    if op == "restore":
        works = sb.get("/api/v1/apps/verify_credentials", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        kept = (sb.state.dir / "snapshots" / "base" / "credentials.json").read_bytes() == sb.state.credentials_file.read_bytes()
        if works == kept:
            found.append("the database and the credentials file are at different states")
    return after, found


def main(runs: int = 12, seed: int = 1) -> int:
    print(describe(SERVER_ARGS))
    rng = random.Random(seed)
    ops = [op for op in OPERATIONS if op != "seed" or "standin" not in SERVER_ARGS]
    whole = 0
    try:
        cli("up", "--name", NAME, "--port", str(PORT), *SERVER_ARGS, "--pool-size", "0", "--quiet")
        cli("snapshot", "save", "base", "--name", NAME)
        sb = Sandbox.open(NAME)
        for i in range(1, runs + 1):
            op = rng.choice(ops)
            after, found = one_run(sb, op, rng)
            whole += not found
            print(f"run {i:>2}: {op:<8} killed after {after:5.2f} s: {'whole' if not found else '; '.join(found)}", flush=True)
    finally:
        if State(NAME).dir.exists():
            destroy(NAME, Progress(quiet=True))
    print(f"{whole} of {runs} runs ended whole (seed {seed})")
    return 0 if whole == runs else 1


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:3])))
