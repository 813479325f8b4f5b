"""The configuration's key paths, walked from the pydantic models, as docs/configuration.md
names them: dotted field names from `Config`, `<name>` for the key of a mapping of sections
(`regions.<name>.address`), and `[]` for the items of a list (`checks.https.requests[].name`)."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from monitor.config import Config


def model_keys(
    model: type[BaseModel] = Config, prefix: str = ""
) -> Iterator[tuple[str, FieldInfo]]:
    """Every key path of `model`, with its field, parents before children."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path, field
        inner = _section(field.annotation, path)
        if inner is not None:
            yield from model_keys(*inner)


def _section(annotation: object, path: str) -> tuple[type[BaseModel], str] | None:
    """The model nested under a key (through `| None`, `list[...]`, `dict[str, ...]`) and the
    prefix of its keys; None for a scalar key."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, f"{path}."
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list:
        return _section(args[0], f"{path}[]")
    if origin is dict:
        return _section(args[1], f"{path}.<name>")
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is not type(None):
                found = _section(arg, path)
                if found is not None:
                    return found
    return None


def annotation_metadata(field: FieldInfo) -> list[object]:
    """The Annotated metadata of a field, including inside `X | None`."""
    found = list(field.metadata)
    for part in (field.annotation, *typing.get_args(field.annotation)):
        found += getattr(part, "__metadata__", ())
    return found
