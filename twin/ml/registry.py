"""Finding predictors by name: twin's own, plug-ins, and (when allowed) ``module:Class``.

Every predictor, twin's own included (the ``predictors`` package), is registered in the
``twin.predictors`` entry-point group (``twin.registry``)::

    [project.entry-points."twin.predictors"]
    my-rul = "my_package.models:MyRUL"

A ``module:Class`` reference imports arbitrary code, so it works only when the caller allows it
(the command line's ``--allow-import``); a scenario file alone never imports code.
"""

from __future__ import annotations

from typing import Any

from twin.errors import InputError
from twin.ml.predictor import Predictor
from twin.registry import PREDICTOR_REGISTRY, PREDICTORS

GROUP = PREDICTORS


def builtin_names() -> list[str]:
    """The predictors twin ships, in the order it registers them."""
    return PREDICTOR_REGISTRY.own_names()


def available() -> dict[str, str]:
    """Every predictor name with where it comes from (``module:Class``)."""
    return {name: PREDICTOR_REGISTRY.reference(name) for name in PREDICTOR_REGISTRY.names()}


def resolve(name: str, allow_imports: bool = False) -> type[Predictor]:
    """The predictor class called ``name``."""
    cls: type[Predictor] = PREDICTOR_REGISTRY.resolve(name, allow_imports)
    return cls


def create(name: str, allow_imports: bool = False, **params: Any) -> Predictor:
    """A predictor ``name`` made with ``params`` (an input error naming a wrong parameter)."""
    cls = resolve(name, allow_imports)
    try:
        return cls(**params)
    except TypeError as exc:
        raise InputError("predictor", [((), f"{name}: {exc}", None)]) from None
