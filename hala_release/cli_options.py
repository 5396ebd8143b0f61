"""Typer commands generated from option models (the way mergekit builds its flags from one options model).

Each field of a pydantic model becomes one parameter: its description is the help, its default the default, and
`json_schema_extra={"cli": {...}}` holds the hints a flag needs beyond that:
  argument  positional instead of an option
  optional  required by the model but optional on the command line (a `--list`-style flag needs none)
  flags     the option's names when they differ from the field's, e.g. "--judge" or "--published/--no-published"
  comma     the command line takes one comma-separated value for a list field (--directions en-ar,ar-en)
  key       the field is a sub-model and the option sets this one key of it (--quality-gates: gates.enabled)
  deprecated_flags  old names still accepted (hidden from --help); using one prints a one-line notice naming the
            new flag, e.g. ["--push-results"] on eval's --push-to-hub
`"cli": False` keeps a field out of the command line (recipes and Python only).
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, Callable

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from hala_release.core.errors import UsageError

# The only options not read from a model: these say what to list or print, not how to build anything.
UTILITY_OPTIONS = ("--help", "--version", "--list", "--list-tasks")


def hints(field: FieldInfo) -> dict[str, Any] | None:
    """A field's command-line hints; None when it has no flag."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    value = extra.get("cli", {})
    return None if value is False else dict(value)


def cli_fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """The fields of `model` that are command-line parameters."""
    return {name: field for name, field in model.model_fields.items() if hints(field) is not None}


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _default(field: FieldInfo) -> Any:
    if field.is_required():
        return ...
    return field.get_default(call_default_factory=True)


def _cli_type(field: FieldInfo, hint: dict[str, Any]) -> tuple[Any, Any]:
    """The parameter's type and default on the command line."""
    annotation, default = _strip_optional(field.annotation), _default(field)
    if hint.get("key"):
        sub = annotation.model_fields[hint["key"]]
        return _strip_optional(sub.annotation), sub.get_default(call_default_factory=True)
    if hint.get("comma"):
        return str, (",".join(default) if default not in (..., None) and default else None)
    if typing.get_origin(annotation) in (list, tuple):
        return list[typing.get_args(annotation)[0]], list(default) if default not in (..., None) else default
    if hint.get("optional"):
        return annotation, None
    return annotation, default


def parameter(name: str, field: FieldInfo) -> inspect.Parameter:
    """One Typer parameter for one model field."""
    if not field.description:
        raise TypeError(f"option {name!r} has no help text: give its field a description")
    hint = hints(field)
    annotation, default = _cli_type(field, hint)
    if hint.get("argument"):
        info = typer.Argument(default, help=field.description)
    else:
        flags = hint.get("flags")
        info = typer.Option(default, *([flags] if isinstance(flags, str) else flags or []), help=field.description)
    if default is None:
        annotation = typing.Optional[annotation]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def deprecated_parameters(name: str, field: FieldInfo) -> list[inspect.Parameter]:
    """Hidden parameters for a field's old flag names (`deprecated_flags`), each named `<field>__<n>`."""
    flags = hints(field).get("deprecated_flags") or []
    annotation, _ = _cli_type(field, hints(field))
    return [inspect.Parameter(f"{name}__{n}", inspect.Parameter.KEYWORD_ONLY, annotation=typing.Optional[annotation],
                              default=typer.Option(None, flag, hidden=True, help=field.description))
            for n, flag in enumerate(flags)]


def take_deprecated(model: type[BaseModel], given: dict[str, Any]) -> None:
    """Move values given under a deprecated flag to their field, with a one-line notice on stderr."""
    for name, field in cli_fields(model).items():
        for n, flag in enumerate(hints(field).get("deprecated_flags") or []):
            value = given.pop(f"{name}__{n}", None)
            if value in (None, [], ()):
                continue
            new = _flags(name, field)[0]
            typer.echo(f"note: {flag} is deprecated and will be removed; use {new}", err=True)
            if given.get(name) not in (None, _cli_type(field, hints(field))[1]):
                raise UsageError(f"{flag} and {new} are the same option: give only {new}")
            given[name] = value


def _flags(name: str, field: FieldInfo) -> list[str]:
    """An option's names: its `flags` hint, else the field name as a flag."""
    flags = hints(field).get("flags")
    names = [flags] if isinstance(flags, str) else list(flags or [])
    return [part.split("/")[0] for part in names] or ["--" + name.replace("_", "-")]


def values_from_cli(model: type[BaseModel], given: dict[str, Any]) -> dict[str, Any]:
    """The model's input from the parsed command line: comma lists split, sub-model keys nested; an option left at
    None where the model has no None (`optional`, `comma`) is left out, so the model's default or error applies."""
    values: dict[str, Any] = {}
    for name, field in cli_fields(model).items():
        hint, value = hints(field), given[name]
        if value is None and (hint.get("optional") or hint.get("comma")):
            continue  # the model's own default (an empty list for a comma list), or missing
        if hint.get("comma"):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if hint.get("key"):
            value = {hint["key"]: value}
        values[name] = value
    return values


def command(app: typer.Typer, name: str, model: type[BaseModel], *, epilog: str, raw: bool = False,
            utility: dict[str, tuple[Any, Any]] | None = None, pass_context: bool = False,
            context_settings: dict | None = None) -> Callable[[Callable], Callable]:
    """Register the decorated handler as command `name`, its options generated from `model`.

    The handler gets the validated config (or, with `raw`, the model's input as a dict, for commands that check
    `utility` flags before a config exists), then the `utility` flags by name, then `ctx=` with `pass_context`.
    Its docstring is the command's help.
    """
    utility = utility or {}

    def decorator(handler: Callable) -> Callable:
        params = [parameter(field_name, field) for field_name, field in cli_fields(model).items()]
        params += [old for field_name, field in cli_fields(model).items()
                   for old in deprecated_parameters(field_name, field)]
        params += [inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=kind)
                   for key, (kind, info) in utility.items()]
        if pass_context:
            params.insert(0, inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                               annotation=typer.Context))
        # Arguments keep their order; Typer reads positional order from the signature.
        params.sort(key=lambda p: 0 if isinstance(p.default, typer.models.ArgumentInfo) or p.name == "ctx" else 1)

        def callback(**given: Any) -> None:
            ctx = given.pop("ctx", None)
            flags = {key: given.pop(key) for key in utility}
            take_deprecated(model, given)
            values = values_from_cli(model, given)
            config = values if raw else model.model_validate(values)
            handler(config, **flags, **({"ctx": ctx} if pass_context else {}))

        callback.__signature__ = inspect.Signature(params)
        callback.__annotations__ = {p.name: p.annotation for p in params}
        callback.__doc__ = handler.__doc__
        callback.__name__ = handler.__name__
        callback.model = model
        app.command(name, epilog=epilog, context_settings=context_settings)(callback)
        return handler

    return decorator
