"""``--set PATH=VALUE`` overrides: dotted paths into the plain data of a scenario."""

from __future__ import annotations

from typing import Any

from twin.errors import InputError
from twin.language.yamlio import parse_yaml
from twin.registry import did_you_mean


def parse_assignment(text: str) -> tuple[str, Any]:
    """``'a.b=1.5'`` -> ``('a.b', 1.5)``; the value is parsed as YAML."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise InputError("--set", [((), f"expected PATH=VALUE, got {text!r}", None)])
    try:
        value = parse_yaml(raw, f"--set {path}")[0] if raw.strip() else None
    except InputError as exc:
        raise InputError("--set", [((), f"{path}: {exc.problems[0][1]}", None)]) from None
    return path, value


def apply_override(data: dict[str, Any], path: str, value: Any, source: str = "--set") -> None:
    """Set ``data[a][b]...`` for the dotted ``path`` (list items by index), in place."""
    keys = path.split(".")
    node: Any = data
    for depth, key in enumerate(keys[:-1]):
        here = tuple(keys[: depth + 1])
        if isinstance(node, list):
            node = _list_item(node, key, here, source)
        elif isinstance(node, dict):
            if key not in node and tuple(keys[:depth]) == ("plant", "nodes"):
                raise InputError(source, [(here, f"no node {key!r} in the plant"
                                                 f"{did_you_mean(key, list(node))}", None)])
            if key not in node or node[key] is None:
                node[key] = {}
            node = node[key]
        else:
            raise InputError(
                source,
                [(tuple(keys[:depth]), f"cannot set {path!r}: {node!r} has no fields", None)],
            )
    last = keys[-1]
    if isinstance(node, list):
        index = _index(node, last, tuple(keys), source)
        node[index] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        hint = " (write the whole distribution, e.g. {dist: exponential, mean: 2})" \
            if isinstance(node, int | float) else ""
        raise InputError(
            source, [(tuple(keys[:-1]), f"cannot set {path!r}: {node!r} has no fields{hint}", None)]
        )


def _index(node: list[Any], key: str, loc: tuple[str, ...], source: str) -> int:
    try:
        index = int(key)
        node[index]  # noqa: B018 - bounds check
    except (ValueError, IndexError):
        raise InputError(source, [(loc, f"no list item {key!r}", None)]) from None
    return index


def _list_item(node: list[Any], key: str, loc: tuple[str, ...], source: str) -> Any:
    return node[_index(node, key, loc, source)]
