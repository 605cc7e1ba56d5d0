"""The run report's plant sections: the drawing coloured by the results, and the replay."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twin.view.results import overlay, plant_bottleneck
from twin.view.sketch import sketch_of
from twin.view.svg import legend, plant_svg

if TYPE_CHECKING:
    import pandas as pd

    from twin.language.schema import Scenario


def plant_section(scenario: Scenario, summary: Mapping[str, Any]) -> str:
    """The plant drawn with the run's results (``#plant-diagram``)."""
    sketch = sketch_of(scenario)
    look = overlay(sketch, summary)
    neck, by_fleet = plant_bottleneck(summary)
    unit = html.escape(str(summary.get("time_unit", "")))
    note = ("Each machine shows its share of time by state (the bar) and working; "
            + (f"the bottleneck, <b>{html.escape(neck)}</b>, is the machine active the "
               "longest (working, down, in repair, maintenance or setup: neither blocked nor "
               "starved) and is outlined in red; " if neck and not by_fleet else "")
            + (f"the bottleneck is the fleet <b>{html.escape(neck)}</b>: its vehicles are "
               "busy (neither idle nor standing loaded before a full node) a longer share of "
               "the time than any machine is active; " if neck and by_fleet else "")
            + "buffers are filled to their mean contents, the dashed line their peak; edges "
              f"are labelled with the parts per {unit} along them, and drawn the wider the "
              "more (means over replications, "
              "from warm-up to horizon). Dashed red edges carry rejected parts; loops are "
              "drawn below."
            + (" Dashed green edges are served by the fleet named under them: the box below "
               "the plant lists each fleet with its utilization, the mean wait for a vehicle "
               "and its vehicles' time by state." if scenario.transport is not None else "")
            + (" Conveyors are drawn as belts, filled to their mean load (a share of their "
               "places), with the share of time their head part stood stopped."
               if any(n.shape == "conveyor" for n in sketch.nodes.values()) else ""))
    return ("<h2>Plant</h2>" + plant_svg(sketch, overlay=look)
            + legend() + f'<p class="note">{note}</p>')


def replay_section(scenario: Scenario, summary: Mapping[str, Any], timeline: pd.DataFrame,
                   events: pd.DataFrame | None,
                   window: tuple[float, float] | None = None,
                   inventory: pd.DataFrame | None = None) -> str:
    """The replay of replication 0 (``#plant-replay``) over ``window`` (default: from
    warm-up on, as long as the page may hold), with the warehouses' stock from ``inventory``."""
    from twin.view.replay import replay_data, replay_html

    horizon = float(summary["horizon"])
    start, end = window or (float(summary["warmup"]), horizon)
    end = min(end, horizon)
    sketch = sketch_of(scenario)
    replay = replay_data(sketch, timeline, events, start, end, str(summary.get("time_unit", "")),
                         inventory=inventory)
    return "<h2>Replay</h2>" + replay_html(sketch, replay)
