"""Generate the reference pages from the code, so they cannot drift from it.

    python docs/reference/generate.py          # rewrite every generated page
    python docs/reference/generate.py --check  # exit 1, naming the stale pages
    python docs/reference/generate.py --bench run.json  # record an `evstore bench --json` run

- ``docs/reference/api.md``: the public Python API of ``evstore`` (its ``__all__``),
  ``evstore.testing`` and ``evstore.testing.strategies``, from signatures as written in
  the source and from the docstrings.
- ``docs/reference/plugins-api.md``: the same for our plugins and the supervisor facade.
- ``docs/reference/cli.md``: every command and option of ``evstore``, read from click,
  plugin commands included (with all our plugins installed, as ``make install`` does).
- ``docs/hooks.md``: the hook reference (``evstore.testing.hookdoc``).
- ``docs/reference/event-types.md``: the event types of the six first-party plugins,
  as ``evstore types --json`` describes them (plugin, required fields, payload schema).
- the table of ``docs/performance.md``, from the recorded ``evstore bench --json`` run
  in ``docs/reference/bench.json`` (the rest of that page is written by hand).

Signatures and constants are taken from the source text (ast), never from ``repr``, so
the pages are the same on every machine and run. tests/test_docs.py regenerates them and
fails when a committed page differs.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[2]
GENERATED_BY = "python docs/reference/generate.py"
KERNEL_MODULES = ["evstore", "evstore.cli", "evstore.testing", "evstore.testing.strategies"]
PLUGIN_MODULES = ["evstore_workflows", "evstore_steps", "evstore_features", "evstore_checkpoints",
                  "evstore_metrics", "evstore_graph", "evstore_supervisor", "evstore_supervisor.strategies"]


def first_party_plugins() -> list[str]:
    """The entry-point names of the plugins in this repository (``plugins/*``, the
    template aside): a new one's commands are documented without editing this file."""
    names: list[str] = []
    for pyproject in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        if not pyproject.parent.name.startswith("_"):
            names += tomllib.loads(pyproject.read_text())["project"].get("entry-points", {}).get("evstore", {})
    return sorted(names)


# The plugins whose commands the CLI page documents (a third party's installed next to
# them must not change the page).
COMMAND_PLUGINS = first_party_plugins()
# The plugins whose event types the catalogue documents (the facade declares the original's).
EVENT_TYPE_PLUGINS = [name for name in COMMAND_PLUGINS if name != "supervisor"]
_FIELD = re.compile(r"^:(?P<kind>param|returns?|raises)(?: (?P<name>[\w.]+))?:\s*(?P<text>.*)$")


def header(title: str, source: str) -> list[str]:
    return [
        f"# {title}",
        "",
        f"<!-- Generated from {source} by `{GENERATED_BY}`; do not edit by hand:",
        "     tests/test_docs.py fails when this page and the code differ. -->",
        "",
    ]


# --- docstrings ------------------------------------------------------------------------


def inline(text: str) -> str:
    """reStructuredText inline markup as Markdown: ``x`` and :role:`x` become `x`."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def render_docstring(docstring: str | None) -> str:
    """Prose paragraphs, then parameters, return value and exceptions as lists; ``::``
    literal blocks become Python code blocks."""
    lines = inspect.cleandoc(docstring or "").splitlines()
    prose: list[str] = []
    fields: dict[str, list[str]] = {"param": [], "returns": [], "raises": []}
    i = 0
    while i < len(lines):
        line = lines[i]
        field = _FIELD.match(line)
        if field:
            text = [field["text"]]
            while i + 1 < len(lines) and lines[i + 1].startswith("    "):
                i += 1
                text.append(lines[i].strip())
            joined = inline(" ".join(t for t in text if t))
            kind = "returns" if field["kind"].startswith("return") else field["kind"]
            fields[kind].append(f"- `{field['name']}`: {joined}" if field["name"] else joined)
        elif line.rstrip().endswith("::"):
            prose.append(inline(line.rstrip()[:-1]))
            block: list[str] = []
            while i + 1 < len(lines) and (not lines[i + 1].strip() or lines[i + 1].startswith("    ")):
                i += 1
                block.append(lines[i][4:])
            prose += ["", "```python", *_trim(block), "```", ""]
        else:
            prose.append(inline(line))
        i += 1
    sections = [re.sub(r"\n{3,}", "\n\n", "\n".join(prose)).strip()]
    if fields["param"]:
        sections.append("**Parameters**\n\n" + "\n".join(fields["param"]))
    if fields["returns"]:
        sections.append("**Returns:** " + " ".join(fields["returns"]))
    if fields["raises"]:
        sections.append("**Raises**\n\n" + "\n".join(fields["raises"]))
    return "\n\n".join(s for s in sections if s)


def _trim(block: list[str]) -> list[str]:
    while block and not block[-1].strip():
        block.pop()
    while block and not block[0].strip():
        block.pop(0)
    return block


# --- the Python API --------------------------------------------------------------------


def public_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items() if not n.startswith("_") and _defined_in(v, module)]
    return [n for n in names if n != "__version__"]


def _defined_in(value: Any, module: ModuleType) -> bool:
    defines = inspect.isclass(value) or inspect.isfunction(value)
    return defines and getattr(value, "__module__", None) == module.__name__


def source_module(module: ModuleType, name: str) -> ModuleType:
    """The module whose source defines ``name``, following ``from .x import name``."""
    tree = ast.parse(inspect.getsource(module))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(alias.name == name for alias in node.names):
            package = module.__name__ if hasattr(module, "__path__") else module.__name__.rpartition(".")[0]
            target = importlib.import_module("." * node.level + (node.module or ""), package) if node.level else (
                importlib.import_module(node.module or "")
            )
            return source_module(target, name) if target.__name__.startswith(module.__name__.split(".")[0]) else target
    lazy = getattr(module, "_LAZY", {})
    if name in lazy:  # evstore.testing loads its names lazily
        return source_module(importlib.import_module(lazy[name], module.__name__), name)
    return module


def assignment_source(module: ModuleType, name: str) -> str | None:
    """``NAME = value`` (or ``NAME: type = value``) as written at the top of the module."""
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return f"{name} = {_short(ast.unparse(node.value))}"
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            value = f" = {_short(ast.unparse(node.value))}" if node.value else ""
            return f"{name}: {ast.unparse(node.annotation)}{value}"
    return None


def _short(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


def signature(node: ast.FunctionDef | ast.AsyncFunctionDef, name: str | None = None, *, drop_self: bool = False) -> str:
    """``name(parameters) -> returns`` as in the source, one parameter a line when long."""
    parts = _parameters(node.args)[1 if drop_self else 0:]
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    text = f"{name or node.name}({', '.join(parts)}){returns}"
    if len(text) <= 100:
        return text
    return f"{name or node.name}(\n" + "".join(f"    {p},\n" for p in parts) + f"){returns}"


def _parameters(args: ast.arguments) -> list[str]:
    """Each parameter as PEP 8 writes it (``x: int = 1``, ``x=1``), with ``/`` and ``*``."""

    def one(arg: ast.arg, default: ast.expr | None, prefix: str = "") -> str:
        text = prefix + arg.arg + (f": {ast.unparse(arg.annotation)}" if arg.annotation else "")
        if default is not None:
            text += f" = {ast.unparse(default)}" if arg.annotation else f"={ast.unparse(default)}"
        return text

    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parts = [one(a, d) for a, d in zip(positional, defaults, strict=True)]
    if args.posonlyargs:
        parts.insert(len(args.posonlyargs), "/")
    if args.vararg:
        parts.append(one(args.vararg, None, "*"))
    elif args.kwonlyargs:
        parts.append("*")
    parts += [one(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    if args.kwarg:
        parts.append(one(args.kwarg, None, "**"))
    return parts


def node_of(obj: Any) -> ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef:
    """The definition of ``obj`` in its module's source, found by qualified name (a
    decorator such as hypothesis' ``composite`` leaves no source of its own)."""
    qualname = obj.__qualname__ if "<locals>" not in obj.__qualname__ else obj.__name__
    body: list[ast.stmt] = ast.parse(inspect.getsource(sys.modules[obj.__module__])).body
    for part in qualname.split("."):
        found = [n for n in body if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                 and n.name == part]
        assert found, f"no definition of {qualname} in {obj.__module__}"
        node = found[-1]
        body = node.body
    return node


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {ast.unparse(d).split("(")[0].rsplit(".", 1)[-1] for d in node.decorator_list}


def render_function(name: str, obj: Any, level: str) -> list[str]:
    node = node_of(obj)
    assert not isinstance(node, ast.ClassDef)
    # A hypothesis composite strategy is called without its first parameter, draw.
    drop_draw = "composite" in _decorators(node)
    shown = "".join(f"@{ast.unparse(d)}\n" for d in node.decorator_list if "composite" not in ast.unparse(d))
    return [f"{level} `{name}()`", "", "```python", shown + signature(node, name, drop_self=drop_draw), "```", "",
            render_docstring(ast.get_docstring(node)), ""]


def render_class(name: str, cls: type, level: str) -> list[str]:
    node = node_of(cls)
    assert isinstance(node, ast.ClassDef)
    bases = ", ".join(ast.unparse(b) for b in node.bases + node.keywords)  # type: ignore[operator]
    code = [f"class {name}({bases})" if bases else f"class {name}"]
    fields = [ast.unparse(n) for n in node.body if isinstance(n, ast.AnnAssign)
              and isinstance(n.target, ast.Name) and not n.target.id.startswith("_") and n.target.id != "model_config"]
    # Enum members and class constants, as assigned in the body.
    fields += [_short(ast.unparse(n)) for n in node.body if isinstance(n, ast.Assign) and all(
        isinstance(t, ast.Name) and not t.id.startswith("_") and t.id != "model_config" for t in n.targets)]
    code += [f"    {f}" for f in fields]
    out = [f"{level} `{name}`", "", "```python", *code, "```", "", render_docstring(ast.get_docstring(node)), ""]
    for member in node.body:
        if not isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        decorators = _decorators(member)
        if member.name == "__init__":
            title, text = f"`{name}(...)`", signature(member, name, drop_self=True)
        elif member.name.startswith("_") or "overload" in decorators:
            continue
        elif "property" in decorators or "cached_property" in decorators:
            returns = f": {ast.unparse(member.returns)}" if member.returns else ""
            title, text = f"`{name}.{member.name}`", f"{member.name}{returns}  # property"
        else:
            static = "staticmethod" in decorators
            shown = "".join(f"@{ast.unparse(d)}\n" for d in member.decorator_list)
            title, text = f"`{name}.{member.name}()`", shown + signature(member, drop_self=not static)
        out += [f"{level}# {title}", "", "```python", text, "```", ""]
        docstring = render_docstring(ast.get_docstring(member))
        out += [docstring, ""] if docstring else []
    return out


def render_constant(name: str, module: ModuleType, value: Any, level: str) -> list[str]:
    text = assignment_source(source_module(module, name), name) or f"{name}: {type(value).__name__}"
    return [f"{level} `{name}`", "", "```python", text, "```", ""]


def kind_of(value: Any) -> str:
    if inspect.isclass(value):
        return "Exceptions" if issubclass(value, BaseException) else "Classes"
    if inspect.isfunction(inspect.unwrap(value)):
        return "Functions"
    if inspect.ismodule(value):
        return "Modules"
    return "Constants"


def render_module(module_name: str, level: str = "##") -> list[str]:
    module = importlib.import_module(module_name)
    out = [f"{level} `{module_name}`", "", render_docstring(module.__doc__), ""]
    groups: dict[str, list[str]] = {}
    for name in public_names(module):
        groups.setdefault(kind_of(getattr(module, name)), []).append(name)
    for group in ("Classes", "Functions", "Exceptions", "Constants", "Modules"):
        names = sorted(groups.get(group, []), key=str.lower)
        if not names:
            continue
        out += [f"{level}# {group} of `{module_name}`", ""]
        for name in names:
            value = getattr(module, name)
            if group == "Modules":
                out += [f"- `{name}`: see [`{value.__name__}`](#{value.__name__.replace('.', '')})", ""]
            elif group in ("Classes", "Exceptions"):
                out += render_class(name, value, level + "##")
            elif group == "Functions":
                out += render_function(name, value, level + "##")
            else:
                out += render_constant(name, module, value, level + "##")
    return out


def api_page() -> str:
    out = header("Python API reference", "the docstrings and signatures of evstore and evstore.testing")
    out += [
        "The public names of the kernel (`evstore`, its `__all__`) and of the test kit",
        "(`evstore.testing`, `evstore.testing.strategies`). Modules whose names start with `_`",
        "are private and may change in any release. The plugins' APIs are in",
        "[the plugin API reference](plugins-api.md), the hooks in [the hook reference](../hooks.md).",
        "",
    ]
    for name in KERNEL_MODULES:
        out += render_module(name)
    return _page(out)


def plugins_api_page() -> str:
    out = header("Plugin API reference", "the docstrings and signatures of our plugins")
    out += [
        "The public names (`__all__`) of our six projection plugins and of the supervisor",
        "facade; each is a distribution of its own (`evstore-<name>`, imported as",
        "`evstore_<name>`). The kernel's API is in [the Python API reference](api.md).",
        "",
    ]
    for name in PLUGIN_MODULES:
        out += render_module(name)
    return _page(out)


# --- the command line ------------------------------------------------------------------


def plugin_commands(root: click.Group) -> dict[str, str]:
    """Command name -> the distribution of the plugin that adds it."""
    import importlib_metadata

    points = {ep.name: ep for ep in importlib_metadata.entry_points(group="evstore")}
    owners: dict[str, str] = {}
    with _plugins_selected(""):
        builtin = set(root.list_commands(click.Context(root)))
    for plugin in COMMAND_PLUGINS:
        with _plugins_selected(plugin):
            added = set(root.list_commands(click.Context(root))) - builtin
        dist = points[plugin].dist if plugin in points else None
        for name in added:
            owners[name] = dist.name if dist is not None else f"evstore-{plugin}"
    return owners


@contextlib.contextmanager
def _plugins_selected(selection: str) -> Iterator[None]:
    """Load exactly ``selection`` (``EVSTORE_PLUGINS``) within the block."""
    names = ("EVSTORE_PLUGINS", "EVSTORE_DISABLE_PLUGINS", "EVSTORE_DISABLE_PLUGIN_AUTOLOAD")
    saved = {name: os.environ.pop(name, None) for name in names}
    os.environ["EVSTORE_PLUGINS"] = selection
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


def _param_type(param: click.Parameter) -> str:
    kind = param.type
    if isinstance(kind, click.Choice):
        return " \\| ".join(f"`{c}`" for c in kind.choices)
    if isinstance(kind, click.IntRange | click.FloatRange):
        bounds = []
        if kind.min is not None:
            bounds.append(f"{'>' if kind.min_open else '>='} {kind.min}")
        if kind.max is not None and kind.max < sys.maxsize:
            bounds.append(f"{'<' if kind.max_open else '<='} {kind.max}")
        return f"{kind.name.replace(' range', '')} {', '.join(bounds)}".strip()
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    return kind.name.replace("|", "\\|")


def _default(param: click.Parameter) -> str:
    value = param.default
    # click 8.3+ marks "no default" with a sentinel object.
    unset = type(value).__name__ in ("Sentinel", "_Missing") or callable(value)
    if value is None or value is False or value == () or unset:
        return ""
    return f"`{value}`"


def _option_row(param: click.Option) -> str:
    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    notes = []
    if param.multiple:
        notes.append("repeatable")
    if param.required:
        notes.append("required")
    if param.envvar:
        envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
        notes.append("env " + ", ".join(f"`{e}`" for e in envvars))
    if param.hidden:
        notes.append("not listed by `--help`")
    help_text = inline((param.help or "").replace("\n", " ").replace("|", "\\|"))
    if notes:
        help_text += f" ({'; '.join(notes)})"
    return f"| {names} | {_param_type(param)} | {_default(param)} | {help_text.strip()} |"


def usage(path: str, command: click.Command) -> str:
    pieces = []
    if any(isinstance(p, click.Option) for p in command.params):
        pieces.append("[OPTIONS]")
    for param in command.params:
        if isinstance(param, click.Argument):
            name = (param.metavar or param.name or "").upper()
            name = f"{name}..." if param.nargs == -1 else name
            pieces.append(name if param.required else f"[{name}]")
    if isinstance(command, click.Group):
        pieces.append("COMMAND [ARGS]...")
    return " ".join([path, *pieces])


def help_text(command: click.Command) -> str:
    """The help as Markdown paragraphs; a paragraph click keeps as written (its first
    line is ``\\b``) becomes a text block, so its columns survive."""
    text = inspect.cleandoc((command.help or "").split("\f")[0])
    out = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = paragraph.splitlines()
        if lines and lines[0].strip() == "\b":
            out.append("\n".join(["```text", *lines[1:], "```"]))
        else:
            out.append(inline(paragraph))
    return "\n\n".join(out)


def render_command(path: str, command: click.Command, owner: str | None) -> list[str]:
    out = [f"## `{path}`", ""]
    if owner:
        out += [f"Added by the `{owner}` plugin.", ""]
    out += ["```sh", usage(path, command), "```", "", help_text(command), ""]
    if command.epilog:
        out += [inline(inspect.cleandoc(command.epilog)), ""]
    options = [p for p in command.params if isinstance(p, click.Option)]
    if options:
        out += ["| option | value | default | meaning |", "| --- | --- | --- | --- |"]
        out += [_option_row(p) for p in options]
        out += ["| `--help` | flag | | Show the command's help and exit. |", ""]
    return out


def cli_page() -> str:
    from evstore._cli import cli

    owners = plugin_commands(cli)
    with _plugins_selected(",".join(COMMAND_PLUGINS)):
        commands = dict(subcommands(cli))
    out = header("Command-line reference", "the click commands of evstore and of our plugins")
    out += [
        "Every command of `evstore` and every option, with the plugins of `evstore[all]`",
        "installed. `evstore COMMAND --help` prints the same text (options it does not list",
        "say so). Commands that a plugin adds say which; they are there only when that plugin",
        "is installed and loaded.",
        "",
        "| command | what it does |",
        "| --- | --- |",
    ]
    for name, command in commands.items():
        if " " not in name:  # a group's own commands are listed in its section
            summary = inline(command.get_short_help_str(limit=200)).replace("|", "\\|")
            out.append(f"| [`{name}`](#evstore-{name.replace(' ', '-')}) | {summary} |")
    out += [""]
    out += render_command("evstore", cli, None)
    for name, command in commands.items():
        out += render_command(f"evstore {name}", command, owners.get(name.split()[0]))
    return _page(out)


def subcommands(group: click.Group, parent: click.Context | None = None) -> Iterator[tuple[str, click.Command]]:
    """Every command under ``group``, a group's own commands after it, as (path, command):
    ``("events", ...)``, ``("projections rebuild", ...)`` for a nested group's."""
    ctx = click.Context(group, parent=parent, info_name=group.name if parent else "evstore")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield name, command
        if isinstance(command, click.Group):
            yield from ((f"{name} {path}", sub) for path, sub in subcommands(command, ctx))


# --- the pages -------------------------------------------------------------------------


def _page(lines: list[str]) -> str:
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def hooks_page() -> str:
    from evstore.testing import hookdoc

    return hookdoc.generate()


# --- the event types ---------------------------------------------------------------------


def event_types_page() -> str:
    import json

    from evstore._cli.types import describe_event_types, payload_fields

    with _plugins_selected(",".join(EVENT_TYPE_PLUGINS)):
        described, problems = describe_event_types()
    assert not problems, problems
    out = header("Event types", "the event types the first-party plugins declare")
    out += [
        "Every event type the first-party plugins declare",
        f"({', '.join(f'evstore-{p}' for p in EVENT_TYPE_PLUGINS)}): the plugin",
        "declaring it, the envelope fields every event of the type must set (a non-empty",
        "string), the payload's fields and JSON schema (from its pydantic model; a payload is",
        "validated against it on append), and the projections and reactors that handle it.",
        "`evstore types [NAME...] [--json]` prints the same for the plugins installed",
        "where you run it, yours included.",
        "",
        "| event type | plugin | requires | payload | handled by |",
        "| --- | --- | --- | --- | --- |",
    ]
    for item in described:
        out.append(
            f"| [`{item['name']}`](#{item['name']}) | {item['plugin']} | {', '.join(item['requires']) or '-'} | "
            f"{item['payload_model'] or '-'} | {', '.join(item['projections'] + item['reactors']) or '-'} |"
        )
    for item in described:
        out += ["", f"## `{item['name']}`", ""]
        if item["description"]:
            out += [inline(item["description"][:1].upper() + item["description"][1:]) + ".", ""]
        requires = ", ".join(f"`{field}`" for field in item["requires"]) or "none"
        handled = ", ".join(f"`{name}`" for name in item["projections"] + item["reactors"]) or "nothing here"
        out += [
            f"Declared by plugin `{item['plugin']}` ({item['distribution']}). Required envelope fields: "
            f"{requires}. Handled by {handled}.",
            "",
        ]
        fields = payload_fields(item["payload_schema"])
        if item["payload_schema"] is None:
            out += ["Payload: any JSON object (no model)."]
            continue
        out += [f"Payload: `{item['payload_model']}`.", ""]
        if fields:
            out += ["| field | type | required | description |", "| --- | --- | --- | --- |"]
            out += [
                f"| `{name}` | {kind.replace('|', chr(92) + '|')} | {'yes' if required else 'no'} | {inline(text)} |"
                for name, kind, required, text in fields
            ]
            out += [""]
        out += ["```json", json.dumps(item["payload_schema"], indent=2), "```"]
    return _page(out)


# --- the performance page's table ---------------------------------------------------------

BENCH_RUN = "docs/reference/bench.json"
_BENCH_TABLE = re.compile(r"(<!-- bench-table:start -->\n).*?(<!-- bench-table:end -->)", re.DOTALL)


def bench_table(report: dict[str, Any]) -> str:
    """The table ``evstore bench`` prints, as Markdown, from its ``--json`` output."""

    def rate(value: float) -> str:
        return f"{value:,.0f}/s"

    def target(result: dict[str, Any]) -> str:
        if result["target"] is None:
            return ""
        if result["target_unit"] == "seconds":
            return f"≤ {result['target']:.2f}s"
        return "≥ " + (rate(result["target"]) if result["target_unit"] == "events/s" else f"{result['target']:.2f}x")

    def measured(result: dict[str, Any]) -> tuple[str, str, str]:
        raw, ours = result["raw"]["median"], result["evstore"]["median"]
        if result["kind"] == "lag":  # raw holds the median lag, evstore the largest
            return f"median {raw:.3f}s", f"max {ours:.3f}s", ""
        if result["kind"] == "growth":
            return f"{raw:.2f}x", f"{ours:.2f}x", f"{result['ratio']:.2f}x"
        return rate(raw), rate(ours), f"{result['ratio']:.2f}x"

    lines = ["| workload | raw | evstore | ratio | target | met? |", "| --- | ---: | ---: | ---: | ---: | :---: |"]
    for result in report["results"]:
        if result["skipped"]:
            lines.append(f"| {result['label']} | | | | {target(result)} | skipped |")
            continue
        met = {None: "", True: "yes", False: "**no**"}[result["met"]]
        cells = [result["label"], *measured(result), target(result), met]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", (
        f"Events/s, median of {report['rounds']} interleaved rounds{' (--quick)' if report['quick'] else ''}; "
        "ratio = evstore/raw, except the growth rows (each side's rate with the large store, or 8 "
        "writers, over its rate with the small one, or 1 writer). The rebuild row's raw column is the "
        "same rebuild through the per-event handlers only. Rows \"vs original\" compare the "
        "facade with the original supervisor; lag rows give seconds from commit until the async "
        "projections applied the events. Appends at normal durability unless marked (full). "
        f"evstore {report['evstore_version']}, Python {report['python_version']}, SQLite {report['sqlite_version']}, "
        f"{report['platform']}, {report['cpu_count']} cores; the run took {report['seconds']:.0f} s."
    )]
    return "\n".join(lines) + "\n"


def performance_page() -> str:
    """docs/performance.md with its table rendered from the recorded run."""
    import json

    page = (ROOT / "docs" / "performance.md").read_text()
    table = bench_table(json.loads((ROOT / BENCH_RUN).read_text()))
    if not _BENCH_TABLE.search(page):
        raise SystemExit("docs/performance.md lost its <!-- bench-table:start --> / end markers")
    return _BENCH_TABLE.sub(lambda m: m[1] + table + m[2], page)


PAGES: dict[str, Callable[[], str]] = {
    "docs/reference/api.md": api_page,
    "docs/reference/plugins-api.md": plugins_api_page,
    "docs/reference/cli.md": cli_page,
    "docs/hooks.md": hooks_page,
    "docs/reference/event-types.md": event_types_page,
    "docs/performance.md": performance_page,
}


def stale_pages() -> list[str]:
    return [path for path, make in PAGES.items() if (ROOT / path).read_text() != make()]


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        stale = stale_pages()
        for path in stale:
            print(f"{path} is out of date: run `{GENERATED_BY}`", file=sys.stderr)
        return 1 if stale else 0
    if len(argv) == 2 and argv[0] == "--bench":
        # Record a new run: `evstore bench --json > run.json`, then --bench run.json.
        (ROOT / BENCH_RUN).write_text(Path(argv[1]).read_text())
        argv = []
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    for path, make in PAGES.items():
        (ROOT / path).write_text(make())
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
