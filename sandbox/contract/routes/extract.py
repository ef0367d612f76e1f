"""Mastodon's routes as data: a reader of the Rails routing DSL as config/routes/api.rb and config/routes.rb
write it, which produces the lists beside this file (one `METHOD /path/:param` a line).

    python -m mastodon_sandbox.contract.routes.extract /path/to/mastodon-4.6.5 [--out sandbox/contract/routes]

reads a Mastodon checkout (a release's source tree), and writes `mastodon-<version>.txt`: every route of
config/routes/api.rb, and those of config/routes.rb under /oauth, /.well-known and /nodeinfo (with
`use_doorkeeper` drawn as doorkeeper 5.x draws it). The package never reads a checkout: only this command
does, by hand, when a release is added; the lists are what ships.

Understood: namespace, scope (a path, `path:`, `module:`), resources and resource (`only:`, `except:`,
`param:`, `path:`, `concerns:`, nested in each other, the Rails `:parent_id` naming), member, collection, new,
get/post/put/patch/delete and match (`via:`, `on:`, `path:`, a symbol or a string path, canonical actions in a
member or collection scope), concern/concerns, with_options (merged into each call, the call's own options
winning), optional segments `(…)` and globs `*name`, and blocks that change no path (constraints, defaults,
devise_scope, authenticate, controller). What it does not understand it does not guess: each such statement
is listed (`Extraction.unhandled`), with its line.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Where config/routes.rb draws the API's neighbours a client calls: OAuth, discovery, NodeInfo.
ROUTES_RB_PREFIXES = ("/oauth/", "/.well-known/", "/nodeinfo/")

# doorkeeper 5.x, lib/doorkeeper/rails/routes.rb (generate_routes!), as Mastodon's `use_doorkeeper` draws it:
# introspection stays on (config/initializers/doorkeeper.rb does not set allow_token_introspection false).
DOORKEEPER = """
scope 'oauth', as: 'oauth' do
  resource :authorization, path: 'authorize', only: [:create, :destroy] do
    get '/native', action: :show, on: :member
    get '/', action: :new, on: :member
  end
  resource :token, path: 'token', only: [:create]
  post 'revoke', action: :revoke
  post 'introspect', action: :introspect
  resources :applications, path: 'applications'
  resources :authorized_applications, only: [:index, :destroy]
  resource :token_info, path: 'token/info', only: [:show]
end
"""

_CANONICAL = {"index", "create", "new", "show", "update", "destroy"}
_TRANSPARENT = {"constraints", "defaults", "devise_scope", "authenticate", "authenticated", "controller"}
_RUBY_BLOCKS = {"class", "module", "def", "if", "unless", "case", "while", "until", "begin"}
# Calls that draw no route a client of the API calls, named so that they are not reported as not understood.
_NOT_ROUTES = {"require", "mount", "devise_for", "direct", "resolve"}


# --- values -------------------------------------------------------------------------------------------------

class Sym(str):
    """A Ruby symbol (`:show`): a route's action, which a string path is not."""


@dataclass(frozen=True)
class Raw:
    """Ruby the reader does not evaluate (a lambda, a regexp, a call): kept as text."""

    text: str


def _value(text: str):
    text = text.strip()
    if re.fullmatch(r":\w+[?!]?", text):
        return Sym(text[1:])
    if re.fullmatch(r":(['\"]).*\1", text):
        return Sym(text[2:-1])
    if re.fullmatch(r"'[^'\\]*'", text) or re.fullmatch(r'"[^"\\#]*"', text):
        return text[1:-1]
    if text.startswith("[") and text.endswith("]"):
        return [_value(item) for item in _split(text[1:-1])]
    m = re.fullmatch(r"%([iIwW])[(\[{<](.*)[)\]}>]", text, re.DOTALL)
    if m:
        return [Sym(w) if m[1] in "iI" else w for w in m[2].split()]
    if text in ("true", "false"):
        return text == "true"
    if text == "nil":
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return Raw(text)


# --- from text to statements --------------------------------------------------------------------------------

_CLOSE = {"(": ")", "[": "]", "{": "}", "<": ">"}
_REGEXP_AFTER = set("(,=:[{|!&~;") | {""}
_PERCENT = re.compile(r"%[iIwWrqQ]?[(\[{<]")


