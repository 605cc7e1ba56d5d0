"""summary.json, compare.json and sweep.json as typed models: a run's summary read back into
``Summary`` (pydantic), a comparison into ``Comparison``, a sweep into ``Sweep``, their fields
read by name; ``to_json`` gives back the very document (same keys, same order).

Every statistic is a ``Stat``: the mean over replications, its 95% interval (clipped to the
quantity's range; nulls where undefined) and each replication's value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)


class Stat(BaseModel):
    """One statistic over replications: ``mean``, ``ci95`` = [low, high], and ``values``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mean: float | None
    ci95: tuple[float | None, float | None]
    values: list[float | None]


Table = dict[str, dict[str, Stat]]
"""Statistics by node (machine, buffer, ...) and by name."""


class Learning(BaseModel):
    """A predictive policy's ``learning`` section: its maintenance cost rate in each period (a
    year, or a tenth of the horizon) and, for a policy learning in the loop, when its model took
    over, every replication's updates (time, lives ended, failures seen, windows learned from,
    the model's error before it learns; ``None`` before it has one) and their mean by update."""

    model_config = ConfigDict(frozen=True, extra="allow")

    period: int | float
    period_label: str
    cost_rate_by_period: list[Stat]
    switched_at: Stat | None = None
    never_switched: int | None = None
    updates: list[list[list[Any]]] | None = None
    ends: list[Any] | None = None
    error_by_update: list[dict[str, Any]] | None = None


class Buckets(BaseModel):
    """The KPIs per time bucket (``buckets``): the buckets' ``width`` and ``end`` times, and
    each KPI's statistic per bucket (the orders' only where the plant has orders)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    width: int | float
    end: list[float]
    throughput: list[Stat] | None = None
    unplanned_downtime: list[Stat] | None = None
    orders_due: list[Stat] | None = None
    late_orders: list[Stat] | None = None

    def series(self, name: str) -> list[Stat] | None:
        """The statistics per bucket of KPI ``name`` (None where the run has none)."""
        value = getattr(self, name, None)
        return value if isinstance(value, list) else None


class _Document(BaseModel):
    """A study document: its keys read by field; keys of older or newer versions kept as extra
    fields; ``to_json`` gives back the keys given, in order."""

    model_config = ConfigDict(frozen=True, extra="allow")

    def to_json(self) -> dict[str, Any]:
        """The document: the fields given (at every depth), in order, then the extra ones."""
        return self.model_dump(mode="json", exclude_unset=True)


class _Header(_Document):
    """What every study document begins with: the scenario's name, its seed, the replications
    and the window measured (warmup to horizon, in the scenario's time unit)."""

    scenario: str
    seed: int
    replications: int
    horizon: float
    warmup: float
    time_unit: str


class Summary(_Header):
    """A run's summary.json, read by field. Sections a plant does not have are ``None``
    (absent from the JSON), as are the KPIs per time bucket (``buckets``) of a run not asked
    for them; keys of other versions are kept as extra fields, in their order."""

    kpis: dict[str, Stat]
    machines: Table
    buffers: Table = {}
    costs: dict[str, Stat] = {}
    warnings: list[str] = []
    predictor: dict[str, Stat] = {}
    warehouses: dict[str, dict[str, Any]] | None = None
    """Per warehouse: its statistics, and its mean stock ``over_time`` (periods)."""
    customers: Table | None = None
    suppliers: Table | None = None
    learning: Learning | None = None
    nodes: Table | None = None
    failure_modes: Table | None = None
    energy: Table | None = None
    operators: Table | None = None
    fleets: Table | None = None
    """Per fleet of vehicles: the shares of vehicle time by state, parts carried, waits."""
    products: Table | None = None
    buckets: Buckets | None = None

    def kpi_mean(self, name: str) -> float | None:
        """The mean of KPI ``name`` over replications (None where it is undefined)."""
        return self.kpis[name].mean

    @classmethod
    def read(cls, path: str | Path) -> Summary:
        """A summary.json file, read back."""
        return cls.model_validate(json.loads(Path(path).read_text()))


class PolicySummary(Summary):
    """One policy's entry in compare.json: its summary, the paired ``differences`` of its KPIs
    against the baseline's (common random numbers), and the ``overrides`` that make it."""

    differences: dict[str, Stat]
    overrides: dict[str, Any] = {}


class RankEntry(_Document):
    """One entry of a ranking, best first: its ``rank`` (shared by entries that cannot be told
    apart), its mean, the paired difference to the entry above (none for the first) and the
    entries it cannot be told from."""

    name: str
    mean: float | None
    rank: int
    difference_to_previous: Stat | None = None
    not_distinguishable_from: list[str]
    distinguishable_from_next: bool | None = None


class Comparison(_Header):
    """compare.json, read by field: the run's header, the policies' summaries by name and their
    ranking by ``rank_by``."""

    baseline: str
    rank_by: str
    better: str
    rank_rule: str = ""
    policies: dict[str, PolicySummary]
    ranking: list[RankEntry]

    def to_json(self) -> dict[str, Any]:
        """The compare.json document (each policy's summary as ``Summary.to_json`` gives it)."""
        out = super().to_json()
        out["policies"] = {n: p.to_json() for n, p in self.policies.items()}
        return out

    @classmethod
    def read(cls, path: str | Path) -> Comparison:
        """A compare.json file, read back."""
        return cls.model_validate(json.loads(Path(path).read_text()))


class Factor(_Document):
    """One factor of a sweep: the parameter's path and its values."""

    param: str
    values: list[Any]


class SweepPoint(_Document):
    """One point of a sweep: its run id, its parameters, its statistics and its rank."""

    run: str
    params: dict[str, Any]
    kpis: dict[str, Stat]
    machines: Table = {}
    costs: dict[str, Stat] = {}
    warnings: list[str] = []
    warehouses: dict[str, dict[str, Any]] | None = None
    customers: Table | None = None
    rank: int | None = None


class SweepBest(_Document):
    """The best point of a sweep: its run id, its parameters, its statistic of the ranking KPI
    (``stat``, written under the KPI's name ``kpi``) and the points it cannot be told from."""

    run: str
    params: dict[str, Any]
    kpi: str
    stat: Stat
    not_distinguishable_from: list[str]

    @model_serializer(mode="wrap")
    def _by_kpi(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The statistic under the KPI's name, where sweep.json has it."""
        dumped: dict[str, Any] = handler(self)
        if "kpi" not in dumped or "stat" not in dumped:
            return dumped
        out: dict[str, Any] = {k: dumped.pop(k) for k in ("run", "params") if k in dumped}
        out[dumped.pop("kpi")] = dumped.pop("stat")
        return {**out, **dumped}


class Sweep(_Header):
    """sweep.json, read by field: the run's header, the factors, every point and the best."""

    factors: list[Factor]
    rank_by: str
    better: str
    rank_rule: str = ""
    points: list[SweepPoint]
    best: SweepBest

    @model_validator(mode="before")
    @classmethod
    def _best_stat(cls, data: Any) -> Any:
        """sweep.json's best point holds its statistic under the ranking KPI's name."""
        if isinstance(data, dict) and isinstance(data.get("best"), dict) \
                and "stat" not in data["best"] and data.get("rank_by") in data["best"]:
            best = dict(data["best"])
            kpi = data["rank_by"]
            best = {"kpi": kpi, "stat": best.pop(kpi), **best}
            data = {**data, "best": best}
        return data

    @classmethod
    def read(cls, path: str | Path) -> Sweep:
        """A sweep.json file, read back."""
        return cls.model_validate(json.loads(Path(path).read_text()))
