"""Building blocks of the scenario language shared by the built-in schemas and plug-ins."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo


class Frozen(BaseModel):
    """A part of the scenario: unknown keys refused, immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PositiveNumber = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Units = Annotated[int, Field(ge=0)]


def _beside_the_scenario(value: Any, info: ValidationInfo) -> Any:
    """A relative path names a file beside the scenario file when one is there (the folder
    comes in the validation context); otherwise it stays relative to the working folder."""
    base = (info.context or {}).get("base") if info.context else None
    if not isinstance(value, str) or not value or base is None or Path(value).is_absolute():
        return value
    candidate = Path(base) / value
    found = any(p.exists() for p in (candidate, candidate.with_suffix(".json")))
    return str(candidate) if found else value


FilePath = Annotated[str, Field(min_length=1), BeforeValidator(_beside_the_scenario)]
"""A file named in a scenario: relative to the scenario file's folder where it exists there."""
