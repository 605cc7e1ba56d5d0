"""Safe YAML loading that remembers where each value came from.

Scenario files are read with PyYAML's SafeLoader (no tags that build Python objects), duplicate
keys are rejected, and alias expansion is bounded so that a "billion laughs" file is refused
before anything walks it. ``load_yaml`` returns the plain data and a map from field paths to
1-based line numbers, used to point error messages at the right line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from twin.errors import InputError, Loc
from twin.records.inputfiles import MAX_SCENARIO_BYTES, read_input_text

MAX_EXPANDED_NODES = 200_000


_BOOL = "tag:yaml.org,2002:bool"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys and reads a plain key the way it is
    written (YAML 1.1 would make ``on``, ``off``, ``yes`` and ``no`` booleans; a scenario's
    keys are names: a predictive policy's ``on: lower``)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _BOOL \
                    and key_node.style is None:
                key_node.tag = "tag:yaml.org,2002:str"
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: let the base class report it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first defined on line {first})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Number of nodes the document has once every alias is expanded."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # guards against recursive aliases
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[key] = size
    return size


def _line_map(node: yaml.Node, loc: Loc, out: dict[Loc, int], seen: set[int]) -> None:
    out.setdefault(loc, node.start_mark.line + 1)
    if id(node) in seen:  # an alias: its lines are those of the anchor
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _line_map(child, (*loc, i), out, seen)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key: str | int = key_node.value
                out.setdefault((*loc, key), key_node.start_mark.line + 1)
                _line_map(value_node, (*loc, key), out, seen)
    seen.discard(id(node))


_COUNTED = (yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)


def count_values(text: str, limit: int = MAX_EXPANDED_NODES) -> int:
    """The values (scalars, mappings, sequences, aliases) the document writes out, counted on
    the parser's events without building anything, up to ``limit + 1``: a file with too many is
    refused in a fraction of a second. Unparsable text counts what precedes the error (the
    loader reports it)."""
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    parser = loader_class(text)
    n = 0
    try:
        while parser.check_event():
            if isinstance(parser.get_event(), _COUNTED):
                n += 1
                if n > limit:
                    break
    except yaml.YAMLError:
        pass
    finally:
        parser.dispose()
    return n


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Loc, int]]:
    """Parse one YAML document safely; return the data and the line of each field path.
    Documents of more than ``MAX_EXPANDED_NODES`` values, written out or through aliases, are
    refused before they are built."""
    if count_values(text) > MAX_EXPANDED_NODES:
        raise InputError(source, [((), f"the document holds more than {MAX_EXPANDED_NODES:,} "
                                       f"values (the limit of a scenario); refusing to load it",
                                   None)])
    try:
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, {}
            size = _expanded_size(node, {})
            if size > MAX_EXPANDED_NODES:
                raise InputError(
                    source,
                    [((), f"the document expands to {size:,} values through aliases "
                          f"(limit {MAX_EXPANDED_NODES:,}); refusing to load it", None)],
                )
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.context}: {exc.problem}" if "constructor" not in problem else problem
        raise InputError(source, [((), f"invalid YAML: {problem}", line)]) from None
    except yaml.YAMLError as exc:
        raise InputError(source, [((), f"invalid YAML: {exc}", None)]) from None
    lines: dict[Loc, int] = {}
    _line_map(node, (), lines, set())
    return data, lines


def load_yaml(path: str | Path, what: str = "scenario file") -> tuple[Any, dict[Loc, int]]:
    """Read and parse a YAML file; errors name the file. Only a regular file of at most
    ``MAX_SCENARIO_BYTES`` is read (not a device, a pipe or a folder)."""
    text = read_input_text(path, what, MAX_SCENARIO_BYTES)
    return parse_yaml(text, str(path))


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """Line of the deepest known prefix of ``loc``."""
    for end in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None and (end > 0 or not loc):
            return line
    return None
