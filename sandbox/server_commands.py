"""Every command the harness runs inside the sandbox's containers, in one place.

Code that runs a server-side command builds it here (never inline), and the offline stand-in implements
exactly this list: `COMMANDS` names each command, its service, its argv shape and what it prints.
Shipped Ruby scripts live in `sandbox/provision/scripts/`; each starts with `# sandbox-script: NAME`,
the line the stand-in recognises them by.
"""

from __future__ import annotations

import json

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SandboxError

SCRIPTS_DIR = Path(__file__).resolve().parent / "provision" / "scripts"
SCRIPT_MARKER = "# sandbox-script: "


@dataclass(frozen=True)
class ServerCommand:
    """One server-side command. `argv` is its template: `{NAME}` is a value, `[` ... `]` an optional part
    (left out when its value is None); `build` renders it, so the table is the only place argv is written."""

    name: str
    service: str
    argv: tuple[str, ...]
    stdin: str | None  # what it reads on stdin, if anything
    output: str  # what it prints on success (and how it fails)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # values a placeholder may take


# pg_hba.conf's catch-all network line moved from method $1 to $2, the file written in place (its owner
# and mode kept, whoever runs this), then the configuration reloaded. Lines for the container's loopback
# and its socket are left as they are.
PG_HBA_SCRIPT = (
    "set -e; f=\"$(psql -XAtq -U postgres -d postgres -c 'SHOW hba_file')\"; "
    "sed -E \"s/^(host[[:space:]]+all[[:space:]]+all[[:space:]]+all[[:space:]]+)$1[[:space:]]*\\$/\\1$2/\" \"$f\" "
    "> \"$f.sandbox-new\"; cat \"$f.sandbox-new\" > \"$f\"; rm -f \"$f.sandbox-new\"; "
    "psql -XAtq -U postgres -d postgres -c \"SELECT 'reloaded:' || pg_reload_conf()\""
)

# nginx's master starts the new workers, then lets the old ones run 100 ms more before it tells them to stop
# accepting (ngx_master_process_cycle): done only when the new generation answers and none of the workers there
# before is still a plain "nginx: worker process" (a stopping one is "... is shutting down", or gone).
FAULTS_RELOAD_SH = (
    "workers() { for p in /proc/[0-9]*; do [ \"$(tr -d '\\0' < $p/cmdline 2>/dev/null)\" = 'nginx: worker process' ] "
    "&& echo \"${p#/proc/}\"; done; }; "
    "old=$(workers); [ -n \"$old\" ] || { echo 'no nginx worker process found' >&2; exit 3; }; "
    "nginx -t -q || exit 1; nginx -s reload; i=0; while [ $i -lt 400 ]; do "
    "left=$(for p in $old; do [ \"$(tr -d '\\0' < /proc/$p/cmdline 2>/dev/null)\" = 'nginx: worker process' ] && echo $p; done); "
    "[ -z \"$left\" ] && [ \"$(curl -s --cacert /etc/sandbox-tls/ca.pem --resolve \"$1:443:127.0.0.1\" "
    "\"https://$1/.sandbox/faults-generation\")\" = \"$2\" ] && exit 0; i=$((i+1)); sleep 0.025; done; exit 2"
)

CLIENTS_MARK = "==clients=="  # between the two answers of `sidekiq look`

