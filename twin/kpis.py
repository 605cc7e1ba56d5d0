"""The one table of KPIs: name, unit, which way is better, the range of values, what it means,
and which plants have it. Summaries, tables, reports, rankings and the command's options all
read it.

``unit`` is a template over the scenario's time unit: ``"parts/{unit}"`` reads "parts/min" for
``time_unit: min``. ``low``/``high`` bound the values a KPI can take (``None``: unbounded);
intervals reported for it are clipped to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Better = Literal["higher", "lower"]
Scope = Literal["line", "supply", "orders", "energy", "handling"]
Show = Literal["line", "always", "defined", "nonzero", "quality", "revenue"]
"""When a KPI earns a column in the headline tables: where the plant has a line, always, where it
is defined (not null), where its mean is above 0, where parts can be bad, where there is
revenue."""


@dataclass(frozen=True)
class Kpi:
    """One KPI: its name, report label, unit template, which way is better, the bounds of its
    values, which plants have it, what it means, and where it goes in the headline tables."""

    name: str
    label: str
    """Title for reports."""
    unit: str
    """Template over the time unit, ``{unit}``; empty for a plain number or a fraction."""
    better: Better
    low: float | None
    high: float | None
    scope: Scope
    """``line``: every plant measures it; ``supply``: plants with suppliers, warehouses or
    customers; ``orders``: plants with products (and so production orders)."""
    description: str
    headline: int
    """Position among the columns of the headline tables."""
    show: Show
    compact: bool = False
    """Kept in the narrower tables of a supply chain, whose KPIs are many."""

    def unit_for(self, time_unit: str) -> str:
        """The KPI's unit for the scenario's ``time_unit`` (e.g. "parts/min")."""
        return self.unit.format(unit=time_unit)

    @property
    def range(self) -> tuple[float | None, float | None]:
        """(low, high): the bounds of the KPI's values (None: unbounded)."""
        return self.low, self.high


_FRACTION = (0.0, 1.0)
_NONNEGATIVE = (0.0, None)
_UNBOUNDED = (None, None)


def _kpi(name: str, label: str, unit: str, better: Better, bounds: tuple[float | None,
         float | None], scope: Scope, headline: int, show: Show, description: str,
         compact: bool = False) -> Kpi:
    return Kpi(name, label, unit, better, bounds[0], bounds[1], scope, description, headline,
               show, compact)


