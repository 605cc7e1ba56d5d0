"""Errors that reach the user as a message, not a traceback."""

from __future__ import annotations

from collections.abc import Sequence

Loc = tuple[str | int, ...]


def format_loc(loc: Sequence[str | int]) -> str:
    """``('plant', 'edges', 3, 'p')`` -> ``plant.edges[3].p``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<top level>"


class TwinError(Exception):
    """Base class of the errors twin reports by message."""


class InputError(TwinError):
    """Invalid user input: a scenario file, an override or an argument (exit status 2).

    ``problems`` holds one ``(loc, message, line)`` per problem; ``loc`` is a field path inside
    the scenario, ``line`` the 1-based line in ``source`` where known.
    """

    def __init__(
        self,
        source: str,
        problems: Sequence[tuple[Loc, str, int | None]],
    ) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(self.render())

    def __reduce__(self) -> tuple[type, tuple[str, list[tuple[Loc, str, int | None]]]]:
        return (type(self), (self.source, self.problems))

    def render(self) -> str:
        """The problems as lines ``source[:line]: field.path: message``."""
        lines = []
        for loc, message, line in self.problems:
            where = f"{self.source}:{line}" if line else self.source
            field = format_loc(loc) if loc else None
            lines.append(f"{where}: {field}: {message}" if field else f"{where}: {message}")
        return "\n".join(lines)