def _literal_at(text: str, i: int, before: str) -> bool:
    """Whether a string, percent or regexp literal starts at text[i]; `before` is the last non-blank character."""
    c = text[i]
    return c in "'\"" or (c == "%" and bool(_PERCENT.match(text, i))) or (c == "/" and before in _REGEXP_AFTER)


def _scan(text: str, i: int, out: list[str]) -> int:
    """Copy one string, percent or regexp literal starting at text[i] into out; the index after it."""
    c = text[i]
    if c in "'\"":
        j = i + 1
        while j < len(text) and text[j] != c:
            if text[j] == "\\":
                j += 1
            elif c == '"' and text.startswith("#{", j):
                depth, j = 1, j + 2
                while j < len(text) and depth:
                    if text[j] in "'\"":
                        j = _scan(text, j, []) - 1
                    depth += {"{": 1, "}": -1}.get(text[j], 0)
                    j += 1
                continue
            j += 1
        out.append(text[i:j + 1])
        return j + 1
    if c == "%":
        m = re.compile(r"%[iIwWrqQ]?([(\[{<])").match(text, i)
        opener = m[1]
        closer, depth, j = _CLOSE[opener], 1, m.end()
        while j < len(text) and depth:
            if text[j] == "\\":
                j += 1
            elif text[j] == opener:
                depth += 1
            elif text[j] == closer:
                depth -= 1
            j += 1
        while j < len(text) and text[j].isalpha():  # regexp flags
            j += 1
        out.append(text[i:j])
        return j
    # c == "/": a regexp literal
    j, klass = i + 1, False
    while j < len(text) and (text[j] != "/" or klass):
        if text[j] == "\\":
            j += 1
        elif text[j] == "[":
            klass = True
        elif text[j] == "]":
            klass = False
        j += 1
    j += 1
    while j < len(text) and text[j].isalpha():
        j += 1
    out.append(text[i:j])
    return j


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Statements with their first line: comments dropped, a statement continued while a bracket is open or
    its line ends in a comma, an operator or a backslash; `;` separates statements."""
    lines: list[tuple[int, str]] = []
    buf: list[str] = []
    depth, line, start, i = 0, 1, 1, 0

    def flush() -> None:
        statement = "".join(buf).strip()
        if statement:
            lines.append((start, re.sub(r"\s+", " ", statement)))
        buf.clear()

    while i < len(text):
        c = text[i]
        if not buf or not "".join(buf).strip():
            start = line
        if c == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        if _literal_at(text, i, "".join(buf).rstrip()[-1:]):
            chunk: list[str] = []
            i = _scan(text, i, chunk)
            line += chunk[0].count("\n")
            buf.append(chunk[0])
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "\n":
            line += 1
            tail = "".join(buf).rstrip()
            if depth > 0 or tail.endswith((",", "\\", "=>", "&&", "||")):
                buf.append(" ")
            else:
                flush()
            i += 1
            continue
        if c == ";" and depth == 0:
            flush()
            i += 1
            continue
        buf.append(c)
        i += 1
    flush()
    return lines


def _split(text: str, sep: str = ",") -> list[str]:
    """Split at top-level separators, outside brackets and literals."""
    parts, buf, depth, i = [], [], 0, 0
    while i < len(text):
        c = text[i]
        if _literal_at(text, i, "".join(buf).rstrip()[-1:]):
            chunk: list[str] = []
            i = _scan(text, i, chunk)
            buf.append(chunk[0])
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if text.startswith(sep, i) and depth == 0:
            parts.append("".join(buf).strip())
            buf, i = [], i + len(sep)
            continue
        buf.append(c)
        i += 1
    if "".join(buf).strip():
        parts.append("".join(buf).strip())
    return parts


@dataclass
class Stmt:
    line: int
    text: str
    name: str = ""
    args: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    block: list[Stmt] | None = None
    kind: str = "call"  # call, ruby (a class, def or conditional), assign, unknown


def _outside(text: str) -> str:
    """The text with its literals and bracketed parts blanked out."""
    out, depth, i = [], 0, 0
    while i < len(text):
        c = text[i]
        if _literal_at(text, i, "".join(out).rstrip()[-1:]):
            i = _scan(text, i, [])
            out.append("_")
            continue
        depth += 1 if c in "([{" else -1 if c in ")]}" else 0
        out.append(c if depth == 0 and c not in ")]}" else "_")
        i += 1
    return "".join(out)


def _group_end(text: str, i: int) -> int:
    """The index of the bracket closing the one at text[i]."""
    depth = 0
    while i < len(text):
        if _literal_at(text, i, text[:i].rstrip()[-1:]):
            i = _scan(text, i, [])
            continue
        depth += 1 if text[i] in "([{" else -1 if text[i] in ")]}" else 0
        if depth == 0:
            return i
        i += 1
    return len(text)


_KEYWORD = re.compile(r"([A-Za-z_]\w*[?!]?):(?!:)\s*(.*)", re.DOTALL)  # only: [:index]
_ROCKET = re.compile(r"(?::(\w+)|'([^']*)'|\"([^\"]*)\")\s*=>\s*(.*)", re.DOTALL)  # 'only' => [:index]


def _call(line: int, text: str) -> Stmt:
    stmt = Stmt(line, text)
    if re.match(r"[A-Za-z_]\w*\s*=[^=>~]", text):
        stmt.kind = "assign"
        return stmt
    m = re.match(r"([A-Za-z_][\w.:]*[?!]?)", text)
    if not m:
        stmt.kind = "unknown"
        return stmt
    stmt.name, rest = m[1], text[m.end():].strip()
    if rest.startswith("(") and _group_end(rest, 0) == len(rest) - 1:
        rest = rest[1:-1]
    if re.search(r"(^|\s)(if|unless)\s", _outside(rest)):
        stmt.kind = "unknown"  # a route under a condition: whether Rails draws it depends on the environment
        return stmt
    for arg in _split(rest):
        if _KEYWORD.fullmatch(arg):
            key = _KEYWORD.fullmatch(arg)
            stmt.options[key[1]] = _value(key[2])
        elif _ROCKET.fullmatch(arg):
            key = _ROCKET.fullmatch(arg)
            stmt.options[key[1] or key[2] or key[3]] = _value(key[4])
        else:
            stmt.args.append(_value(arg))
    return stmt


def parse(text: str) -> list[Stmt]:
    """The statements of a routes file, each with its block."""
    root: list[Stmt] = []
    stack: list[list[Stmt]] = [root]
    for line, statement in _logical_lines(text):
        if statement == "end":
            if len(stack) > 1:
                stack.pop()
            continue
        first = statement.split(" ", 1)[0]
        if first in ("elsif", "else", "when", "rescue", "ensure"):
            continue  # a branch of the Ruby block already open
        if first in _RUBY_BLOCKS:
            stmt = Stmt(line, statement, name=first, kind="ruby", block=[])
            stack[-1].append(stmt)
            stack.append(stmt.block)
            continue
        opener = re.search(r"\s*\bdo(\s*\|[^|]*\|)?$", statement)
        brace = re.fullmatch(r"([A-Za-z_]\w*)\s*\{(.*)\}", statement)
        if opener:
            stmt = _call(line, statement[:opener.start()])
            stmt.block = []
            stack[-1].append(stmt)
            stack.append(stmt.block)
        elif brace:  # `member { get :player }`
            stmt = _call(line, brace[1])
            stmt.block = [_call(line, inner) for inner in _split(brace[2], ";")]
            stack[-1].append(stmt)
        else:
            stack[-1].append(_call(line, statement))
    return root


# --- drawing the routes -------------------------------------------------------------------------------------

def singular(name: str) -> str:
    """Rails' singularize, for the names routes use (`statuses` → `status`, `media` → `medium`)."""
    if name.endswith("media"):
        return name[:-5] + "medium"
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("sses", "uses", "xes", "shes", "ches")):
        return name[:-2]
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


