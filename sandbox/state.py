"""The state folder (`.sandbox`, or $SANDBOX_STATE_DIR, or the CLI's --state-dir) holds one folder per sandbox:
its config, secrets, TLS material and credentials, private to the user who made it.

Layout of a sandbox's folder, `<state folder>/<name>/` (folder 0700, every file 0600):
  config.json        what the sandbox was created with (sandbox.config.SandboxConfig)
  mastodon.env       Mastodon's environment: secrets included, values unquoted
  compose.env        variables for compose files (images, port, paths): no secrets
  tls/               ca.pem, ca.key, cert.pem, key.pem, bundle.pem (0644: certificates only, read by Mastodon in a
                     federating container); a group's member has a copy of its group's ca.pem and no ca.key
  credentials.json   accounts, apps and tokens (sandbox.provision.credentials)
  secrets/           Mastodon.py .secret files
  secrets.env        Mastodon's secrets, generated once, never rotated
  s3.env, db.env, redis.env   the back-ends' credentials, from secrets.env
  seed.json          what the last seed made
  leases.json        the test-account pool's ledger
  prepared.json      what db:prepare last ran for; applied.json: settings applied once
  snapshots/NAME/    a snapshot's manifest and the files it keeps (credentials, seed, leases)
  operation.json     a snapshot save or restore under way, or cut short (sandbox/data/journal.py)
  seeding.json       a seed under way, or cut short (sandbox/data/seed.py)
  compose.json       the compose files that made it (sandbox/composefiles.py)
  faults/            fault rules (rules.json) and the proxy's routing for them (*.map): sandbox/faults/layer.py;
                     kept by no snapshot
  *.lock             the host locks of its users (State.lock, State.rwlock)
Only `destroy` removes it; nothing else deletes or rewrites a secret once written.

A federation group's folder, `<state folder>/_groups/<group>/` (no sandbox name starts with `_`):
  tls/               ca.pem, ca.key: the CA every member's certificate comes from (its key stays here)
  exposed/NAME/      an app exposed to the group (sandbox/federation/exposure.py)
  seed.json          what the last group seed made across the members (sandbox/federation/seed.py)
  seeding.json       a group seed under way, or cut short (sandbox/federation/seed.py)
It goes when the group's last member is destroyed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from .config import SandboxConfig, check_group_name, check_name, state_root
from .errors import SandboxError

HELD_LOCKS = "SANDBOX_HELD_LOCKS"  # exclusive locks this process's parent holds for it (State.rwlock)
_held_here: dict[str, int] = {}  # exclusive locks this process holds, by the thread holding each


def write_private(path: Path, data: str | bytes) -> None:
    """Write a file atomically with mode 0600 (its folder is created 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def no_sandbox(name: str, root: Path, folder_hint: str = "--state-dir or $SANDBOX_STATE_DIR",
               name_hint: str = "--name") -> str:
    """One line for a sandbox that is not there, naming the state folder looked in: when that folder does not
    exist the folder is the likely mistake, otherwise the name is (or the sandbox was never made)."""
    if not root.is_dir():
        return (f"no sandbox {name!r}: the state folder {root} does not exist "
                f"({folder_hint} names the folder holding your sandboxes' folders)")
    there = sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())
    held = f"it holds {', '.join(there)}: {name_hint} picks one" if there else "it holds none"
    return f"no sandbox {name!r} in the state folder {root} ({held}); `mastodon-sandbox up --name {name}` makes it"