COMMANDS: tuple[ServerCommand, ...] = (
    ServerCommand(
        "db:prepare", "web", ("bundle", "exec", "rails", "db:prepare"), None,
        "creates, loads and migrates the database (run by compose before web starts)",
    ),
    # lib/mastodon/cli/accounts.rb `create`. Always --confirmed --approve: with registrations closed an
    # account is otherwise pending (app/models/user.rb set_approved).
    ServerCommand(
        "accounts create", "web",
        ("tootctl", "accounts", "create", "{USERNAME}", "--email", "{EMAIL}", "--confirmed", "--approve",
         "[--role", "{ROLE}]"),
        None,
        "stdout: `OK` then `New password: <32 hex>` (a Sidekiq log line may come first); rc 1 with stderr "
        "`Failure/Error: <attribute>` / `    <error>` lines, or `Cannot find user role with that name`",
    ),
    # lib/mastodon/cli/accounts.rb `modify`: change_password! also revokes every token (app/models/user.rb)
    ServerCommand(
        "accounts modify --reset-password", "web",
        ("tootctl", "accounts", "modify", "{USERNAME}", "--reset-password"), None,
        "stdout: `OK` then `New password: <32 hex>`; rc 1 with stderr `No user with such username`",
    ),
    # lib/mastodon/cli/settings.rb
    ServerCommand(
        "settings registrations", "web",
        ("tootctl", "settings", "registrations", "{MODE}"), None, "stdout: `OK`",
        choices={"MODE": ("open", "approved", "close")},
    ),
    ServerCommand(
        "runner authorized_fetch", "web", ("bin/rails", "runner", "{SCRIPT}"), "JSON {\"on\": true|false}",
        "stdout: one line `SANDBOX-JSON {\"authorized_fetch\": true|false}`, the setting as it now reads",
    ),
    # lib/mastodon/cli/cache.rb: also resets Rack::Attack's counters (they live in Rails.cache)
    ServerCommand("cache clear", "web", ("tootctl", "cache", "clear"), None, "stdout: `OK`"),
    ServerCommand("version", "web", ("tootctl", "version"), None, "stdout: the version, e.g. `4.6.5`"),
    ServerCommand(
        "runner bulk_accounts", "web", ("bin/rails", "runner", "{SCRIPT}"),
        "JSON spec (sandbox/provision/bulk.py)",
        "stdout: one line `SANDBOX-JSON {...}` (log lines may precede it); rc 1 and a Ruby error otherwise",
    ),
    ServerCommand(
        "runner tootctl_batch", "web", ("bin/rails", "runner", "{SCRIPT}"),
        "JSON list of tootctl argv lists (without `tootctl`)",
        "stdout: one line `SANDBOX-JSON [{\"status\", \"stdout\", \"stderr\"}, ...]`, each as that tootctl call "
        "prints it alone",
    ),
    ServerCommand(
        "runner run_due", "web", ("bin/rails", "runner", "{SCRIPT}"), "JSON {\"within\": seconds}",
        "stdout: one line `SANDBOX-JSON {\"published\": [ids], \"polls_ended\": [ids]}`",
    ),
    # A Lua script run atomically in Redis, its arguments after the `0` (no keys): Sidekiq's bookkeeping
    # (sandbox/data/settle.py) and the snapshots' copies and swaps (sandbox/data/snapshots.py).
    ServerCommand(
        "redis eval", "redis", ("redis-cli", "--raw", "EVAL", "{LUA}", "0", "[{ARGS}]"), None,
        "stdout: the script's answer, one value per line; `ERR ...` when Redis refuses it",
    ),
    # One look of settle (sandbox/data/settle.py), in one command: Sidekiq's bookkeeping (SIDEKIQ_STATS_LUA),
    # then Redis' clients — a Sidekiq processor waiting for work is one blocked in BRPOP on its queues (Sidekiq's
    # BasicFetch, lib/sidekiq/fetch.rb), which is how settle knows, now, that no job runs. In that order.
    ServerCommand(
        "sidekiq look", "redis",
        ("sh", "-c", f'redis-cli --raw EVAL "$1" 0 "$2" && echo {CLIENTS_MARK} && redis-cli CLIENT LIST', "sh", "{LUA}", "{DUE}"),
        None, f"stdout: the script's answer, one value per line, `{CLIENTS_MARK}`, then one line per client, `id=… flags=… cmd=…`",
    ),
    # The proxy's federation log (compose/proxy/sandbox.conf): read whole by `deliveries`, measured by settle.
    ServerCommand(
        "federation log", "proxy", ("cat", "/var/log/nginx/federation.log"), None,
        "stdout: one JSON object per line: time, to, method, path, status, agent, signature, body",
    ),
    # The fault layer (sandbox/faults/layer.py): the proxy takes a new set of rules (its files checked first) and
    # answers their generation from the new workers; faultd's log of every fault it made.
    ServerCommand(
        "faults reload", "proxy",
        ("sh", "-c", FAULTS_RELOAD_SH, "faults-reload", "{HOST}", "{GENERATION}"), None,
        "rc 0 once nginx answers the new generation; rc 1 with nginx -t's error, rc 2 when it never did, rc 3 with "
        "no worker found",
    ),
    ServerCommand(
        "faults log", "faults", ("sh", "-c", "cat /var/log/sandbox-faults/faults.log 2>/dev/null || true"), None,
        "stdout: one JSON object per fault: time, rule, action, status, method, path, account",
    ),
    ServerCommand(
        "federation log size", "proxy", ("wc", "-c", "/var/log/nginx/federation.log"), None,
        "stdout: `BYTES /var/log/nginx/federation.log`",
    ),
    # SQL as the database superuser, one statement per -c (CREATE DATABASE cannot run in a transaction).
    ServerCommand(
        "psql admin", "db", ("psql", "-X", "-q", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                             "[-c", "{SQL}]"), None,
        "nothing on success; rc 1 and `ERROR: ...` on stderr",
    ),
    # SQL read from stdin, for what must not be on a command line (`ps` and the engine show an exec's argv):
    # the superuser's password verifier (sandbox/backends.py).
    ServerCommand(
        "psql script", "db", ("psql", "-X", "-q", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                              "-f", "-"), "SQL statements",
        "nothing on success; rc 3 and `ERROR: ...` on stderr",
    ),
    # A cluster made when the sandbox trusted every network client moved onto passwords (sandbox/backends.py).
    ServerCommand(
        "pg hba method", "db", ("sh", "-c", PG_HBA_SCRIPT, "sh", "{FROM}", "{TO}"), None,
        "stdout: `reloaded:t`; rc 1 and the failing tool's message on stderr",
        choices={"FROM": ("trust",), "TO": ("scram-sha-256",)},
    ),
    # A snapshot's export and import (sandbox/stores.py): a database in pg_dump's custom format, and
    # Redis' own protocol (one RESTORE per key) piped into a logical database.
    ServerCommand("pg dump", "db", ("pg_dump", "-U", "postgres", "-Fc", "-f", "{FILE}", "{DB}"), None,
                  "nothing on success (the dump is in FILE); rc 1 and `pg_dump: error: ...` on stderr"),
    # The dump's table of contents (every entry, pg_dump's own included), checked before it is loaded
    # (sandbox/dumps.py); then the load, as an unprivileged role that owns only the new database.
    ServerCommand("pg list", "db", ("pg_restore", "--list", "--verbose", "{FILE}"), None,
                  "stdout: `;` header lines (dbname, Format) and one `ID; CATALOG OID KIND NAMESPACE TAG OWNER` per entry; "
                  "rc 1 and `pg_restore: error: ...` on stderr for a file that is not a dump"),
    ServerCommand("pg restore", "db", ("pg_restore", "-U", "{ROLE}", "--no-owner", "--no-privileges", "--exit-on-error",
                                       "-d", "{DB}", "{FILE}"), None,
                  "nothing on success; rc 1 and `pg_restore: error: ...` on stderr"),
    ServerCommand("redis pipe", "redis", ("sh", "-c", 'redis-cli -n "$1" --pipe < "$2"', "sh", "{DB}", "{FILE}"), None,
                  "stdout ends `errors: N, replies: M`"),
    # ActionMailer's file delivery (config/environments/production.rb with SMTP off: delivery_method :file)
    # writes one file per recipient under the Sidekiq process's tmp/mails.
    ServerCommand(
        "mail list", "sidekiq",
        ("sh", "-c", "cd tmp/mails 2>/dev/null && for f in *; do [ -f \"$f\" ] && printf '%s\\t%s\\n' \"$f\" "
         "\"$(grep -c '^Subject:' \"$f\")\"; done; true"),
        None, "stdout: `<address>\\t<number of messages>` per recipient; nothing before any mail",
    ),
    ServerCommand("mail show", "sidekiq", ("cat", "tmp/mails/{ADDRESS}"), None,
                  "stdout: the recipient's messages as sent; rc 1 when there are none"),
)