@dataclass(frozen=True)
class Resource:
    name: str
    singleton: bool
    path: str
    param: str
    actions: tuple[str, ...]

    def member_scope(self) -> str:
        return self.path if self.singleton else f"{self.path}/:{self.param}"

    def nested_scope(self) -> str:
        return self.path if self.singleton else f"{self.path}/:{singular(self.name)}_{self.param}"


@dataclass(frozen=True)
class Scope:
    path: str = ""
    level: str = "root"  # root, resources, resource, member, collection, new, nested
    resource: Resource | None = None
    options: tuple = ()  # with_options, as items

    def at(self, path: str, level: str | None = None, resource: Resource | None = None) -> Scope:
        joined = f"{self.path}/{path}" if path else self.path
        return Scope(joined, level or self.level, resource or self.resource, self.options)


@dataclass(frozen=True)
class Unhandled:
    file: str
    line: int
    text: str
    why: str
    scope: str  # the path the statement stands under

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.why}: {self.text[:100]}"


@dataclass
class Extraction:
    routes: set[tuple[str, str]] = field(default_factory=set)
    unhandled: list[Unhandled] = field(default_factory=list)


def normalise(path: str) -> list[str]:
    """Rails' path: slashes squeezed, no trailing one; an optional group `(…)` gives both paths."""
    m = re.search(r"\(([^()]*)\)", path)
    if m:
        return [*normalise(path[:m.start()] + path[m.end():]), *normalise(path[:m.start()] + m[1] + path[m.end():])]
    path = "/" + re.sub(r"/+", "/", path).strip("/")
    return [path]