KPI_TABLE: tuple[Kpi, ...] = (
    _kpi("throughput", "Throughput", "parts/{unit}", "higher", _NONNEGATIVE, "line", 0, "line",
         "good parts reaching sinks (and warehouses) per time unit", compact=True),
    _kpi("lead_time", "Lead time", "{unit}", "lower", _NONNEGATIVE, "line", 1, "line",
         "mean time from a part's release at a source to its arrival at a sink"),
    _kpi("wip", "WIP", "parts", "lower", _NONNEGATIVE, "line", 2, "line",
         "time-average number of parts in the plant"),
    _kpi("oee", "OEE", "", "higher", _FRACTION, "line", 3, "line",
         "availability x performance x quality of the line's constraint"),
    _kpi("cost_rate", "Cost rate", "per {unit}", "lower", _NONNEGATIVE, "line", 4, "always",
         "all costs per time unit"),
    _kpi("quality", "Quality (good share)", "", "higher", _FRACTION, "line", 14, "quality",
         "share of the parts reaching sinks that are good and shipped"),
    _kpi("scrap_rate", "Scrap", "parts/{unit}", "lower", _NONNEGATIVE, "line", 15, "quality",
         "parts scrapped per time unit"),
    _kpi("escaped_rate", "Defects shipped", "parts/{unit}", "lower", _NONNEGATIVE, "line", 16,
         "quality", "defective parts shipped per time unit"),
    _kpi("profit_rate", "Profit rate", "per {unit}", "higher", _UNBOUNDED, "line", 17, "revenue",
         "revenue of good parts minus the cost rate, per time unit", compact=True),
    _kpi("unplanned_downtime", "Unplanned downtime", "machines down", "lower", _NONNEGATIVE,
         "line", 13, "nonzero",
         "machines down or in repair, on average (sum of their fractions of time)"),
    _kpi("fill_rate", "Fill rate", "", "higher", _FRACTION, "supply", 5, "always",
         "share of the units demanded that were filled from stock at once", compact=True),
    _kpi("backorders", "Backorders", "units", "lower", _NONNEGATIVE, "supply", 6, "always",
         "time-average units backordered", compact=True),
    _kpi("inventory", "Inventory", "units", "lower", _NONNEGATIVE, "supply", 7, "always",
         "time-average units on hand, all warehouses", compact=True),
    _kpi("stockouts", "Stock-outs", "orders", "lower", _NONNEGATIVE, "supply", 8, "always",
         "orders not filled in full from stock when placed", compact=True),
    _kpi("order_lead_time", "Order lead time", "{unit}", "lower", _NONNEGATIVE, "supply", 9,
         "always", "order to delivery at the customer, transit included", compact=True),
    _kpi("on_time", "On time", "", "higher", _FRACTION, "supply", 10, "defined",
         "share of orders delivered by their due date"),
    _kpi("lost_sales", "Lost sales", "units/{unit}", "lower", _NONNEGATIVE, "supply", 11,
         "nonzero", "units of demand lost per time unit", compact=True),
    _kpi("supply_chain_cost_rate", "Supply-chain cost rate", "per {unit}", "lower", _NONNEGATIVE,
         "supply", 12, "always",
         "holding, ordering, purchase, transport, backorder and lost-sale costs per time unit",
         compact=True),
    _kpi("tardiness", "Tardiness", "{unit}", "lower", _NONNEGATIVE, "orders", 18, "always",
         "mean time past its due date at which a production order completes (0 if on time)"),
    _kpi("late_share", "Late orders", "", "lower", _FRACTION, "orders", 19, "always",
         "share of the production orders completed after their due date"),
    _kpi("makespan", "Makespan", "{unit}", "lower", _NONNEGATIVE, "orders", 20, "defined",
         "time at which the last order of a finite order list completes"),
    _kpi("energy_per_part", "Energy per part", "kWh/part", "lower", _NONNEGATIVE, "energy", 21,
         "defined", "kWh the powered machines drew per good part out of the line"),
    _kpi("conveyor_load", "Conveyor load", "parts", "lower", _NONNEGATIVE, "handling", 22,
         "always", "time-average parts riding the conveyors (all of them)"),
    _kpi("vehicle_utilization", "Vehicle utilization", "", "lower", _FRACTION, "handling", 23,
         "always", "share of the vehicles' time driving, loading, unloading or holding a part "
         "(all fleets)"),
    _kpi("vehicle_wait", "Wait for a vehicle", "{unit}", "lower", _NONNEGATIVE, "handling", 24,
         "always", "mean time from a part's call for a vehicle to the start of its loading"),
)

BY_NAME: dict[str, Kpi] = {k.name: k for k in KPI_TABLE}
KPIS: tuple[str, ...] = tuple(k.name for k in KPI_TABLE)
"""Every KPI, in the order of summary.json."""
LINE_KPIS: tuple[str, ...] = tuple(k.name for k in KPI_TABLE if k.scope == "line")
SUPPLY_KPIS: tuple[str, ...] = tuple(k.name for k in KPI_TABLE if k.scope == "supply")
"""Measured where the plant has suppliers, warehouses or customers."""
LOWER_IS_BETTER: frozenset[str] = frozenset(k.name for k in KPI_TABLE if k.better == "lower")
HIGHER_IS_BETTER: frozenset[str] = frozenset(k.name for k in KPI_TABLE if k.better == "higher")
COMPACT: tuple[str, ...] = tuple(k.name for k in sorted(KPI_TABLE, key=lambda k: k.headline)
                                 if k.compact)


def kpi_units(time_unit: str) -> dict[str, str]:
    """The unit of each KPI, for tables and axes (empty: a plain number or fraction)."""
    return {k.name: k.unit_for(time_unit) for k in KPI_TABLE}


BUCKET_KPIS = ("throughput", "unplanned_downtime", "orders_due", "late_orders")
"""What ``--buckets`` gives per time bucket: good parts per time unit, machines down or in
repair (on average) and, where the plant has orders, the orders due in the bucket and how many
of them are late."""


def kpi_range(name: str) -> tuple[float | None, float | None]:
    """The bounds of a KPI's values; unbounded for a name not in the table."""
    kpi = BY_NAME.get(name)
    return kpi.range if kpi else (None, None)