COMMANDS_BY_NAME = {c.name: c for c in COMMANDS}
# How the shipped Rails runner scripts (provision/scripts/*.rb) hand back their answer: one line, among log lines.
RESULT_PREFIX = "SANDBOX-JSON "


def runner_result(script: str, stdout: str | None):
    """The JSON a runner script printed after RESULT_PREFIX (the last such line), or None when it printed none."""
    for line in reversed((stdout or "").splitlines()):
        if line.startswith(RESULT_PREFIX):
            try:
                return json.loads(line[len(RESULT_PREFIX):])
            except ValueError as e:
                raise SandboxError(f"the {script} script printed a damaged result line ({e}): see `mastodon-sandbox logs web`") from None
    return None
PLACEHOLDER = re.compile(r"\{([A-Z_]+)\}")


def build(name: str, **values: str | None) -> tuple[str, list[str]]:
    """(service, argv) of the command `name`, its placeholders filled from `values`."""
    cmd = COMMANDS_BY_NAME[name]
    for key, allowed in cmd.choices.items():
        if values.get(key) not in allowed:
            raise SandboxError(f"{name}: {key.lower()} {values.get(key)!r} is not one of {', '.join(allowed)}")
    argv: list[str] = []
    group: list[str] | None = None
    for token in cmd.argv:
        if token.startswith("["):
            group, token = [], token[1:]
        closes = token.endswith("]")
        token = token[:-1] if closes else token
        missing = [k for k in PLACEHOLDER.findall(token) if values.get(k) is None]
        text = PLACEHOLDER.sub(lambda m: str(values.get(m.group(1))), token)
        if group is not None:
            group.append(None if missing else text)  # type: ignore[arg-type]
            if closes:
                argv += [] if None in group else group  # type: ignore[operator]
                group = None
        elif missing:
            raise SandboxError(f"{name}: no value for {', '.join(missing)}")
        else:
            argv.append(text)
    return cmd.service, argv


