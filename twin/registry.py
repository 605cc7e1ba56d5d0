"""Registries: the names a scenario may use for node kinds, policies, distributions, dispatching
rules and predictors, and where each comes from.

Every group works the same way (``Registry``): the built-ins its own layer names in code come
first, then the group's entry points, those of twin's own distribution before any other, and
among the same name the first one found wins. twin's supply chain and learning are plugged in
through these entry points exactly as a third-party package is::

    [project.entry-points."twin.node_kinds"]
    delay = "my_plant.delay:DELAY"          # a NodeKind: schema + builder (twin.engine.kinds)

    [project.entry-points."twin.policies"]
    k-failures = "my_plant.upkeep:KFailures"  # a Policy: schema + factory (twin.engine.policies)

    [project.entry-points."twin.distributions"]
    pareto = "my_plant.laws:Pareto"           # a Distribution model (twin.language.distributions)

An entry point is loaded the first time its name is asked for, once per process; a plug-in
that fails to load is reported by the same ``TwinError`` in every group, and a name that is
not registered gets a "did you mean" built from the names that are. A module that registers a
distribution imports nothing of twin but ``twin.language.distributions``.

The installed entry points are read once for all the groups (each read goes through every
installed distribution's metadata), and again only if ``sys.path`` changes.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from twin.errors import InputError, TwinError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint, EntryPoints

NODE_KINDS = "twin.node_kinds"
POLICIES = "twin.policies"
QUALITY_POLICIES = "twin.quality_policies"
DISTRIBUTIONS = "twin.distributions"
PREDICTORS = "twin.predictors"
DISPATCHING = "twin.dispatching"
VEHICLE_DISPATCHING = "twin.vehicle_dispatching"
TRANSPORT = "twin.transport"
OWN = "twin"
"""The distribution whose entry points come before any other's."""

T = TypeVar("T")


@lru_cache(maxsize=4)
def _installed(path: tuple[str, ...]) -> Any:
    """Every entry point of the distributions found on ``path`` (``sys.path``): an
    ``EntryPoints`` (on Python 3.11 a ``SelectableGroups``; both ``select`` a group)."""
    from importlib.metadata import entry_points

    return entry_points()


def entry_points(group: str) -> EntryPoints:
    """``importlib.metadata.entry_points(group=group)``, off one read of the installed ones."""
    found: EntryPoints = _installed(tuple(sys.path)).select(group=group)
    return found


def _ordered(group: str) -> dict[str, EntryPoint]:
    """The group's entry points by name: twin's own first, then the others in the order they
    are installed; the first of a name wins."""
    points = list(entry_points(group))
    points.sort(key=lambda ep: 0 if ep.dist is not None and ep.dist.name == OWN else 1)
    out: dict[str, EntryPoint] = {}
    for ep in points:
        out.setdefault(ep.name, ep)
    return out


def did_you_mean(name: str, names: Iterator[str] | list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``names``, ignoring case, or ``""``."""
    options = list(names)
    lower = {o.lower(): o for o in options}
    hint = difflib.get_close_matches(str(name).lower(), list(lower), n=1)
    return f"; did you mean {lower[hint[0]]!r}?" if hint else ""


def import_reference(reference: str) -> Any:
    """The object a ``module:attribute`` reference names."""
    module, _, attr = reference.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """One plug-in group: ``builtins`` (objects, or ``module:attribute`` references imported
    when first asked for), then the entry points of ``group``.

    ``what`` names a member in messages ("node kind", "predictor"); ``adapt`` turns a loaded
    plug-in into what the registry hands out (a class into an instance, say).
    """

    def __init__(self, group: str, what: str, builtins: Mapping[str, T | str] | None = None,
                 adapt: Callable[[Any], T] | None = None) -> None:
        self.group = group
        self.what = what
        self._builtins = dict(builtins or {})
        self._adapt = adapt
        self._loaded: dict[str, T] = {}

    def builtin_names(self) -> list[str]:
        """The names this registry's own layer defines."""
        return list(self._builtins)

    def own_names(self) -> list[str]:
        """The names twin itself registers: the built-ins, then twin's own entry points."""
        own = [n for n, ep in _ordered(self.group).items()
               if ep.dist is not None and ep.dist.name == OWN and n not in self._builtins]
        return [*self._builtins, *own]

    def reference(self, name: str) -> str:
        """Where ``name`` comes from: ``module:attribute`` (``builtin`` for an object defined
        in code)."""
        raw = self._builtins.get(name)
        if raw is not None:
            return raw if isinstance(raw, str) else "builtin"
        ep = _ordered(self.group).get(name)
        if ep is None:
            raise self.unknown(name)
        return str(ep.value)

    def plugin_names(self) -> list[str]:
        """The names registered by entry points and not built in, without loading them."""
        return [n for n in _ordered(self.group) if n not in self._builtins]

    def names(self) -> list[str]:
        """Every registered name: the built-ins, then the plug-ins."""
        return [*self._builtins, *self.plugin_names()]

    def __contains__(self, name: object) -> bool:
        return name in self._builtins or name in _ordered(self.group)

    def load(self, name: str) -> T:
        """The member called ``name``, loaded (once) where it comes from an entry point: a
        ``TwinError`` naming the plug-in where it does not load, an ``InputError`` with a "did
        you mean" where no member has that name."""
        if name in self._loaded:
            return self._loaded[name]
        if name in self._builtins:
            raw: Any = self._builtins[name]
            if isinstance(raw, str):
                raw = import_reference(raw)
        else:
            ep = _ordered(self.group).get(name)
            if ep is None:
                raise self.unknown(name)
            try:
                raw = ep.load()
            except Exception as exc:  # noqa: BLE001 - named, with the plug-in's own message
                raise TwinError(f"plug-in {ep.name!r} = {ep.value!r} of {self.group} does not "
                                f"load: {type(exc).__name__}: {exc}") from exc
        value: T = self._adapt(raw) if self._adapt is not None else raw
        self._loaded[name] = value
        return value

    def resolve(self, name: str, allow_imports: bool = False) -> T:
        """``load(name)``, or, where ``allow_imports`` (the command line's ``--allow-import``),
        the object a ``module:attribute`` reference names: a scenario file alone never imports
        code."""
        if name in self or ":" not in name:
            return self.load(name)
        if not allow_imports:
            raise InputError(self.what, [((), f"{name!r} would import code; allow it "
                                               "explicitly (--allow-import) to use it", None)])
        try:
            raw = import_reference(name)
        except (ImportError, AttributeError) as exc:
            raise InputError(self.what, [((), f"cannot import {name!r}: {exc}", None)]) from None
        return self._adapt(raw) if self._adapt is not None else raw

    def items(self) -> dict[str, T]:
        """Every member by name, loaded."""
        return {name: self.load(name) for name in self.names()}

    def unknown(self, name: str) -> InputError:
        """The error for a name nothing registers, with the closest registered name."""
        names = self.names()
        return InputError(self.what, [((), f"unknown {self.what} {name!r}"
                                           f"{did_you_mean(name, names)} (available: "
                                           f"{', '.join(sorted(names))})", None)])


PREDICTOR_REGISTRY: Registry[Any] = Registry(PREDICTORS, "predictor")
"""The predictors: all plugged in (twin's built-ins in the ``predictors`` package among them)."""