class Drawer:
    """Rails' ActionDispatch::Routing::Mapper, as far as the path and the verb of each route go."""

    def __init__(self, file: str, draw: Callable[[str], str | None] | None = None):
        self.file = file
        self.draw_file = draw
        self.out = Extraction()
        self.concerns: dict[str, tuple[list[Stmt], tuple]] = {}  # name → its statements, with_options where defined

    def run(self, stmts: list[Stmt], scope: Scope) -> None:
        for stmt in stmts:
            self.statement(stmt, scope)

    def unhandled(self, stmt: Stmt, scope: Scope, why: str) -> None:
        self.out.unhandled.append(Unhandled(self.file, stmt.line, stmt.text, why, normalise(scope.path)[0]))

    def emit(self, methods, path: str) -> None:
        for p in normalise(path):
            for method in methods:
                self.out.routes.add((method.upper(), p))

    def statement(self, stmt: Stmt, scope: Scope) -> None:
        if stmt.kind == "ruby":
            if stmt.name not in ("class", "module", "def"):
                self.unhandled(stmt, scope, f"a Ruby `{stmt.name}` block (its routes depend on the environment)")
            return
        if stmt.kind == "assign":
            return  # a Ruby variable: a loop over it is reported where it draws
        if stmt.kind == "unknown":
            if stmt.name not in _NOT_ROUTES:  # `mount … if Rails.env.development?` draws no API route
                self.unhandled(stmt, scope, "a call under a condition" if stmt.name else "not understood")
            return
        options = {**dict(scope.options), **stmt.options}
        name = stmt.name
        handler = getattr(self, f"do_{name}", None)
        if handler:
            handler(stmt, scope, options)
        elif name in _TRANSPARENT or name.endswith("routes.draw"):  # Rails.application.routes.draw
            self.run(stmt.block or [], scope)
        elif name in _NOT_ROUTES:
            return
        else:
            self.unhandled(stmt, scope, f"`{name}` is no routing call this reader knows")

    # scopes
    def do_namespace(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        if scope.level in ("resources", "resource"):
            scope = self.nested(scope)
        path = str(stmt.options.get("path", stmt.args[0]))
        self.run(stmt.block or [], scope.at(path))

    def do_scope(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        parts = [str(a) for a in stmt.args if isinstance(a, str)]
        if "path" in stmt.options:
            parts.append(str(stmt.options["path"]))
        self.run(stmt.block or [], scope.at("/".join(parts)))

    def do_with_options(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        merged = {**dict(scope.options), **stmt.options}
        self.run(stmt.block or [], Scope(scope.path, scope.level, scope.resource, tuple(merged.items())))

    def do_concern(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        self.concerns[str(stmt.args[0])] = (stmt.block or [], scope.options)

    def do_concerns(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        self.apply_concerns(stmt, scope, stmt.args)

    def apply_concerns(self, stmt: Stmt, scope: Scope, names) -> None:
        for name in names if isinstance(names, list) else [names]:
            if str(name) in self.concerns:
                body, options = self.concerns[str(name)]
                self.run(body, Scope(scope.path, scope.level, scope.resource, options))
            else:
                self.unhandled(stmt, scope, f"concern {name!r} is not defined before it is used")

    def do_use_doorkeeper(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        self.run(parse(DOORKEEPER), scope)

    def do_draw(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        text = self.draw_file(str(stmt.args[0])) if self.draw_file else None
        if text is not None:
            self.run(parse(text), scope)

    def do_root(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        self.emit(["GET"], scope.path or "/")

    # resources
    def nested(self, scope: Scope) -> Scope:
        return scope.at(scope.resource.nested_scope(), "nested")

    def _scope_of(self, stmt: Stmt, scope: Scope, level: str) -> Scope | None:
        resource = scope.resource
        if scope.level not in ("resources", "resource") or resource is None:
            self.unhandled(stmt, scope, f"`{level}` outside a resource")
            return None
        path = {"member": resource.member_scope(), "collection": resource.path,
                "new": f"{resource.path}/new"}[level]
        return scope.at(path, level)

    def do_member(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        inner = self._scope_of(stmt, scope, "member")
        if inner:
            self.run(stmt.block or [], inner)

    def do_collection(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        inner = self._scope_of(stmt, scope, "collection")
        if inner:
            self.run(stmt.block or [], inner)

    def do_new(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        inner = self._scope_of(stmt, scope, "new")
        if inner:
            self.run(stmt.block or [], inner)

    def _actions(self, stmt: Stmt, scope: Scope, options: dict, all_actions: tuple[str, ...]) -> tuple[str, ...]:
        def names(value) -> set[str]:
            return {str(v) for v in (value if isinstance(value, list) else [value])}
        if "only" in options:
            return tuple(a for a in all_actions if a in names(options["only"]))
        if "except" in options:
            return tuple(a for a in all_actions if a not in names(options["except"]))
        return all_actions

    def do_resources(self, stmt: Stmt, scope: Scope, options: dict, singleton: bool = False) -> None:
        if options.get("shallow"):
            self.unhandled(stmt, scope, "`shallow:` routes are not drawn by this reader")
            return
        for name in stmt.args:
            if not isinstance(name, str):
                self.unhandled(stmt, scope, "a resource named by an expression")
                continue
            outer = self.nested(scope) if scope.level in ("resources", "resource") else scope
            all_actions = ("create", "new", "show", "edit", "update", "destroy") if singleton else \
                ("index", "create", "new", "show", "edit", "update", "destroy")
            resource = Resource(str(name), singleton, str(options.get("path", name)), str(options.get("param", "id")),
                                self._actions(stmt, scope, options, all_actions))
            inner = Scope(outer.path, "resource" if singleton else "resources", resource, scope.options)
            self.run(stmt.block or [], inner)
            if "concerns" in options:
                self.apply_concerns(stmt, inner, options["concerns"])
            collection, member = resource.path, resource.member_scope()
            drawn = {"index": [("GET", collection)], "create": [("POST", collection)],
                     "new": [("GET", f"{collection}/new")], "edit": [("GET", f"{member}/edit")],
                     "show": [("GET", member)], "update": [("PATCH", member), ("PUT", member)],
                     "destroy": [("DELETE", member)]}
            for action in resource.actions:
                for method, path in drawn[action]:
                    self.emit([method], f"{outer.path}/{path}")

    def do_resource(self, stmt: Stmt, scope: Scope, options: dict) -> None:
        self.do_resources(stmt, scope, options, singleton=True)

    # verbs
    def do_match(self, stmt: Stmt, scope: Scope, options: dict, methods: list[str] | None = None) -> None:
        if methods is None:
            via = options.get("via")
            via = list(METHODS) if via == "all" else via if isinstance(via, list) else [via]
            if not all(isinstance(v, str) and v.upper() in METHODS for v in via):
                self.unhandled(stmt, scope, f"match via {options.get('via')!r}")
                return
            methods = [str(v).upper() for v in via]
        on = options.get("on")
        if on:
            scope = self._scope_of(stmt, scope, str(on))
            if scope is None:
                return
        elif scope.level == "resources":
            scope = self.nested(scope)
        elif scope.level == "resource":
            scope = scope.at(scope.resource.member_scope(), "member")
        paths = [a for a in stmt.args if isinstance(a, str)]
        if len(paths) != len(stmt.args) or not paths:
            self.unhandled(stmt, scope, "a route whose path is an expression")
            return
        for path in paths:
            if isinstance(path, Sym):
                if "path" in options:
                    path = str(options["path"])
                elif scope.level in ("member", "collection", "new") and path in _CANONICAL:
                    path = ""
            self.emit(methods, f"{scope.path}/{path}")

    def do_get(self, stmt, scope, options):
        self.do_match(stmt, scope, options, ["GET"])

    def do_post(self, stmt, scope, options):
        self.do_match(stmt, scope, options, ["POST"])

    def do_put(self, stmt, scope, options):
        self.do_match(stmt, scope, options, ["PUT"])

    def do_patch(self, stmt, scope, options):
        self.do_match(stmt, scope, options, ["PATCH"])

    def do_delete(self, stmt, scope, options):
        self.do_match(stmt, scope, options, ["DELETE"])


def draw(text: str, file: str = "routes.rb", include: Callable[[str], str | None] | None = None) -> Extraction:
    """The routes a routes file draws; `include` gives the text of `draw(:name)`'s file (None: not read)."""
    drawer = Drawer(file, include)
    drawer.run(parse(text), Scope())
    return drawer.out


# --- a checkout's lists -------------------------------------------------------------------------------------

def version_of(checkout: Path) -> str:
    """MAJOR.MINOR.PATCH from lib/mastodon/version.rb."""
    text = (checkout / "lib" / "mastodon" / "version.rb").read_text()
    parts = [re.search(rf"def {part}\s+(\d+)\s+end", text) for part in ("major", "minor", "patch")]
    if not all(parts):
        raise SystemExit(f"{checkout}: no version in lib/mastodon/version.rb")
    return ".".join(p[1] for p in parts)


def extract(checkout: Path) -> Extraction:
    """config/routes/api.rb whole, and config/routes.rb under ROUTES_RB_PREFIXES (its other `draw`s unread)."""
    api = draw((checkout / "config" / "routes" / "api.rb").read_text(), "config/routes/api.rb")
    main = draw((checkout / "config" / "routes.rb").read_text(), "config/routes.rb")
    out = Extraction(set(api.routes), list(api.unhandled))
    out.routes |= {(m, p) for m, p in main.routes if p.startswith(ROUTES_RB_PREFIXES)}
    # What routes.rb could not read matters only where it would draw under the kept prefixes (or at its root,
    # where a statement could draw anywhere).
    out.unhandled += [u for u in main.unhandled if u.scope == "/" or (u.scope + "/").startswith(ROUTES_RB_PREFIXES)]
    return out


def sort_key(route: tuple[str, str]) -> tuple[str, int]:
    method, path = route
    return path, METHODS.index(method)


def render(version: str, routes: set[tuple[str, str]]) -> str:
    lines = [f"# Mastodon {version}: config/routes/api.rb, and config/routes.rb under {', '.join(p.rstrip('/') for p in ROUTES_RB_PREFIXES)}",
             "# (use_doorkeeper as doorkeeper 5.x draws it). Made by `python -m mastodon_sandbox.contract.routes.extract`",
             "# from the release's source; do not edit by hand.",
             *(f"{m} {p}" for m, p in sorted(routes, key=sort_key))]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mastodon_sandbox.contract.routes.extract", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, nargs="+", help="a Mastodon source tree (a release)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="where the lists go (default: beside this file)")
    args = parser.parse_args(argv)
    for checkout in args.checkout:
        version = version_of(checkout)
        found = extract(checkout)
        target = args.out / f"mastodon-{version}.txt"
        target.write_text(render(version, found.routes))
        print(f"{target}: {len(found.routes)} routes of Mastodon {version}")
        for u in found.unhandled:
            print(f"  not understood: {u}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