def db_prepare() -> tuple[str, list[str]]:
    return build("db:prepare")


def accounts_create(username: str, email: str, role: str | None = None) -> tuple[str, list[str]]:
    return build("accounts create", USERNAME=username, EMAIL=email, ROLE=role)


def accounts_reset_password(username: str) -> tuple[str, list[str]]:
    return build("accounts modify --reset-password", USERNAME=username)


def settings_registrations(mode: str) -> tuple[str, list[str]]:
    """tootctl's modes (open, approved, close); the sandbox's setting calls close `none`."""
    return build("settings registrations", MODE={"none": "close"}.get(mode, mode))


def cache_clear() -> tuple[str, list[str]]:
    return build("cache clear")


def version() -> tuple[str, list[str]]:
    return build("version")


def tootctl_batch() -> tuple[str, list[str]]:
    """Several tootctl commands in one Rails boot; the JSON list of argv lists goes on stdin."""
    return rails_runner("tootctl_batch")


# Sidekiq's queues (lib/sidekiq/api.rb reads the same keys): what is enqueued, due before ARGV[1] (epoch s) in
# the schedule, and in the retry set, the first retry itself (JSON: a federation one when there is one), how many
# of the due are put off on purpose and awaited by no other server (mails; a remote status's link preview,
# fetched 0-60 s after it arrived: DISTRIBUTE_DELAY in app/lib/activitypub/activity/create.rb), how many retries
# are federation's (the push, pull and ingress queues), then one line per registered process,
# `hostname beat concurrency` (what a heartbeat writes, lib/sidekiq/launcher.rb: the thread count is the process
# hash's `concurrency` in Sidekiq 8 (Mastodon 4.6), inside its `info` JSON before).
SIDEKIQ_STATS_LUA = """
local enqueued = 0
for _, q in ipairs(redis.call('SMEMBERS', 'queues')) do enqueued = enqueued + redis.call('LLEN', 'queue:' .. q) end
local deferred = 0
for _, job in ipairs(redis.call('ZRANGEBYSCORE', 'schedule', '-inf', ARGV[1])) do
  if string.find(job, '"queue":"mailers"', 1, true) or string.find(job, '"class":"LinkCrawlWorker"', 1, true) then
    deferred = deferred + 1
  end
end
local federation, first = 0, ''
for _, job in ipairs(redis.call('ZRANGE', 'retry', 0, -1)) do
  if string.find(job, '"queue":"push"', 1, true) or string.find(job, '"queue":"pull"', 1, true)
      or string.find(job, '"queue":"ingress"', 1, true) then
    federation = federation + 1
    if first == '' then first = job end
  end
end
local out = {enqueued, redis.call('ZCOUNT', 'schedule', '-inf', ARGV[1]), redis.call('ZCARD', 'retry'),
             first ~= '' and first or (redis.call('ZRANGE', 'retry', 0, 0)[1] or ''), deferred, federation}
for _, p in ipairs(redis.call('SMEMBERS', 'processes')) do
  local info = redis.call('HGET', p, 'info')
  local ok, decoded = pcall(cjson.decode, info or '')
  if ok and type(decoded) == 'table' then
    local threads = redis.call('HGET', p, 'concurrency') or decoded.concurrency or 0
    table.insert(out, tostring(decoded.hostname) .. ' ' .. (redis.call('HGET', p, 'beat') or '0') .. ' ' .. tostring(threads))
  end
end
return out
"""


