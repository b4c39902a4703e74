"""One option style for every command: snake_case names (the config fields' and TRL's), the kebab-case
spelling accepted too, and ``--config FILE.yaml``.

``cotdiag train sft|grpo`` parse their TRL config dataclasses with ``TrlParser``, which names each
option after its field (``--output_dir``), accepts ``--output-dir`` and reads ``--config FILE.yaml``.
The typer commands get the same from three pieces, stacked on each command function:

* :func:`options_from` derives the options from the command's config dataclasses (name, help,
  default and bounds from each field), so the CLI and the library share one definition;
* :class:`OptionsCommand` (``@app.command(cls=OptionsCommand)``) lists them as ``--max_new_tokens``
  and accepts ``--max-new-tokens`` too;
* :func:`command_options` adds ``--config FILE.yaml``, a file whose keys are those names (the command
  line wins over the file).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import typer
import yaml
from typer.core import TyperCommand

F = TypeVar("F", bound=Callable[..., Any])


def snake_case(opt: str) -> str:
    """The snake_case spelling of a long option name (``"--max-new-tokens"`` -> ``"--max_new_tokens"``);
    short options and plain words are returned as they are."""
    return "--" + opt[2:].replace("-", "_") if opt.startswith("--") else opt


def accept_kebab_case(args: list[str], known: set[str]) -> list[str]:
    """``args`` with each kebab-case long option that is not ``known`` but whose snake_case spelling is
    replaced by that spelling (``--max-new-tokens=4`` -> ``--max_new_tokens=4``); arguments after ``--``
    and values are kept as they are.

    Example:
        >>> accept_kebab_case(["--max-new-tokens", "4", "--out=x-y", "--", "--a-b"], {"--max_new_tokens", "--out"})
        ['--max_new_tokens', '4', '--out=x-y', '--', '--a-b']
    """
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        name, eq, value = arg.partition("=")
        if name.startswith("--") and name not in known and snake_case(name) in known:
            arg = snake_case(name) + eq + value
        out.append(arg)
    return out


def read_config_file(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> None:
    """``--config FILE.yaml``: the file's keys become the command's defaults (``ctx.default_map``).

    Keys are option names, snake_case or kebab-case; the command line overrides them.

    Raises:
        typer.BadParameter: the file is not a YAML mapping, or names options the command lacks
            (a usage error: exit code 2, one line).
    """
    if not value:
        return
    data = yaml.safe_load(Path(value).read_text()) or {}
    if not isinstance(data, dict):
        raise typer.BadParameter(f"expected a YAML mapping of option names to values, got {type(data).__name__}",
                                 param=param)
    params = {p.name: p for p in ctx.command.params if p.name and p.name != "config_file"}
    values = {str(k).replace("-", "_"): v for k, v in data.items()}
    for k, v in values.items():  # a YAML list for a comma-separated option (fractions: [0, 1])
        if isinstance(v, list) and k in params and not getattr(params[k], "multiple", False):
            values[k] = ",".join(str(x) for x in v)
    unknown = sorted(set(values) - set(params))
    if unknown:
        raise typer.BadParameter(f"{value}: unknown option(s) {', '.join(unknown)} for this command", param=param)
    ctx.default_map = {**(ctx.default_map or {}), **values}


def command_options(fn: F) -> F:
    """Add ``--config FILE.yaml`` (:func:`read_config_file`) to a typer command function's options."""
    option = typer.Option(None, "--config", is_eager=True, expose_value=False, callback=read_config_file,
                          exists=True, dir_okay=False,
                          help="YAML file of option values (keys: the option names); the command line overrides it.")
    sig = inspect.signature(fn, eval_str=True)
    extra = inspect.Parameter("config_file", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Path | None)

    @functools.wraps(fn)
    def command(*args: Any, config_file: Any = None, **kwargs: Any) -> Any:  # the file was read by the callback
        return fn(*args, **kwargs)

    command.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])  # type: ignore[attr-defined]
    return command  # type: ignore[return-value]


