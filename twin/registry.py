"""Registries: the names a scenario may use for node kinds, policies, distributions and
predictors, and where each comes from.

Built-ins are listed by the package that defines them. Third-party packages add theirs through
entry points, one group per registry::

    [project.entry-points."twin.node_kinds"]
    delay = "my_plant.delay:DELAY"          # a NodeKind: schema + builder (twin.engine.kinds)

    [project.entry-points."twin.policies"]
    k-failures = "my_plant.upkeep:KFailures"  # a Policy: schema + factory (twin.engine.policies)

    [project.entry-points."twin.distributions"]
    pareto = "my_plant.laws:Pareto"           # a Distribution model (twin.language.distributions)

An entry point is loaded the first time its group is asked for, once per process. A name that
is not registered gets a "did you mean" built from the names that are. Distributions load while
the scenario language itself loads, so a module that registers one imports nothing of twin but
``twin.language.distributions``.

The installed entry points are read once for all the groups (each read goes through every
installed distribution's metadata), and again only if ``sys.path`` changes.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterator
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from twin.errors import TwinError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoints

NODE_KINDS = "twin.node_kinds"
POLICIES = "twin.policies"
DISTRIBUTIONS = "twin.distributions"
PREDICTORS = "twin.predictors"
DISPATCHING = "twin.dispatching"


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


@cache
def plugins(group: str) -> dict[str, Any]:
    """The loaded objects registered in entry-point ``group``, by name (first one wins)."""
    found: dict[str, Any] = {}
    for ep in entry_points(group=group):
        if ep.name not in found:
            try:
                found[ep.name] = ep.load()
            except Exception as exc:  # noqa: BLE001 - named, with the plug-in's own message
                raise TwinError(f"plug-in {ep.name!r} = {ep.value!r} of {group} does not load: "
                                f"{type(exc).__name__}: {exc}") from exc
    return found


def plugin_names(group: str) -> list[str]:
    """Names registered in ``group``, without loading them."""
    return [ep.name for ep in entry_points(group=group)]


def did_you_mean(name: str, names: Iterator[str] | list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``names``, ignoring case, or ``""``."""
    options = list(names)
    lower = {o.lower(): o for o in options}
    hint = difflib.get_close_matches(str(name).lower(), list(lower), n=1)
    return f"; did you mean {lower[hint[0]]!r}?" if hint else ""