class HoldsCA:
    """A folder of the state folder with a CA in tls/ — a sandbox's (its own, or a copy of its group's) or a
    group's — and the JSON files it keeps, 0600, read and written here alone."""

    dir: Path
    DAMAGED_HINT = "restore it or remove the sandbox with `mastodon-sandbox destroy`"

    def read_json(self, path: Path, default=None):
        if not path.exists():
            return default
        try:
            return json.loads(path.read_text())
        except ValueError as e:
            raise SandboxError(f"{path} is damaged ({e}); {self.DAMAGED_HINT}") from None

    def write_json(self, path: Path, data) -> None:
        write_private(path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    @property
    def tls_dir(self) -> Path:
        return self.dir / "tls"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"


class State(HoldsCA):
    """The folder of one named sandbox in the state folder. Every file in it is named here, once."""

    SECRETS = "secrets.env"
    # What describes the data and goes back with it when a snapshot is restored.
    KEPT_BY_SNAPSHOTS = ("credentials.json", "seed.json", "leases.json")

    def __init__(self, name: str, root: Path | None = None):
        self.name = check_name(name)  # a name never makes a path into another folder
        self.dir = (root or state_root()) / name

    # paths
    @property
    def config_file(self) -> Path:
        return self.dir / "config.json"

    @property
    def mastodon_env(self) -> Path:
        return self.dir / "mastodon.env"

    @property
    def compose_env(self) -> Path:
        return self.dir / "compose.env"

    @property
    def bundle_file(self) -> Path:
        return self.tls_dir / "bundle.pem"

    @property
    def credentials_file(self) -> Path:
        return self.dir / "credentials.json"

    @property
    def secrets_file(self) -> Path:
        """Mastodon's secrets, generated once (sandbox/environment.py)."""
        return self.dir / self.SECRETS

    @property
    def seed_file(self) -> Path:
        """What the last seed made (sandbox/data/seed.py)."""
        return self.dir / "seed.json"

    @property
    def leases_file(self) -> Path:
        """The test-account pool's ledger (sandbox/testing/leases.py)."""
        return self.dir / "leases.json"

    @property
    def prepared_file(self) -> Path:
        """What db:prepare last ran for (sandbox/lifecycle.py)."""
        return self.dir / "prepared.json"

    @property
    def applied_file(self) -> Path:
        """Settings applied to the server once: registrations, the database's password (sandbox/lifecycle.py)."""
        return self.dir / "applied.json"

    @property
    def compose_record_file(self) -> Path:
        """Which compose files made the sandbox (sandbox/composefiles.py)."""
        return self.dir / "compose.json"

    @property
    def snapshots_dir(self) -> Path:
        """One folder per snapshot: its manifest and the files it keeps (sandbox/data/snapshots.py)."""
        return self.dir / "snapshots"

    @property
    def secrets_dir(self) -> Path:
        return self.dir / "secrets"

    @property
    def operation_file(self) -> Path:
        """A snapshot save or restore under way, or left half done by a process that died (data/journal.py)."""
        return self.dir / "operation.json"

    @property
    def seeding_file(self) -> Path:
        """A seed under way, or cut short (data/seed.py)."""
        return self.dir / "seeding.json"

    @property
    def faults_dir(self) -> Path:
        """Fault rules and the proxy's routing for them (sandbox/faults/layer.py), mounted into the proxy and the
        fault layer: `up` makes it, so that Docker never makes it as root."""
        return self.dir / "faults"

    def exists(self) -> bool:
        return self.config_file.exists()

    def load_config(self) -> SandboxConfig:
        try:
            return SandboxConfig.from_json(json.loads(self.config_file.read_text()))
        except FileNotFoundError:
            raise SandboxError(no_sandbox(self.name, self.dir.parent)) from None
        except (ValueError, TypeError) as e:
            raise SandboxError(
                f"the folder of sandbox {self.name!r}, {self.dir}, is damaged ({self.config_file.name}: {e}); "
                "fix or restore it, or remove the sandbox with `mastodon-sandbox destroy`"
            ) from None

    def save_config(self, config: SandboxConfig) -> None:
        write_private(self.config_file, json.dumps(config.to_json(), indent=2) + "\n")

    @contextmanager
    def lock(self, name: str, blocking: bool = True):
        """An exclusive lock on the host for one kind of work on this sandbox (snapshots, leases, `up` from
        the plugin), shared by every process and xdist worker; a file lock in the state folder. It yields
        the open lock file and is released when the file is closed — by this process and by any child it
        handed the file to (pass_fds), so work that goes on in the background keeps the lock until done.
        Not `blocking`: it yields None at once when another holds the lock."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / f"{name}.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            yield fh

    @contextmanager
    def rwlock(self, name: str, shared: bool):
        """A reader-writer lock on the host: many holders of the shared side at once (tests using the
        sandbox), the exclusive side alone (a restore or reset, which changes what those tests see).
        A holder of the exclusive side lends it to the processes it starts (HELD_LOCKS in the environment:
        a test that restarts services or restores snapshots itself, through the CLI or an inner pytest
        run), which then take neither side: they would wait for their own parent."""
        path = str(self.dir / f"{name}.lock")
        holder = _held_here.get(path)
        if holder == threading.get_ident() or (holder is None and path in os.environ.get(HELD_LOCKS, "").split(os.pathsep)):
            yield  # this thread holds it, or the parent process lent it
            return
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            before = os.environ.get(HELD_LOCKS)
            if not shared:
                _held_here[path] = threading.get_ident()
                os.environ[HELD_LOCKS] = os.pathsep.join(filter(None, (before, path)))
            try:
                yield
            finally:
                if not shared:
                    del _held_here[path]
                    if before is None:
                        os.environ.pop(HELD_LOCKS, None)
                    else:
                        os.environ[HELD_LOCKS] = before
                fcntl.flock(fh, fcntl.LOCK_UN)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def saved_configs(root: Path | None = None) -> list[SandboxConfig]:
    """Every sandbox in the state folder, as it was made (damaged folders are left out)."""
    root = root or state_root()
    out = []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if (folder / "config.json").is_file() and not folder.name.startswith("_"):
            try:
                out.append(State(folder.name, root).load_config())
            except SandboxError:
                continue
    return out


class GroupState(HoldsCA):
    """The folder of one federation group in the state folder: the CA its members share, the apps exposed to it."""

    FOLDER = "_groups"
    DAMAGED_HINT = "remove it and run the group's command again (`seed --group` starts its steps over)"

    def __init__(self, name: str, root: Path | None = None):
        self.name = check_group_name(name)
        self.root = root or state_root()
        self.dir = self.root / self.FOLDER / name

    def members(self) -> list[SandboxConfig]:
        return [c for c in saved_configs(self.root) if c.group == self.name]

    @property
    def exposed_dir(self) -> Path:
        """One folder per app exposed to the group (sandbox/federation/exposure.py): its record, certificate
        and key, and the relay's target."""
        return self.dir / "exposed"

    @property
    def seed_file(self) -> Path:
        """What the last group seed made across the members (sandbox/federation/seed.py)."""
        return self.dir / "seed.json"

    @property
    def seeding_file(self) -> Path:
        """A group seed under way, or cut short (sandbox/federation/seed.py)."""
        return self.dir / "seeding.json"

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a KEY=value file as compose reads it (no quoting, # comments)."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value
    return out


def render_env_file(values: dict[str, str], header: str = "") -> str:
    """KEY=value lines, unquoted: compose passes quotes through verbatim (mastodon#16895)."""
    lines = [f"# {line}" for line in header.splitlines()] if header else []
    for key, value in values.items():
        value = str(value)
        if "\n" in value:
            raise SandboxError(f"{key} holds a newline, which an env file cannot carry")
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"
