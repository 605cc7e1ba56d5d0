"""The JSON Schema of scenario files, from the scenario language's own pydantic models.

``scenario_json_schema()`` describes what ``twin.language.loading`` accepts, plug-ins included
(the node kinds, policies and distributions registered in the entry-point groups are part of the
models when the schema is made). Editors with the YAML language server complete and check
scenario files with it (``# yaml-language-server: $schema=...`` at the top of a file), and
outside tools validate files with any JSON Schema validator.

The schema follows the language where its short forms widen what a field takes: a bare number
for a distribution (``duration: 2`` is ``{dist: constant, value: 2}``) and ``[from, to]`` or
``[from, to, p]`` for an edge. Each field's description is the docstring written under it in
the model, and each model's the model's own docstring. What the schema cannot say (the plant
graph's checks, a policy's conditions on the plant) the loader still checks.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from functools import cache
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file, the installed plug-ins included."""
    from twin.language.schema import Scenario

    schema = Scenario.model_json_schema(schema_generator=_ScenarioSchema)
    return {"$schema": DIALECT, "title": "twin scenario", **{
        k: v for k, v in schema.items() if k != "title"}}


def scenario_json_schema_text() -> str:
    """The schema as ``twin schema`` prints it: indented JSON ending with a newline."""
    return json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n"


def field_docstrings(cls: type) -> dict[str, str]:
    """The docstrings written under the fields of ``cls`` and its bases (``field: int = 0``
    followed by a string), by field name; the class's own win over its bases'."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        out.update(_own_docstrings(klass))
    fields = getattr(cls, "model_fields", None)
    return {k: v for k, v in out.items() if k in fields} if fields is not None else out


@cache
def _own_docstrings(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return {}
    if not tree.body or not isinstance(tree.body[0], ast.ClassDef):
        return {}
    body = tree.body[0].body
    out: dict[str, str] = {}
    for node, after in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            out[node.target.id] = inspect.cleandoc(after.value.value)
    return out


def _bare_number_forms(schema: JsonSchemaValue) -> JsonSchemaValue:
    """A distribution: a mapping with ``dist``, or a bare number (a constant)."""
    return {"anyOf": [{"type": "number", "minimum": 0}, schema]}


def _edge_forms(schema: JsonSchemaValue) -> JsonSchemaValue:
    """An edge: ``{from, to, ...}``, ``[from, to]`` or ``[from, to, p]``."""
    pair = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "string"},
                                             {"type": "number", "exclusiveMinimum": 0,
                                              "maximum": 1}],
            "minItems": 2, "maxItems": 3}
    return {"anyOf": [schema, pair]}


_SHORT_FORMS = {"_bare_number": _bare_number_forms, "_edge_form": _edge_forms}
"""The language's before-validators that widen what a field takes, by function name, and the
schema of the forms each accepts."""


class _ScenarioSchema(GenerateJsonSchema):
    """pydantic's generator with the language's short forms and its field docstrings."""

    def function_before_schema(
            self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        inner = super().function_before_schema(schema)
        function = schema["function"]["function"]
        widen = _SHORT_FORMS.get(getattr(function, "__name__", ""))
        return widen(inner) if widen else inner

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        out = super().model_schema(schema)
        cls = schema["cls"]
        docs = field_docstrings(cls)
        properties = out.get("properties", {})
        for name, field in getattr(cls, "model_fields", {}).items():
            key = field.alias or name
            if key in properties and name in docs and "description" not in properties[key]:
                properties[key] = {**properties[key], "description": docs[name]}
        return out
