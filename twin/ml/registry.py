"""Finding predictors by name: built-ins, plugins, and (when allowed) ``module:Class``.

Built-ins live in the ``predictors`` package. Third-party packages register theirs in the
``twin.predictors`` entry-point group::

    [project.entry-points."twin.predictors"]
    my-rul = "my_package.models:MyRUL"

A ``module:Class`` reference imports arbitrary code, so it works only when the caller allows it
(the command line's ``--allow-import``); a scenario file alone never imports code.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from twin.errors import InputError
from twin.ml.predictor import Predictor
from twin.registry import PREDICTORS, did_you_mean

BUILTINS = {
    "threshold": "predictors.threshold:ThresholdRule",
    "linear": "predictors.linear:LinearRUL",
    "logistic": "predictors.logistic:LogisticRisk",
    "cnn": "predictors.neural:CNNRUL",
    "lstm": "predictors.neural:LSTMRUL",
    "gbt": "predictors.trees:BoostedRUL",
    "gbt-quantile": "predictors.trees:BoostedQuantileRUL",
    "ensemble": "predictors.ensemble:EnsembleRUL",
    "svm": "predictors.svm:SupportVectorRUL",
    "svm-risk": "predictors.svm:SupportVectorRisk",
    "sgd": "predictors.sgd:SGDRUL",
    "sgd-risk": "predictors.sgd:SGDRisk",
    "cnn2d": "predictors.vision:CNN2D",
    "contrast": "predictors.vision:ContrastRule",
}
GROUP = PREDICTORS


def available() -> dict[str, str]:
    """Every predictor name with where it comes from (``module:Class``)."""
    names = dict(BUILTINS)
    for ep in entry_points(group=GROUP):
        names.setdefault(ep.name, ep.value)
    return names


def _import(reference: str) -> type:
    module, _, attr = reference.partition(":")
    return getattr(importlib.import_module(module), attr)


def resolve(name: str, allow_imports: bool = False) -> type[Predictor]:
    """The predictor class called ``name``."""
    if name in BUILTINS:
        return _import(BUILTINS[name])
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            return ep.load()
    if ":" in name:
        if not allow_imports:
            raise InputError("predictor", [((), f"{name!r} would import code; allow it "
                                                "explicitly (--allow-import) to use it", None)])
        try:
            return _import(name)
        except (ImportError, AttributeError) as exc:
            raise InputError("predictor", [((), f"cannot import {name!r}: {exc}", None)]) from None
    did = did_you_mean(name, list(available()))
    raise InputError("predictor", [((), f"unknown predictor {name!r}{did} (available: "
                                        f"{', '.join(sorted(available()))})", None)])


def create(name: str, allow_imports: bool = False, **params: Any) -> Predictor:
    cls = resolve(name, allow_imports)
    try:
        return cls(**params)
    except TypeError as exc:
        raise InputError("predictor", [((), f"{name}: {exc}", None)]) from None
