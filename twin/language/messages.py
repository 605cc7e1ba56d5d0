"""Messages for validation errors: the field path in the file's own terms, and "did you mean"
hints read off the schema (so a plug-in's fields get them too)."""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from twin.errors import Loc
from twin.language.yamlio import line_of
from twin.registry import did_you_mean


def _clean_loc(data: Any, loc: Sequence[str | int]) -> Loc:
    """Drop the union tags pydantic puts in error paths, keeping only real keys of ``data``."""
    out: list[str | int] = []
    node = data
    for part in loc:
        present = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
        if present:
            out.append(part)
            node = node[part]
        elif isinstance(node, dict | list) and part not in ("function-before", "function-after"):
            # a tag of a discriminated union ('exponential', 'machine'), or a missing field
            if isinstance(node, dict) and isinstance(part, str) and _is_tag(node, part):
                continue
            if isinstance(part, str) and len(part) > 1 and (part[0].isupper() or "[" in part):
                continue  # a member of a union (``Failures``, ``list[FailureMode]``)
            out.append(part)
            node = None
        else:
            continue
    return tuple(out)


def _other_member(data: Any, loc: Sequence[str | int]) -> bool:
    """Whether an error belongs to the alternative of a union that the data plainly is not (a
    list where a mapping was given, a mapping where a list or a name was): not worth
    reporting."""
    node = data
    for part in loc:
        if isinstance(part, str) and part.startswith("list[") and not isinstance(node, list):
            return True
        if isinstance(part, str) and len(part) > 1 and part[0].isupper() \
                and isinstance(node, list):
            return True
        if part in ("str", "int", "float") and isinstance(node, dict | list):
            return True  # a scalar alternative (a calendar's name) where a mapping was given
        node = _child(node, part)
    return False


def _child(node: Any, part: str | int) -> Any:
    """``node[part]`` where ``node`` has it (a key of a mapping, an index of a list)."""
    if isinstance(node, dict):
        return node.get(part, node)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return node


def _is_tag(node: dict[str, Any], part: str) -> bool:
    return part in (node.get("dist"), node.get("kind")) or part in ("_EdgeModel",)


def _message(err: Mapping[str, Any], data: Any, loc: Loc, root: Any = None) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        field = loc[-1] if loc else "?"
        allowed = _allowed_fields(data, loc[:-1], root)
        suffix = did_you_mean(str(field), allowed) or (
            f"; allowed: {', '.join(sorted(allowed))}" if allowed else "")
        return f"unknown field{suffix}"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tag = ctx.get("tag")
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        did = did_you_mean(str(tag), expected)
        return f"unknown {ctx.get('discriminator', 'tag').strip(chr(39))} {tag!r}{did} " \
               f"(expected one of: {', '.join(expected)})"
    if kind == "union_tag_not_found":
        ctx = err.get("ctx", {})
        return f"missing {ctx.get('discriminator', 'tag').strip(chr(39))!s}"
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _allowed_fields(data: Any, loc: Loc, root: Any = None) -> list[str]:
    """Field names the model at ``loc`` accepts, read off the schema (for "did you mean")."""
    model = model_at(loc, data, root)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def model_at(loc: Loc, data: Any, root: Any = None) -> type[BaseModel] | None:
    """The pydantic model that validates the value at ``loc`` of ``data``: the schema is walked
    along the path, and a union (node kinds, policies, distributions) is resolved by the tag the
    data carries there."""
    from twin.language.schema import Scenario

    annotation: Any = root if root is not None else Scenario
    node: Any = data
    for part in loc:
        model = _resolve(annotation, node) if not isinstance(node, list) else None
        if model is not None:
            field = next((f for name, f in model.model_fields.items()
                          if part in (name, f.alias)), None)
            if field is None:
                return None
            annotation = field.annotation
        else:
            container = _container(annotation)
            if container is None:
                return None
            annotation = container
        node = node.get(part) if isinstance(node, dict) else (
            node[part] if isinstance(node, list) and isinstance(part, int)
            and 0 <= part < len(node) else None)
    return _resolve(annotation, node)


def _members(annotation: Any) -> list[Any]:
    """The alternatives of an annotation: Annotated and Optional unwrapped, unions flattened."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _resolve(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The model among ``annotation``'s alternatives that ``node`` (plain data) is meant for."""
    models = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(models) <= 1:
        return models[0] if models else None
    if not isinstance(node, dict):
        return None
    for model in models:
        for name, field in model.model_fields.items():
            if get_origin(field.annotation) is Literal and \
                    node.get(field.alias or name) in get_args(field.annotation):
                return model
    return None


def _container(annotation: Any) -> Any:
    """The item annotation of a dict or list annotation, else None."""
    for member in _members(annotation):
        origin = get_origin(member)
        if origin is dict:
            return get_args(member)[1]
        if origin is list:
            return get_args(member)[0]
    return None


def validation_problems(
    exc: ValidationError, data: Any, lines: Mapping[Loc, int], prefix: Loc = (),
    root: Any = None,
) -> list[tuple[Loc, str, int | None]]:
    """The problems of a validation error, each with its path in the data and its line; the
    hints are read off ``root``'s schema (the Scenario's by default)."""
    problems = []
    seen = set()
    errors = exc.errors()
    # every alternative of a union may look like one the data plainly is not: keep them then
    for err in [e for e in errors if not _other_member(data, e["loc"])] or errors:
        loc = _clean_loc(data, err["loc"])
        msg = _message(err, data, loc, root)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, str(err.get("ctx", {}).get("discriminator", "kind")).strip("'"))
        if (loc, msg) in seen:
            continue
        seen.add((loc, msg))
        problems.append(((*prefix, *loc), msg, line_of(dict(lines), (*prefix, *loc))))
    return problems
