"""summary.json as a typed model: a run's summary read back into ``Summary`` (pydantic), its
fields read by name; ``Summary.to_json`` gives back the very document (same keys, same order).

Every statistic is a ``Stat``: the mean over replications, its 95% interval (clipped to the
quantity's range; nulls where undefined) and each replication's value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict


class Stat(BaseModel):
    """One statistic over replications: ``mean``, ``ci95`` = [low, high], and ``values``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mean: float | None
    ci95: tuple[float | None, float | None]
    values: list[float | None]


Table = dict[str, dict[str, Stat]]
"""Statistics by node (machine, buffer, ...) and by name."""


class Summary(BaseModel):
    """A run's summary.json, read by field. Sections a plant does not have are ``None``
    (absent from the JSON); sections added by a study (``buckets``, a comparison's
    ``differences``) are kept as extra fields, in their order."""

    model_config = ConfigDict(frozen=True, extra="allow")

    scenario: str
    seed: int
    replications: int
    horizon: float
    warmup: float
    time_unit: str
    kpis: dict[str, Stat]
    machines: Table
    buffers: Table
    costs: dict[str, Stat]
    warnings: list[str]
    predictor: dict[str, Stat]
    warehouses: dict[str, dict[str, Any]] | None = None
    """Per warehouse: its statistics, and its mean stock ``over_time`` (periods)."""
    customers: Table | None = None
    suppliers: Table | None = None
    learning: dict[str, Any] | None = None
    nodes: Table | None = None
    failure_modes: Table | None = None
    energy: Table | None = None
    operators: Table | None = None
    products: Table | None = None

    def to_json(self) -> dict[str, Any]:
        """The summary.json document: the fields given, in order, then the extra ones."""
        dumped = self.model_dump(mode="json")
        given = self.model_fields_set
        return {k: v for k, v in dumped.items()
                if k in given or k not in type(self).model_fields}

    def kpi_mean(self, name: str) -> float | None:
        """The mean of KPI ``name`` over replications (None where it is undefined)."""
        return self.kpis[name].mean

    @classmethod
    def read(cls, path: str | Path) -> Summary:
        """A summary.json file, read back."""
        return cls.model_validate(json.loads(Path(path).read_text()))