def headline_kpis(kpis: Mapping[str, Any]) -> list[str]:
    """The KPIs worth a column, in headline order: quality ones only where parts can be bad,
    profit only where there is revenue, the line's only where the plant has a line."""
    def mean(k: str) -> float:
        value = kpis[k]["mean"] if k in kpis else None
        return 0.0 if value is None else value

    has_line = not ("fill_rate" in kpis and mean("throughput") == 0 and mean("wip") == 0)
    rules = {
        "line": has_line,
        "always": True,
        "quality": ("quality" in kpis and kpis["quality"]["mean"] is not None
                    and mean("quality") < 1) or mean("scrap_rate") > 0,
        "revenue": abs(mean("profit_rate") + mean("cost_rate")) > 1e-12,
    }

    def shown(kpi: Kpi) -> bool:
        if kpi.show == "defined":
            return kpis[kpi.name]["mean"] is not None
        if kpi.show == "nonzero":
            return mean(kpi.name) > 0
        return rules[kpi.show]

    ordered = sorted((k for k in KPI_TABLE if k.name in kpis), key=lambda k: k.headline)
    return [k.name for k in ordered if shown(k)]


# --------------------------------------------------------------------------- per machine


@dataclass(frozen=True)
class MachineStat:
    """One per-machine statistic: its name, whether it is a fraction of time or a count, and what it
    means."""

    name: str
    kind: Literal["fraction", "count"]
    """A fraction of time in [0, 1], or a count per replication (>= 0)."""
    description: str

    @property
    def range(self) -> tuple[float | None, float | None]:
        """[0, 1] for a fraction of time, [0, None) for a count."""
        return _FRACTION if self.kind == "fraction" else _NONNEGATIVE


MACHINE_TABLE: tuple[MachineStat, ...] = (
    MachineStat("utilization", "fraction", "working"),
    MachineStat("availability", "fraction", "share of the planned production time (all but "
                "off) neither failed, in repair nor in maintenance"),
    MachineStat("blocked", "fraction", "holding a finished part with no room downstream"),
    MachineStat("starved", "fraction", "waiting for a part"),
    MachineStat("failures", "count", "failures (shocks included)"),
    MachineStat("shocks", "count", "random shock failures"),
    MachineStat("preventive", "count", "preventive maintenance jobs"),
    MachineStat("defects", "count", "parts it made defective"),
    MachineStat("rejected", "count", "parts it rejected at inspection"),
    MachineStat("down", "fraction", "failed, waiting for a technician"),
    MachineStat("repair", "fraction", "in repair"),
    MachineStat("maintenance", "fraction", "in preventive maintenance"),
    MachineStat("setup", "fraction", "in setup"),
    MachineStat("waiting_operator", "fraction", "waiting for an operator"),
    MachineStat("off", "fraction", "outside its calendar (not planned production time)"),
    MachineStat("setups", "count", "setups"),
    MachineStat("setup_share", "fraction", "setup time as a share of working and setup time"),
    MachineStat("alarms", "count", "predictive maintenance calls"),
    MachineStat("diverted", "count", "parts sent to inspection by predictive quality"),
    MachineStat("processed", "count", "parts processed"),
    MachineStat("oee", "fraction", "the machine's own OEE (its good parts, over planned "
                "production time)"),
)
MACHINE_STATS: tuple[str, ...] = tuple(s.name for s in MACHINE_TABLE)
MACHINE_BY_NAME: dict[str, MachineStat] = {s.name: s for s in MACHINE_TABLE}


def machine_stat_range(name: str) -> tuple[float | None, float | None]:
    """The bounds of per-machine statistic ``name`` ((None, None) for an unknown one)."""
    stat = MACHINE_BY_NAME.get(name)
    return stat.range if stat else (None, None)


# --------------------------------------------------------------------------- supply-chain nodes

NODE_STAT_RANGES: dict[str, tuple[float | None, float | None]] = {
    "stockout_time": _FRACTION, "fill_rate": _FRACTION, "on_time": _FRACTION,
    **{name: _NONNEGATIVE for name in (
        "inventory", "backorders", "stockouts", "orders", "units_ordered",
        "replenishment_lead_time", "max_inventory", "receipts", "production", "demand", "lost",
        "delivered", "order_lead_time", "units", "late")},
}
"""The ranges of the statistics of warehouses, customers and suppliers (others: unbounded)."""
COST_RANGE: tuple[float | None, float | None] = _NONNEGATIVE
"""Costs by cause, per time unit: prices are never negative."""
