"""What a replication records besides its statistics: the run options, one object.

A run passes one ``RunOptions`` from ``twin.study.runner.run`` down to every replication's
``twin.engine.replication.simulate`` unchanged; the library calls that take the options as
keywords (``run(scenario, timeline=True)``, ``simulate(scenario, 0, save_state=True)``) build
it with ``RunOptions.of``, the one place the keywords are read::

    options = RunOptions.of(timeline=True, buckets=60.0)
    simulate(scenario, 0, options)
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.engine.state import PlantState
    from twin.language.schema import Scenario


@dataclass(frozen=True)
class RunOptions:
    """What each replication of a run records besides its statistics, and where it starts.

    Picklable plain data (folders, not open files), so that it travels to worker processes;
    ``simulate`` opens the sinks of one replication from the folders."""

    timeline: bool = False
    """Keep every machine's state changes (``ReplicationResult.timelines``)."""
    sensor_dir: Path | None = None
    """Write the sensor readings there as Parquet (``twin.engine.sensors.ParquetSink``)."""
    event_dir: Path | None = None
    """Write each replication's event log there (``twin.engine.events.ParquetEvents``)."""
    state: PlantState | None = None
    """The plant state every replication starts from (``twin.engine.state.PlantState``)."""
    save_state: bool = False
    """Keep the end state of replication 0 (``ReplicationResult.end_state``; a run's end state
    is its first replication's, and the other replications keep none)."""
    buckets: float = 0.0
    """Width of the time buckets KPIs are also given by (0: none)."""
    inventory: bool = True
    """Keep the warehouses' levels at every change and the orders' rows (without them, their
    statistics and period means stay)."""

    def __post_init__(self) -> None:
        for name in ("sensor_dir", "event_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    @classmethod
    def of(cls, options: RunOptions | None = None, /, **settings: Any) -> RunOptions:
        """``options`` (default: the defaults) with the ``settings`` given by name changed;
        an unknown name is a ``TypeError`` naming the options there are."""
        unknown = sorted(set(settings) - set(FIELDS))
        if unknown:
            close = difflib.get_close_matches(unknown[0], FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"unknown run option {unknown[0]!r}{hint} (the run options: "
                            f"{', '.join(FIELDS)})")
        base = options if options is not None else cls()
        return dataclasses.replace(base, **settings) if settings else base

    def for_scenario(self, scenario: Scenario) -> RunOptions:
        """These options for ``scenario``: without ``sensor_dir`` where no machine of it gives
        sensor readings (nothing would be written there)."""
        if self.sensor_dir is None or has_sensors(scenario):
            return self
        return dataclasses.replace(self, sensor_dir=None)

    def key(self) -> dict[str, Any]:
        """The options that change what a replication's saved result holds, as JSON data for
        a study's fingerprint (``twin.study.store.fingerprint``): where files go is left out,
        whether they are written is in, and an option at its default is left out (but for
        ``timeline`` and ``sensors``), so that the same options give the same fingerprint as
        in folders saved before this object carried them."""
        return {"timeline": self.timeline, "sensors": self.sensor_dir is not None,
                **({"events": True} if self.event_dir is not None else {}),
                **({"state": self.state.digest()} if self.state is not None else {}),
                **({"save_state": True} if self.save_state else {}),
                **({"buckets": self.buckets} if self.buckets else {}),
                **({"inventory": False} if not self.inventory else {})}


def has_sensors(scenario: Scenario) -> bool:
    """Whether any machine of the scenario gives sensor readings."""
    from twin.engine.sensors import has_readings

    return any(has_readings(node) for node in scenario.plant.nodes.values())


FIELDS = tuple(f.name for f in dataclasses.fields(RunOptions))
"""The names of the run options, in their order."""