class OptionsCommand(TyperCommand):
    """A typer command whose options are named in snake_case, the kebab-case spelling accepted
    (see the module docstring). Use it as ``@app.command(cls=OptionsCommand)`` over :func:`command_options`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for p in self.params:
            if getattr(p, "opts", None) is not None:
                p.opts = list(dict.fromkeys(snake_case(o) for o in p.opts))
                p.secondary_opts = list(dict.fromkeys(snake_case(o) for o in p.secondary_opts))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Click's parsing, after :func:`accept_kebab_case`."""
        known = {o for p in self.params for o in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))}
        return super().parse_args(ctx, accept_kebab_case(list(args), known))


def _choice_parser(name: str, choices: Sequence[str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise typer.BadParameter(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    parse.__name__ = name
    return parse


def _option(f: dataclasses.Field, hint: Any, aliases: Sequence[str]) -> tuple[Any, Any]:
    """``(annotation, typer.Option)`` of one dataclass field: a tuple field is a comma-separated string,
    a list field a repeatable option, a field with ``choices`` metadata is checked against them."""
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        default = ...
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1 else hint
    if typing.get_origin(base) is tuple:
        base, default = str, ",".join(str(x) for x in default) if default is not ... else default
    decls = [f"--{f.name}/--no_{f.name}"] if base is bool else [f"--{f.name}", *aliases]
    kw = {k: f.metadata[k] for k in ("min", "max", "metavar") if k in f.metadata}
    if "choices" in f.metadata:
        kw.update(parser=_choice_parser(f.name, f.metadata["choices"]), metavar="<" + "|".join(f.metadata["choices"]) + ">")
    option = typer.Option(default, *decls, help=f.metadata.get("help"), show_default=default not in (None, []), **kw)
    optional = default is not ... and default is None
    return (base | None if optional else base), option


def _as_field_value(hint: Any, value: Any) -> Any:
    """A comma-separated option value back as the tuple the field holds (``"0,0.5"`` -> ``(0.0, 0.5)``)."""
    if typing.get_origin(hint) is tuple and isinstance(value, str):
        item = (typing.get_args(hint) or (str,))[0]
        return tuple(item(v.strip()) for v in value.split(",") if v.strip())
    return value


def options_from(aliases: Mapping[str, Sequence[str]] | None = None, **configs: type) -> Callable[[F], F]:
    """Derive a typer command's options from config dataclasses, as TRL's parser does for ``train``.

    ``@options_from(config=DiagnoseConfig)`` gives the command one option per field of
    ``DiagnoseConfig`` (``--field_name``, help, default and ``min``/``max`` from the field's metadata;
    ``bool`` fields as ``--name/--no_name``; ``tuple`` fields as comma-separated values) and calls the
    function with ``config=DiagnoseConfig(...)`` instead. A field name shared by several configs is one
    option given to each. The function's own parameters stay options as they are.

    Args:
        aliases: more option names for a field (``{"offline_states": ["--states"]}``).
        configs: ``name=DataclassType``: the keyword the function receives each instance under.

    Raises:
        cotdiag.error.InvalidConfigError: at call time, a value the config rejects (its ``__post_init__``).
    """
    aliases = dict(aliases or {})

    def decorate(fn: F) -> F:
        fields: dict[str, tuple[dataclasses.Field, Any]] = {}
        owners: dict[str, list[tuple[str, Any]]] = {}
        for into, cls in configs.items():
            hints = typing.get_type_hints(cls)
            for f in dataclasses.fields(cls):
                if f.init:
                    fields.setdefault(f.name, (f, hints[f.name]))
                    owners.setdefault(into, []).append((f.name, hints[f.name]))
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name not in configs]
        derived = []
        for name, (f, hint) in fields.items():
            annotation, option = _option(f, hint, aliases.get(name, ()))
            derived.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation))

        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in fields}
            for into, cls in configs.items():
                kwargs[into] = cls(**{n: _as_field_value(h, values[n]) for n, h in owners[into]})
            return fn(*args, **kwargs)

        command.__signature__ = sig.replace(parameters=[*own, *derived])  # type: ignore[attr-defined]
        return command  # type: ignore[return-value]

    return decorate