def redis_eval(lua: str, args: list[str]) -> tuple[str, list[str]]:
    service, argv = build("redis eval", LUA=lua.strip(), ARGS=None)
    return service, argv + list(args)


def psql_admin(statements: list[str]) -> tuple[str, list[str]]:
    service, argv = build("psql admin", SQL=None)
    for statement in statements:
        argv += ["-c", statement]
    return service, argv


def psql_script() -> tuple[str, list[str]]:
    """psql as the superuser, its SQL on stdin."""
    return build("psql script")


def pg_hba_method(old: str, new: str) -> tuple[str, list[str]]:
    """pg_hba.conf's `host all all all OLD` line made `... NEW`, and the configuration reloaded."""
    return build("pg hba method", FROM=old, TO=new)


def pg_dump(db: str, path: str) -> tuple[str, list[str]]:
    return build("pg dump", DB=db, FILE=path)


def pg_list(path: str) -> tuple[str, list[str]]:
    return build("pg list", FILE=path)


def pg_restore(db: str, path: str, role: str) -> tuple[str, list[str]]:
    return build("pg restore", DB=db, FILE=path, ROLE=role)


def redis_pipe(db: int, path: str) -> tuple[str, list[str]]:
    return build("redis pipe", DB=str(db), FILE=path)


def sidekiq_look(due_before: float) -> tuple[str, list[str]]:
    """Sidekiq's queues, jobs scheduled before `due_before` (epoch seconds), retries and processes, then Redis' clients."""
    return build("sidekiq look", LUA=SIDEKIQ_STATS_LUA.strip(), DUE=f"{due_before:.3f}")


def federation_log() -> tuple[str, list[str]]:
    return build("federation log")


def faults_reload(host: str, generation: int) -> tuple[str, list[str]]:
    return build("faults reload", HOST=host, GENERATION=str(generation))


def faults_log() -> tuple[str, list[str]]:
    return build("faults log")


def federation_log_size() -> tuple[str, list[str]]:
    return build("federation log size")


def authorized_fetch() -> tuple[str, list[str]]:
    """Authorized fetch on or off ({"on": bool} on stdin; scripts/authorized_fetch.rb says how)."""
    return rails_runner("authorized_fetch")


def run_due() -> tuple[str, list[str]]:
    """Publishes due scheduled statuses and ends due polls now; {"within": seconds} goes on stdin."""
    return rails_runner("run_due")


def mail_list() -> tuple[str, list[str]]:
    return build("mail list")


def mail_show(address: str) -> tuple[str, list[str]]:
    if "/" in address or address.startswith("."):
        raise SandboxError(f"{address!r} is not an e-mail address")
    return build("mail show", ADDRESS=address)


def script_text(name: str) -> str:
    """The text of a shipped script; its first line names it (the stand-in's cue)."""
    path = SCRIPTS_DIR / f"{name}.rb"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SandboxError(f"the script {name} is missing from {SCRIPTS_DIR}: reinstall mastodon-sandbox") from None
    if text.splitlines()[0] != f"{SCRIPT_MARKER}{name}":
        raise SandboxError(f"{path} does not start with `{SCRIPT_MARKER}{name}`: reinstall mastodon-sandbox")
    return text


def rails_runner(name: str) -> tuple[str, list[str]]:
    """`bin/rails runner <script>`: one Rails boot for a whole batch of work."""
    if f"runner {name}" not in COMMANDS_BY_NAME:
        raise SandboxError(f"no shipped script named {name!r}")
    return build(f"runner {name}", SCRIPT=script_text(name))
